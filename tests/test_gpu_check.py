"""bench/gpu_check.py, the GPU acceptance script, passes its own assertions on the CPU
(``--allow-cpu``, a tiny model, two of its methods): seen ε, one process against 2 (DDP and FSDP2),
the CLI under accelerate launch. A lent GPU runs the same script at full size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.multiprocess
def test_gpu_check_passes_on_the_cpu(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(ROOT / "src")}  # fmt: skip
    cmd = [
        sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--allow-cpu", "--hidden", "32",
        "--layers", "2", "--steps", "2", "--methods", "ga,sam", "--json", str(out),
    ]  # fmt: skip
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["failures"] == []
    assert set(report["one"]) == {"ga", "sam"} and set(report["two"]) == {"ddp", "fsdp2"}
    assert report["two"]["fsdp2"]["sam"]["sharding"] == "fsdp2"
    assert report["two"]["ddp"]["ga"]["losses"] == pytest.approx(
        report["one"]["ga"]["losses"], rel=1e-4
    )
    assert report["seen_eps"]["mixed-bf16, additive"]["cos"] > 0.99
    assert report["cli"]["ok"] is True
    assert "all checks passed" in run.stdout
