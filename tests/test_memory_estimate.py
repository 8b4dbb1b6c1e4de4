"""The memory estimate before loading: each term against bytes counted by hand, parameter counts
from a config on the meta device against the real model, the refusal on a (mocked) 80 GB GPU,
``unlearn run --dry-run`` (prints, writes nothing, exits 0) and the table of docs/precision.md."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig

from test_methods_common import tiny_model
from test_reliability_common import (  # noqa: F401 - one_thread is an autouse fixture
    cli,
    error_lines,
    one_thread,
    run_args,
    snapshot,
)
from unlearnkit import memory_estimate as me
from unlearnkit.api import RunConfig
from unlearnkit.config import from_dict
from unlearnkit.errors import UserError
from unlearnkit.memory_estimate import GIB, MemorySetting, ModelShape, estimate
from unlearnkit.methods.registry import get_method
from unlearnkit.train.unlearn import LoraSection
from unlearnkit.train.validate import reference_kind

ROOT = Path(__file__).resolve().parents[1]
SHAPE = ModelShape(
    params=1000, trainable=600, hidden=8, intermediate=16, layers=2, vocab=50, cast=900
)
LLAMA_8B = dict(
    hidden_size=4096,
    intermediate_size=14336,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    vocab_size=128256,
    tie_word_embeddings=False,
)


def test_every_term_of_a_custom_step_with_a_live_reference_under_ddp():
    s = MemorySetting(
        precision="mixed-bf16",
        reference="live",
        custom_step=True,
        sharding="ddp",
        world_size=2,
        tokens=10,
    )
    terms = dict(estimate(SHAPE, s).terms)
    assert terms == {
        "trained weights": 600 * 4,
        "frozen weights": 400 * 4,
        "gradients": 600 * 4,
        "optimizer state": 600 * 8,  # AdamW m and v, fp32
        "optimizer step temporaries (foreach)": 600 * 4,  # sqrt(v)
        "DDP gradient buckets": 600 * 4,
        "custom step: snapshot + gradient lists": 2 * 600 * 4,
        "live reference copy (unsharded)": 1000 * 4,
        "autocast bf16 weight copies": 900 * 2,  # every weight but an untied input embedding
        "activations (rough)": 10 * 2 * (36 * 8 + 8 * 16),  # layers × (36 h + 8 i) per token
        "logits (rough)": 10 * 50 * 12,
        "CUDA context and slack": GIB,
    }
    # states only: weights, frozen, gradients, state, temporaries, buckets, lists, reference, casts
    expected = 2400 * 4 + 1600 + 4800 * 2 + 4000 + 1800
    assert estimate(SHAPE, s).bytes_per_param() == expected / 1000


def test_fsdp2_shards_weights_gradients_state_custom_lists_and_the_live_reference():
    s = MemorySetting(
        precision="mixed-bf16",
        optimizer="adamw_torch_fused",
        reference="live",
        custom_step=True,
        sharding="fsdp2",
        world_size=4,
        tokens=10,
    )
    est = estimate(SHAPE, s)
    terms = dict(est.terms)
    assert terms["trained weights"] == 150 * 4 and terms["frozen weights"] == 100 * 4
    assert terms["gradients"] == 150 * 4 and terms["optimizer state"] == 150 * 8
    assert terms["custom step: snapshot + gradient lists"] == 2 * 150 * 4
    assert terms["live reference copy (sharded)"] == 1000 * 4 / 4  # loaded again, sharded
    assert "optimizer step temporaries (foreach)" not in terms  # fused AdamW
    assert "DDP gradient buckets" not in terms
    assert "autocast bf16 weight copies" not in terms  # gathered in bf16 a layer at a time
    assert est.loading == 1000 * 4 + GIB  # every rank loads the whole model first
    assert est.need == max(est.training, est.loading)


def test_bf16_kahan_lora_8bit_and_checkpointing_terms():
    kahan = dict(estimate(SHAPE, MemorySetting(precision="bf16-kahan", tokens=10)).terms)
    assert kahan["trained weights"] == 600 * 2 and kahan["gradients"] == 600 * 2
    assert kahan["optimizer state"] == 600 * 6  # m, v and the compensation, bf16
    assert kahan["frozen weights"] == 400 * 2  # a full model is cast as a whole
    lora = MemorySetting(precision="mixed-bf16", reference="live", lora=True, load_bytes=2)
    terms = dict(estimate(SHAPE, lora).terms)
    assert terms["frozen weights"] == 400 * 2  # the base keeps its load dtype
    assert "live reference copy (unsharded)" not in terms  # adapters switched off instead
    assert "autocast bf16 weight copies" not in terms  # a bf16 base is used as it is
    fp32_base = dict(estimate(SHAPE, MemorySetting(precision="mixed-bf16", lora=True)).terms)
    assert fp32_base["autocast bf16 weight copies"] == 900 * 2
    eight = dict(
        estimate(SHAPE, MemorySetting(precision="mixed-bf16", optimizer="adamw_8bit")).terms
    )
    assert eight["optimizer state"] == 600 * 2
    ckpt = MemorySetting(precision="bf16", tokens=10, checkpointing=True)
    kept = 4 * 8 * 2 + (36 * 8 + 8 * 16)  # each layer's fp32 input + one layer recomputed
    assert dict(estimate(SHAPE, ckpt).terms)["activations (rough)"] == 10 * kept
    fp32 = dict(estimate(SHAPE, MemorySetting(precision="fp32", tokens=10)).terms)
    assert fp32["activations (rough)"] == 10 * 2 * (50 * 8 + 12 * 16)
    assert "autocast bf16 weight copies" not in fp32  # no autocast


def _meta(config):
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


@pytest.mark.parametrize("method", ["ga", "rmu"])
def test_counts_on_the_meta_device_are_the_real_models(method):
    real = tiny_model()
    shape = me.model_shape(_meta(real.config), get_method(method), LoraSection())
    assert shape.params == sum(p.numel() for p in real.parameters())
    c = real.config
    if method == "rmu":  # layers l-2..l of l = 2 // 2 = 1: layers 0 and 1, down_proj only
        assert shape.trainable == 2 * c.hidden_size * c.intermediate_size
    else:
        assert shape.trainable == shape.params
    assert (shape.hidden, shape.intermediate, shape.layers, shape.vocab) == (
        c.hidden_size,
        c.intermediate_size,
        c.num_hidden_layers,
        c.vocab_size,
    )
    assert c.tie_word_embeddings and shape.cast == shape.params  # the embedding is the LM head


def test_an_untied_input_embedding_is_not_cast():
    config = LlamaConfig(**{**LLAMA_8B, "num_hidden_layers": 1, "vocab_size": 1000})
    shape = me.model_shape(_meta(config), get_method("ga"), LoraSection())
    assert shape.cast == shape.params - 1000 * 4096


def test_lora_count_on_the_meta_device_is_peft_on_the_real_model():
    from unlearnkit.train.unlearn import apply_lora

    lora = LoraSection(r=4)
    real = apply_lora(tiny_model(), lora, None)
    shape = me.model_shape(_meta(tiny_model().config), get_method("ga"), lora)
    assert shape.trainable == sum(p.numel() for p in real.parameters() if p.requires_grad)
    assert shape.params == sum(p.numel() for p in real.parameters())


@pytest.fixture
def gpu_80gb(monkeypatch):
    """This machine as one with an 80 GB GPU (78 GiB free), for the estimate's checks only."""
    import unlearnkit.models

    monkeypatch.setattr(unlearnkit.models, "pick_device", lambda device=None: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index=None: (78 * GIB, 80 * GIB))


