"""FSDP2 on 2 CPU processes (gloo) trains like DDP on 2 processes and, where the loss is a mean
over rows that the processes split evenly, like one process on the same global batch.

The model is sharded at load time (transformers' ``DistributedConfig``, ``load_model(shard=True)``):
every weight, and every gradient, is a DTensor of which each process holds half the rows. The
custom steps (SAM's ε, PRISM's GCD and probe, SGA's r*) need global norms and dot products over
those shards (``methods.shards``), perturb and restore local slices, and keep FSDP2's gradient
sync on; the saved folder holds whole tensors that plain transformers reloads. Plain SGD in fp32
keeps the weights comparable element by element (as in test_trainer_ddp.py). RMU's token-mean
loss weights each process's tokens by its own count, so its reference is DDP on 2 processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    RETAIN,
    one_thread,
    tiny_model,
    tiny_tokenizer,
    trained_model,
    write_tofu,
)
from test_trainer_ddp import _config, _losses
from unlearnkit.config import load_config
from unlearnkit.models import load_model
from unlearnkit.train.unlearn import UnlearnConfig, unlearn

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "fsdp2_worker.py"
ENV = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _launch(
    tmp_path: Path, config: Path, model_dir: Path, out: Path, shard: bool = True, more=()
) -> None:
    """One 2-process launch: FSDP2 runs (the worker; ``more``: further (config, model, out)
    triples in the same launch) or one DDP run."""
    env = {
        **os.environ,
        **ENV,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(WORKER.parent)]),
    }
    if shard:
        runs = [(config, model_dir, out), *more]
        script = [str(WORKER), *(str(x) for run in runs for x in run)]
    else:  # DDP through the same entry point the DDP tests use
        script = [
            "-m", "unlearnkit.train.entry", "--config", str(config), "--model", str(model_dir),
            "--out", str(out), "--dtype", "fp32", "--save",
        ]  # fmt: skip
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", str(_port()), *script]  # fmt: skip
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-4000:]


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _save(model, folder: Path) -> Path:
    model.save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    """The saved model as plain transformers loads it (no unlearnkit code)."""
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    return {k: v.detach() for k, v in model.named_parameters()}


CASES = [
    ("ga", {}),
    ("npo", {}),
    ("sam", {"base": "ga", "rho": 0.5}),
    ("prism", {"rho": 0.5, "gcd": True, "lambda_max": 0.5, "probe_epochs": 2}),
    ("sga", {"K": 3, "r": "auto", "r_every": 1, "r_max": 1.0}),
]


def _odd_model(extra_rows: int = 0):
    """A tiny Llama whose MLP rows (67), and with ``extra_rows`` 1 its tied vocabulary (401), do
    not split evenly over 2 processes."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok) + extra_rows, hidden_size=32, intermediate_size=67, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(1)
    return LlamaForCausalLM(config)


@pytest.fixture(scope="module")
def sharded_runs(tmp_path_factory):
    """Every case of CASES trained on 2 processes with FSDP2, in one launch."""
    root = tmp_path_factory.mktemp("fsdp2")
    data = write_tofu(root / "data", retain=[RETAIN[0]] * 8)
    model_dir = _save(trained_model(), root / "model")
    runs = [(_config(root, data, m, p, 2), model_dir, root / m) for m, p in CASES]
    _launch(root, *runs[0], more=runs[1:])
    return root, data


@pytest.mark.multiprocess
@pytest.mark.parametrize(("method", "params"), CASES, ids=[m for m, _ in CASES])
def test_fsdp2_on_two_processes_matches_one_process(sharded_runs, tmp_path, method, params):
    root, data = sharded_runs
    out = root / method
    facts = json.loads((out / "sharded.json").read_text())
    assert facts == {"all_sharded": True, "uneven": False, "sharding": "fsdp2"}

    cfg = load_config(UnlearnConfig, _config(tmp_path, data, method, params, 4))
    model = trained_model()
    single = unlearn(cfg, model, tiny_tokenizer(), tmp_path / "single", progress=False)
    sharded = json.loads((out / "losses.json").read_text())
    assert len(sharded) == 4 and sharded == pytest.approx(_losses(single), rel=1e-4, abs=1e-5)
    saved = _weights(out / "model")
    for name, p in model.named_parameters():
        torch.testing.assert_close(saved[name], p.detach(), rtol=1e-4, atol=1e-5, msg=name)
    start = {n: p.detach() for n, p in trained_model().named_parameters()}
    assert (
        max(float((p.detach() - start[n]).abs().max()) for n, p in model.named_parameters()) > 1e-3
    )


