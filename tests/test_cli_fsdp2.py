"""`unlearn run` under `accelerate launch` with an FSDP config (configs/accelerate/fsdp_cpu.yaml),
2 CPU processes: the model is sharded as it loads (FSDP2), SAM's custom step runs on the shards,
and the run's metrics.json equals the same run under DDP on 2 processes (the same per-process
batches, so the same sums); rank 0 alone writes the run's files; the saved model folder holds whole
tensors that plain transformers reloads, equal to the DDP run's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from test_cli_ddp import LAUNCH, PER_LAUNCH, REL, assert_same, below, env, run_argv, traced
from test_reliability_common import save_model, write_data

ROOT = Path(__file__).resolve().parents[1]
FSDP = [*LAUNCH[:4], str(ROOT / "configs" / "accelerate" / "fsdp_cpu.yaml"), *LAUNCH[5:]]
SAM = ["--method", "sam", "--save-model"]


def _run(
    launcher: list[str], argv: list[str], trace: Path | None = None
) -> subprocess.CompletedProcess:
    extra = {"UNLEARNKIT_WRITE_TRACE": str(trace)} if trace else {}
    return subprocess.run(
        [*launcher, "-m", "unlearnkit.cli", *argv],
        env=env(**extra),
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_fsdp2")
    return write_data(root / "data"), save_model(root / "model", trained=True)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    return {k: v.detach() for k, v in model.named_parameters()}


@pytest.mark.slow
@pytest.mark.multiprocess
def test_fsdp2_through_the_cli_matches_ddp_and_writes_each_file_once(files, tmp_path):
    data, model = files
    trace = tmp_path / "trace"
    trace.mkdir()
    sharded_out, ddp_out = tmp_path / "runs" / "fsdp2", tmp_path / "runs" / "ddp"
    argv = run_argv(data, model, sharded_out, 2)
    argv[argv.index("ga") - 1 : argv.index("ga") + 1] = SAM
    sharded = _run(FSDP, argv, trace)
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    argv[argv.index(str(sharded_out))] = str(ddp_out)
    ddp = _run(LAUNCH, argv)
    assert ddp.returncode == 0, ddp.stderr[-3000:]

    got = json.loads((sharded_out / "metrics.json").read_text())
    want = json.loads((ddp_out / "metrics.json").read_text())
    assert got["train"]["sharding"] == "fsdp2" and want["train"]["sharding"] == "ddp"
    assert got["train"]["world_size"] == want["train"]["world_size"] == 2
    assert got["metrics"] == pytest.approx(want["metrics"], rel=REL, abs=1e-6)
    for key in set(want["train"]) - PER_LAUNCH - {"trainable_params"}:
        assert_same(got["train"][key], want["train"][key], key)
    losses = [[h["loss"] for h in r["train"]["log_history"] if "loss" in h] for r in (got, want)]
    assert len(losses[0]) == 3 and losses[0] == pytest.approx(losses[1], rel=REL, abs=1e-6)
    assert sharded.stdout.count("run written to") == 1

    a, b = _weights(sharded_out / "model"), _weights(ddp_out / "model")
    for name in b:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5, msg=name)
    writes = traced(trace)
    mine = {rank: below(paths, sharded_out) for rank, paths in writes.items()}
    assert str(sharded_out / "metrics.json") in mine["0"]
    assert mine.get("1", set()) == set(), sorted(mine["1"])  # rank 1 wrote nothing of the run
