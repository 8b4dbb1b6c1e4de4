"""``--resume`` is exact in any epoch: a run resumed from a checkpoint inside its second or third
epoch, with gradient accumulation, ends with the losses and metrics of the uninterrupted run, for
every family of data pairing (forget + retain rows, forget + normal rows)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from test_reliability_common import cli, run_args, save_model, write_data

# 4 forget rows, 1 per micro-batch, 2 micro-batches per step: 2 optimizer steps an epoch, 3 epochs.
EPOCHS = [
    "train.batch_size=1",
    "train.gradient_accumulation_steps=2",
    "train.max_steps=6",
    "train.save_steps=1",
    "train.save_total_limit=null",
]
METHODS = {"gd": [], "npo": [], "sga": ["params.K=2"]}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("resume_epochs")
    return write_data(root / "tofu"), save_model(root / "model", trained=True)


def _argv(inputs, out: Path, method: str) -> list:
    data, model = inputs
    return run_args(data, model, out, *EPOCHS, *METHODS[method], method=method)


def _losses(result: dict) -> list[tuple[int, float]]:
    return [(h["step"], h["loss"]) for h in result["train"]["log_history"] if "loss" in h]


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(METHODS))
def test_resume_inside_epochs_two_and_three_matches_the_uninterrupted_run(
    capfd, inputs, tmp_path, method
):
    full = tmp_path / "full"
    status, _, err = cli(capfd, _argv(inputs, full, method))
    assert status == 0, err
    baseline = json.loads((full / "metrics.json").read_text())
    assert len(_losses(baseline)) == 6

    for step in (3, 5):  # the first step of epoch 2 / of epoch 3 is done; the rest is resumed
        out = tmp_path / f"resumed-{step}"
        (out / "checkpoints").mkdir(parents=True)
        shutil.copytree(
            full / "checkpoints" / f"checkpoint-{step}",
            out / "checkpoints" / f"checkpoint-{step}",
        )
        status, _, err = cli(capfd, [*_argv(inputs, out, method), "--resume"])
        assert status == 0, err
        resumed = json.loads((out / "metrics.json").read_text())
        assert Path(resumed["train"]["resumed_from"]).name == f"checkpoint-{step}"
        assert _losses(resumed) == _losses(baseline), f"resumed from step {step}"
        assert resumed["metrics"] == baseline["metrics"], f"resumed from step {step}"