@pytest.fixture(scope="module")
def llama_8b(tmp_path_factory) -> Path:
    """A folder with only Llama-3.1-8B's config.json: the estimate reads nothing else."""
    folder = tmp_path_factory.mktemp("llama8b")
    LlamaConfig(**LLAMA_8B).save_pretrained(folder)
    return folder


def _check(folder: Path, train: dict | None = None, **cfg):
    """``check_memory`` of a run in mixed-bf16 (the GPU default; on this CPU auto is fp32)."""
    train = {"precision": "mixed-bf16", **(train or {})}
    run = from_dict(RunConfig, {**cfg, "train": train})
    method = get_method(run.method, run.params)
    return me.check_memory(run, str(folder), method, reference_kind(run, method.needs()))


def test_8b_sam_with_fp32_masters_is_refused_on_one_80gb_gpu(llama_8b, gpu_80gb, capsys):
    with pytest.raises(UserError) as refused:
        _check(llama_8b, method="sam")
    line = str(refused.value)
    assert "\n" not in line and "needs about 243" in line and "78.0 GiB free" in line
    assert "memory estimate: 8.03B parameters" in capsys.readouterr().err


def test_8b_sam_fits_with_fsdp2_over_4_gpus(llama_8b, gpu_80gb, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    est = _check(llama_8b, method="sam")
    assert est.setting.sharding == "fsdp2" and est.setting.world_size == 4
    # by hand: 28 B/param over 4 shards (4 + 4 + 8 AdamW + 4 foreach + 8 custom lists), then
    # activations of 4 × 256 tokens × 2 rows (NPO's forget and retain), logits and overhead
    tokens = 4 * 256 * 2
    activations = tokens * 32 * (36 * 4096 + 8 * 14336) + tokens * 128256 * 12
    assert est.need == pytest.approx(8_030_261_248 * 28 / 4 + activations + GIB, rel=1e-12)
    assert est.need < 78 * GIB  # 72.3 GiB
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "false")  # DDP over 4: a whole copy per GPU
    with pytest.raises(UserError, match="needs about"):
        _check(llama_8b, method="sam")