def test_fsdp2_with_uneven_shards_matches_one_process(tmp_path):
    """SAM and PRISM (global norms, GCD dots) with MLP rows that split 34 / 33: one launch."""
    data = write_tofu(tmp_path / "data", retain=[RETAIN[0]] * 8)
    model_dir = _save(_odd_model(), tmp_path / "model")
    methods = ("sam", "prism")
    configs = {m: _config(tmp_path, data, m, dict(CASES)[m], 2) for m in methods}
    runs = [(configs[m], model_dir, tmp_path / f"fsdp2-{m}") for m in methods]
    _launch(tmp_path, *runs[0], more=runs[1:])
    for method in methods:
        out = tmp_path / f"fsdp2-{method}"
        assert json.loads((out / "sharded.json").read_text())["uneven"] is True
        cfg = load_config(UnlearnConfig, _config(tmp_path, data, method, dict(CASES)[method], 4))
        model = load_model(model_dir, dtype="fp32")
        model.train()
        single = unlearn(
            cfg, model, tiny_tokenizer(), tmp_path / f"single-{method}", progress=False
        )
        assert json.loads((out / "losses.json").read_text()) == pytest.approx(
            _losses(single), rel=1e-4, abs=1e-5
        ), method
        saved = _weights(out / "model")
        for name, p in model.named_parameters():
            torch.testing.assert_close(saved[name], p.detach(), rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.multiprocess
def test_fsdp2_rmu_matches_ddp_and_keeps_its_frozen_layers(tmp_path):
    data = write_tofu(tmp_path / "data", retain=[RETAIN[0]] * 8)
    model_dir = _save(trained_model(), tmp_path / "model")
    config = _config(tmp_path, data, "rmu", {}, 2)
    _launch(tmp_path, config, model_dir, tmp_path / "fsdp2")
    _launch(tmp_path, config, model_dir, tmp_path / "ddp", shard=False)
    ddp = json.loads((tmp_path / "ddp" / "unlearn_summary.json").read_text())
    sharded = json.loads((tmp_path / "fsdp2" / "losses.json").read_text())
    assert sharded == pytest.approx(_losses(ddp), rel=1e-4, abs=1e-5)
    got, want = _weights(tmp_path / "fsdp2" / "model"), _weights(tmp_path / "ddp" / "model")
    start = _weights(model_dir)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-5, msg=name)
    # The root's own weights (embeddings, final norm) are frozen by RMU: they must not move.
    assert torch.equal(got["model.norm.weight"], start["model.norm.weight"])
    assert torch.equal(got["model.embed_tokens.weight"], start["model.embed_tokens.weight"])


@pytest.mark.multiprocess
def test_fsdp2_refuses_a_tied_embedding_whose_rows_do_not_split_evenly(tmp_path):
    data = write_tofu(tmp_path / "data", retain=[RETAIN[0]] * 8)
    model_dir = _save(_odd_model(extra_rows=1), tmp_path / "model")
    env = {
        **os.environ,
        **ENV,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(WORKER.parent)]),
    }
    config = _config(tmp_path, data, "ga", {}, 2)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", str(_port()), str(WORKER), str(config), str(model_dir), str(tmp_path / "o")]  # fmt: skip
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode != 0
    assert "401-row embedding" in run.stderr and "do not split evenly over 2" in run.stderr


@pytest.mark.multiprocess
def test_fsdp2_sam_under_bf16_autocast_sees_its_perturbation(tmp_path):
    """The additive path gathers each module's sharded ε: the forward sees all of it (an ε written
    into the fp32 shards would mostly round away in the bf16 matmuls at this ρ)."""
    data = write_tofu(tmp_path / "data", retain=[RETAIN[0]] * 8)
    model_dir = _save(trained_model(), tmp_path / "model")
    config = _config(tmp_path, data, "sam", {"base": "ga", "rho": 0.01}, 2)
    values = yaml.safe_load(config.read_text())
    values["train"]["precision"] = "mixed-bf16"
    config.write_text(yaml.safe_dump(values))
    _launch(tmp_path, config, model_dir, tmp_path / "fsdp2")
    steps = [
        h for h in json.loads((tmp_path / "fsdp2" / "log_history.json").read_text()) if "loss" in h
    ]
    assert len(steps) == 4
    for h in steps:
        assert h["sam_seen_cos"] > 0.999 and h["sam_applied_norm"] == pytest.approx(0.01, rel=0.01)


@pytest.mark.multiprocess
def test_fsdp2_custom_step_with_gradient_accumulation_matches_ddp(tmp_path):
    """2 processes × 1 row × 2 micro-batches, FSDP2 against DDP: in the micro-batch where the
    Trainer defers FSDP2's gradient sync the custom step must still get global gradients (SAM's
    ε comes from each micro-batch's gradient, so one process on 4 rows is not the reference)."""
    data = write_tofu(tmp_path / "data", retain=[RETAIN[0]] * 8)
    model_dir = _save(trained_model(), tmp_path / "model")
    config = _config(tmp_path, data, "sam", dict(CASES)["sam"], 1)
    values = yaml.safe_load(config.read_text())
    values["train"]["gradient_accumulation_steps"] = 2
    config.write_text(yaml.safe_dump(values))
    _launch(tmp_path, config, model_dir, tmp_path / "fsdp2")
    _launch(tmp_path, config, model_dir, tmp_path / "ddp", shard=False)
    ddp = json.loads((tmp_path / "ddp" / "unlearn_summary.json").read_text())
    sharded = json.loads((tmp_path / "fsdp2" / "losses.json").read_text())
    assert len(sharded) == 4 and sharded == pytest.approx(_losses(ddp), rel=1e-4, abs=1e-5)
    got, want = _weights(tmp_path / "fsdp2" / "model"), _weights(tmp_path / "ddp" / "model")
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-5, msg=name)
