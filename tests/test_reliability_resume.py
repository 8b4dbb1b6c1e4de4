"""Interruption: a run killed with SIGKILL (between steps, or while writing a checkpoint) or stopped
with Ctrl-C resumes with ``--resume`` and ends with the same metrics as an uninterrupted run; the
atomic writers never leave a half-written file or checkpoint behind."""

from __future__ import annotations

import json
import shlex
import signal
import time
from pathlib import Path

import pytest

from test_reliability_common import (
    run_args,
    save_model,
    unlearn_process,
    unlearn_subprocess,
    write_data,
)
from unlearnkit.io import atomic_path, replace_dir, write_json
from unlearnkit.train.checkpoints import STAGING

STEPS = ["train.max_steps=8", "train.save_steps=2", "eval.max_new_tokens=4"]
# Half a second per step leaves time to kill the run between its checkpoints.
SLOW_STEPS = """
import time
from unlearnkit.train.trainer import UnlearnTrainer
_step = UnlearnTrainer.training_step
def _slow_step(self, *args, **kwargs):
    time.sleep(1.0)  # 6 s of training left after checkpoint-2: room for a loaded machine
    return _step(self, *args, **kwargs)
UnlearnTrainer.training_step = _slow_step
"""
# Die (SIGKILL) in the middle of writing checkpoint-4: its weights are written, its optimizer not.
KILL_WHILE_SAVING = """
import os, signal
from transformers import Trainer
_save = Trainer._save_optimizer_and_scheduler
def _die(self, output_dir):
    if self.state.global_step == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    return _save(self, output_dir)
Trainer._save_optimizer_and_scheduler = _die
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("resume")
    return write_data(root / "tofu"), save_model(root / "model", trained=True)


def argv(inputs, out: Path) -> list[str]:
    data, model = inputs
    return run_args(data, model, out, *STEPS, method="npo")


@pytest.fixture(scope="module")
def baseline(inputs, tmp_path_factory) -> dict:
    """The uninterrupted run (a separate process, like the interrupted ones)."""
    out = tmp_path_factory.mktemp("baseline") / "run"
    status, _, err = unlearn_subprocess(argv(inputs, out))
    assert status == 0, err
    return json.loads((out / "metrics.json").read_text())


def losses(result: dict) -> list[tuple[int, float]]:
    return [(h["step"], h["loss"]) for h in result["train"]["log_history"] if "loss" in h]


def assert_same_run(resumed: dict, baseline: dict) -> None:
    assert resumed["metrics"] == baseline["metrics"]
    assert losses(resumed) == losses(baseline)
    assert resumed["train"]["steps"] == baseline["train"]["steps"] == 8


def wait_for(path: Path, proc, timeout: float = 90) -> None:
    start = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() - start < timeout, f"{path} never appeared"
        time.sleep(0.05)


def resume(inputs, out: Path) -> dict:
    status, _, err = unlearn_subprocess([*argv(inputs, out), "--resume"])
    assert status == 0, err
    assert not (out / "checkpoints" / STAGING).exists()
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.slow
@pytest.mark.multiprocess
def test_sigkill_between_steps_then_resume_gives_the_same_metrics(inputs, baseline, tmp_path):
    out = tmp_path / "run"
    proc = unlearn_process(argv(inputs, out), prelude=SLOW_STEPS)
    wait_for(out / "checkpoints" / "checkpoint-2", proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "metrics.json").exists()
    assert (out / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file()

    result = resume(inputs, out)
    assert Path(result["train"]["resumed_from"]).name.startswith("checkpoint-")
    assert_same_run(result, baseline)


@pytest.mark.slow
@pytest.mark.multiprocess
def test_sigkill_while_writing_a_checkpoint_leaves_it_unpublished(inputs, baseline, tmp_path):
    out = tmp_path / "run"
    status, _, _ = unlearn_subprocess(argv(inputs, out), prelude=KILL_WHILE_SAVING)
    assert status == -signal.SIGKILL
    checkpoints = out / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == [STAGING, "checkpoint-2"]
    half = checkpoints / STAGING / "checkpoint-4"
    assert (half / "model.safetensors").is_file() and not (half / "optimizer.pt").exists()

    result = resume(inputs, out)
    assert result["train"]["resumed_from"] == str(checkpoints / "checkpoint-2")
    assert_same_run(result, baseline)


@pytest.mark.slow
@pytest.mark.multiprocess
def test_ctrl_c_stops_cleanly_and_prints_the_resume_command(inputs, baseline, tmp_path):
    out = tmp_path / "run with spaces"
    proc = unlearn_process(argv(inputs, out), prelude=SLOW_STEPS)
    wait_for(out / "checkpoints" / "checkpoint-2", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    prefix = "unlearn run: interrupted during train; resume with: unlearn "
    assert last.startswith(prefix), last
    command = shlex.split(last[len(prefix) :])
    assert command[-1] == "--resume" and str(out) in command

    status, _, err = unlearn_subprocess(command)
    assert status == 0, err
    assert_same_run(json.loads((out / "metrics.json").read_text()), baseline)


# ---- atomic writers ----------------------------------------------------------------------------


def test_atomic_path_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"version": 1})
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text('{"version": 2, "trunc')
        raise RuntimeError("killed while writing")
    assert json.loads(path.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_replace_dir_swaps_whole_folders(tmp_path):
    dest, work = tmp_path / "model", tmp_path / ".model.tmp"
    dest.mkdir()
    (dest / "old.safetensors").write_text("old")
    work.mkdir()
    (work / "new.safetensors").write_text("new")
    replace_dir(work, dest)
    assert [p.name for p in dest.iterdir()] == ["new.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
