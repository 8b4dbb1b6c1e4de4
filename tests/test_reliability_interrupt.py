"""Ctrl-C in every phase of `unlearn run` (load, reference, train, save, eval, attack, report):
status 130, one line that names the phase and the command that resumes, and that command ends
with the metrics of a run never interrupted.

Each phase is hit deterministically by the test hook ``$UNLEARNKIT_TEST_INTERRUPT_AT`` (the
process sends itself SIGINT, as Ctrl-C does, when it enters the phase: ``unlearnkit.phases``).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from test_reliability_common import (
    error_lines,
    run_args,
    save_model,
    unlearn_subprocess,
    write_data,
)
from unlearnkit.phases import INTERRUPT_ENV, PHASES

# NPO precomputes reference log-probs (the reference phase has work); a checkpoint every 2 steps;
# a saved model and one cheap attack, so every phase has something to stop.
STEPS = [
    "train.max_steps=4",
    "train.save_steps=2",
    "attack_params.prefill.k=[1]",  # key=value overrides before the flags (argparse)
    "--save-model",
    "--attacks",
    "prefill",
]
PREFIX = "unlearn run: interrupted during {phase}; resume with: unlearn "


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("interrupt")
    return write_data(root / "tofu"), save_model(root / "model", trained=True)


def argv(inputs, out: Path) -> list[str]:
    data, model = inputs
    return run_args(data, model, out, *STEPS, method="npo")


@pytest.fixture(scope="module")
def baseline(inputs, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("baseline") / "run"
    status, _, err = unlearn_subprocess(argv(inputs, out))
    assert status == 0, err
    return json.loads((out / "metrics.json").read_text())


def test_the_hook_names_every_phase_of_a_run():
    assert PHASES == ("load", "reference", "train", "save", "eval", "attack", "report")


@pytest.mark.slow
@pytest.mark.multiprocess
@pytest.mark.parametrize("phase", PHASES)
def test_ctrl_c_in_each_phase_exits_130_and_its_resume_command_ends_like_an_uninterrupted_run(
    inputs, baseline, tmp_path, phase
):
    out = tmp_path / "run"
    status, stdout, err = unlearn_subprocess(argv(inputs, out), env={INTERRUPT_ENV: phase})
    assert status == 130, err
    assert "Traceback" not in err + stdout
    last = error_lines(err)[-1]
    prefix = PREFIX.format(phase=phase)
    assert last.startswith(prefix), last
    command = shlex.split(last[len(prefix) :].split(" (no checkpoint yet")[0])
    assert command[-1] == "--resume" and str(out) in command
    if phase in ("load", "reference", "train"):
        assert "no checkpoint yet, so it starts over" in last
    if PHASES.index(phase) < PHASES.index("attack"):  # the evaluation writes metrics.json
        assert not (out / "metrics.json").exists()

    status, _, err = unlearn_subprocess(command)
    assert status == 0, err
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed["metrics"] == baseline["metrics"]
    assert resumed["attacks"] == baseline["attacks"]
    assert resumed["train"]["steps"] == baseline["train"]["steps"] == 4
    assert (out / "model" / "model.safetensors").is_file()
