"""`accelerate launch` with 2 CPU processes (DDP over gloo) trains like one process with the same
global batch: the logged loss curve matches, for GA (the Trainer's own step) and for SAM with
ρ = 0 over GA (a custom step, whose gradients the trainer averages over the processes itself)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    tiny_tokenizer,
    trained_model,
    write_tofu,
)
from unlearnkit.config import load_config
from unlearnkit.train.unlearn import UnlearnConfig, unlearn

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path, data: Path, method: str, params: dict, batch_size: int) -> Path:
    cfg = {
        "method": method,
        "params": params,
        "train": {
            "max_steps": 4,
            "learning_rate": 2e-3,
            "batch_size": batch_size,
            "max_length": 64,
            "lr_scheduler": "constant",
            "weight_decay": 0.0,
            "bf16": False,
            "logging_steps": 1,
        },
        "data": {"benchmark": "tofu", "path": str(data), "split": "forget01"},
    }
    path = tmp_path / f"{method}_b{batch_size}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _losses(summary: dict) -> list[float]:
    return [h["loss"] for h in summary["log_history"] if "loss" in h]


@pytest.mark.slow
@pytest.mark.parametrize(("method", "params"), [("ga", {}), ("sam", {"base": "ga", "rho": 0.0})])
def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path, method, params):
    data = write_tofu(tmp_path / "data")  # 4 forget rows: every step sees all of them either way
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
        "--model", str(model_dir), "--out", str(out), "--dtype", "fp32",
    ]  # fmt: skip
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    ddp = json.loads((out / "unlearn_summary.json").read_text())

    cfg = load_config(UnlearnConfig, _config(tmp_path, data, method, params, 4))
    single = unlearn(cfg, trained_model(), tiny_tokenizer(), tmp_path / "single", progress=False)
    assert ddp["steps"] == single["steps"] == 4
    assert _losses(ddp) == pytest.approx(_losses(single), rel=1e-4, abs=1e-5)
    assert [h["forget_nll"] for h in ddp["log_history"] if "loss" in h] == pytest.approx(
        [-x for x in _losses(single)], rel=1e-4
    )
