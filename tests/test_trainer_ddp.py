"""`accelerate launch` with 2 CPU processes (DDP over gloo) trains like one process with the same
global batch: the logged losses and the final weights match, for GA (the Trainer's own step) and
for the custom steps, whose every gradient the trainer averages over the processes right after its
backward: SAM with ρ > 0 (global ε), PRISM with GCD (global projection) and SGA with r: auto
(global r*). Plain SGD keeps the weights comparable element by element (Adam's normalisation
turns float noise in near-zero gradients into ±lr steps). The retain rows are all the same text,
so that a retain NLL averaged over each process's tokens equals the one over the global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    RETAIN,
    one_thread,
    tiny_tokenizer,
    trained_model,
    write_tofu,
)
from unlearnkit.config import load_config
from unlearnkit.models import load_model
from unlearnkit.train.unlearn import UnlearnConfig, unlearn

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path, data: Path, method: str, params: dict, batch_size: int) -> Path:
    cfg = {
        "method": method,
        "params": params,
        "train": {
            "max_steps": 4,
            "learning_rate": 0.05,
            "optimizer": "sgd",
            "batch_size": batch_size,
            "max_length": 64,
            "lr_scheduler": "constant",
            "weight_decay": 0.0,
            "precision": "fp32",
            "logging_steps": 1,
        },
        "data": {"benchmark": "tofu", "path": str(data), "split": "forget01"},
    }
    path = tmp_path / f"{method}_b{batch_size}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _losses(summary: dict) -> list[float]:
    return [h["loss"] for h in summary["log_history"] if "loss" in h]


CASES = [
    ("ga", {}),
    ("sam", {"base": "ga", "rho": 0.5}),
    ("prism", {"rho": 0.5, "gcd": True, "lambda_max": 0.5, "probe_epochs": 2}),
    ("sga", {"K": 3, "r": "auto", "r_every": 1, "r_max": 1.0}),
]


@pytest.mark.slow
@pytest.mark.multiprocess
@pytest.mark.parametrize(("method", "params"), CASES, ids=[c[0] for c in CASES])
def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path, method, params):
    # 4 forget rows: every step sees all of them either way.
    data = write_tofu(tmp_path / "data", retain=[RETAIN[0]] * 8)
    model_dir = tmp_path / "model"
    trained_model().save_pretrained(model_dir)
    tiny_tokenizer().save_pretrained(model_dir)

    out = tmp_path / "ddp"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "configs" / "accelerate" / "ddp_cpu.yaml"),
        "-m", "unlearnkit.train.entry",
        "--config", str(_config(tmp_path, data, method, params, 2)),
        "--model", str(model_dir), "--out", str(out), "--dtype", "fp32", "--save",
    ]  # fmt: skip
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    ddp = json.loads((out / "unlearn_summary.json").read_text())

    cfg = load_config(UnlearnConfig, _config(tmp_path, data, method, params, 4))
    model = trained_model()
    single = unlearn(cfg, model, tiny_tokenizer(), tmp_path / "single", progress=False)
    assert ddp["steps"] == single["steps"] == 4
    assert _losses(ddp) == pytest.approx(_losses(single), rel=1e-4, abs=1e-5)
    trained = load_model(out / "model", device="cpu", dtype="fp32").state_dict()
    for name, p in model.named_parameters():
        torch.testing.assert_close(trained[name], p.detach(), rtol=1e-4, atol=1e-5, msg=name)
    moved = max((p.detach() - q).abs().max() for p, q in zip(model.parameters(), _start()))
    assert moved > 1e-3  # the runs did train


def _start() -> list[torch.Tensor]:
    return [p.detach() for p in trained_model().parameters()]