def test_the_check_can_be_switched_off_and_never_refuses_on_cpu(llama_8b, monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index=None: (GIB, GIB))
    assert _check(llama_8b, method="sam", device="cpu").need > 200 * GIB  # estimated, not refused
    import unlearnkit.models

    monkeypatch.setattr(unlearnkit.models, "pick_device", lambda device=None: torch.device("cuda"))
    with pytest.raises(UserError):
        _check(llama_8b, method="sam")
    assert _check(llama_8b, method="sam", train={"check_memory": False}) is not None


def test_dry_run_prints_the_plan_and_estimate_and_writes_nothing(
    capfd, run_data, model_dir, tmp_path
):
    out = tmp_path / "run"
    before = (snapshot(run_data), snapshot(model_dir), sorted(tmp_path.iterdir()))
    status, stdout, err = cli(capfd, [*run_args(run_data, model_dir, out), "--dry-run"])
    assert status == 0, err
    assert "method       ga" in stdout and "memory estimate:" in stdout
    assert "trained weights" in stdout and "optimizer state" in stdout
    assert not out.exists()
    assert (snapshot(run_data), snapshot(model_dir), sorted(tmp_path.iterdir())) == before


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["train.precision=bf16-kahn"], "unknown train.precision 'bf16-kahn'"),
        (
            ["train.precision=bf16-kahan", "train.optimizer=sgd"],
            "train.optimizer must be adamw_torch, got 'sgd'",
        ),
    ],
)
def test_a_bad_precision_setting_is_one_line_and_exit_2(
    capfd, run_data, model_dir, tmp_path, extra, words
):
    out = tmp_path / "run"
    status, _, err = cli(capfd, run_args(run_data, model_dir, out, *extra))
    assert status == 2
    (line,) = error_lines(err)
    assert line.startswith("unlearn run: error: ") and words in line, line
    assert not out.exists()


def test_the_doc_table_is_what_the_estimate_gives():
    spec = importlib.util.spec_from_file_location(
        "memory_table", ROOT / "tools" / "memory_table.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    doc = (ROOT / "docs" / "precision.md").read_text(encoding="utf-8")
    block = doc.split(tool.START, 1)[1].split(tool.END, 1)[0].strip()
    assert block == tool.tables(), "run: python tools/memory_table.py --write"
