"""A damaged newest checkpoint: ``--resume`` sets it aside and continues from the previous kept one,
with a line saying so, and ends with the same metrics as the uninterrupted run."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from test_reliability_common import (  # noqa: F401 - one_thread is an autouse fixture
    cli,
    one_thread,
    run_args,
    save_model,
    write_data,
)
from unlearnkit.train.checkpoints import checkpoints, damage, prepare_resume


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_data(tmp_path_factory.mktemp("tofu"))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_model(tmp_path_factory.mktemp("model"))


def _fake_checkpoint(folder: Path, step: int) -> Path:
    from safetensors.torch import save_file

    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    save_file({"w": torch.ones(64)}, str(path / "model.safetensors"))
    torch.save({"state": {0: torch.ones(64)}}, path / "optimizer.pt")
    return path


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    "harm",
    [
        lambda p: _cut(p / "model.safetensors"),
        lambda p: _cut(p / "optimizer.pt"),
        lambda p: (p / "trainer_state.json").write_text("{"),
        lambda p: (p / "trainer_state.json").unlink(),
        lambda p: (p / "model.safetensors").unlink(),
    ],
    ids=["weights cut short", "optimizer cut short", "bad JSON", "no state", "no weights"],
)
def test_damage_is_named(tmp_path, harm):
    path = _fake_checkpoint(tmp_path, 2)
    assert damage(path) is None
    harm(path)
    assert damage(path)


def test_damaged_newest_checkpoints_are_set_aside_with_a_line(tmp_path, caplog):
    for step in (2, 4, 6):
        _fake_checkpoint(tmp_path, step)
    _cut(tmp_path / "checkpoint-6" / "model.safetensors")
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text("")
    caplog.set_level(logging.WARNING)
    prepare_resume(tmp_path)
    assert [step for step, _ in checkpoints(tmp_path)] == [2]
    assert (tmp_path / "damaged-checkpoint-6").is_dir() and (
        tmp_path / "damaged-checkpoint-4"
    ).is_dir()
    (line,) = [r.getMessage() for r in caplog.records]
    assert "checkpoint-6 (model.safetensors:" in line and "resuming from checkpoint-2" in line


def test_all_damaged_starts_over(tmp_path, caplog):
    (tmp_path / "checkpoint-2").mkdir()
    caplog.set_level(logging.WARNING)
    prepare_resume(tmp_path)
    assert checkpoints(tmp_path) == []
    assert "starts over" in caplog.records[0].getMessage()


def test_resume_past_a_damaged_newest_checkpoint_gives_the_same_metrics(
    data, model, tmp_path, capfd
):
    steps = ["train.max_steps=4", "train.save_steps=2", "train.save_total_limit=2"]
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    assert cli(capfd, run_args(data, model, full, *steps))[0] == 0
    assert cli(capfd, run_args(data, model, resumed, *steps))[0] == 0
    _cut(resumed / "checkpoints" / "checkpoint-4" / "model.safetensors")
    (resumed / "metrics.json").unlink()
    status, _, err = cli(capfd, [*run_args(data, model, resumed, *steps), "--resume"])
    assert status == 0, err
    assert "damaged checkpoint checkpoint-4" in err and "resuming from checkpoint-2" in err
    metrics = [json.loads((f / "metrics.json").read_text()) for f in (full, resumed)]
    assert metrics[1]["train"]["resumed_from"].endswith("checkpoint-2")
    assert metrics[0]["metrics"] == metrics[1]["metrics"]
