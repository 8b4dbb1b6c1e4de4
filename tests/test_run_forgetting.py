"""`unlearn run` says when the model did not forget: the forget metric moved less than MIN_MOVED
of the target-to-retain gap (one line on stderr, ``forgetting`` in metrics.json)."""

from __future__ import annotations

import json

import pytest

from test_reliability_common import cli, run_args, save_model, write_data
from unlearnkit.forgetting import MIN_MOVED, did_not_move, forgetting_record


def world_run(world, out, *overrides: str) -> list[str]:
    """``unlearn run`` of GA on the world's target (the world's own retain and target evals)."""
    return ["run", "--method", "ga", "--data", world, "--device", "cpu", "--out", out,
            "train.max_steps=4", *overrides]  # fmt: skip


def test_record_measures_towards_forgetting_in_the_metrics_direction():
    rouge = forgetting_record(0.97, 1.0, 0.28, "forget_rouge")  # rouge falls as knowledge goes
    assert rouge is not None and rouge["moved"] == pytest.approx(0.03)
    assert rouge["gap"] == pytest.approx(0.72) and rouge["enough"] is False
    truth = forgetting_record(0.60, 0.45, 0.63, "forget_truth_ratio")  # truth ratio rises
    assert truth is not None and truth["share"] == pytest.approx(0.15 / 0.18) and truth["enough"]
    wrong_way = forgetting_record(1.0, 0.9, 0.3, "forget_rouge")
    assert wrong_way is not None and wrong_way["moved"] < 0 and not wrong_way["enough"]
    assert forgetting_record(None, 1.0, 0.3, "forget_rouge") is None
    assert forgetting_record(0.5, 0.3, 0.3, "forget_rouge") is None  # no gap: nothing to judge
    line = did_not_move(rouge)
    assert line is not None and "forget_rouge moved 0.03 of the 0.72" in line
    assert f"(< {MIN_MOVED:.0%})" in line and "train.learning_rate" in line
    assert did_not_move(truth) is None and did_not_move(None) is None


def test_a_run_that_did_not_move_says_so(tiny_world, tmp_path, capfd):
    """(train.learning_rate=0 is refused up front; 1e-12 leaves the weights as they were.)"""
    out = tmp_path / "run"
    status, _, err = cli(capfd, world_run(tiny_world, out, "train.learning_rate=1e-12"))
    assert status == 0, err
    forgetting = json.loads((out / "metrics.json").read_text())["forgetting"]
    assert forgetting["metric"] == "forget_rouge" and forgetting["enough"] is False
    assert forgetting["moved"] == pytest.approx(0.0, abs=0.01)
    assert forgetting["target"] == 1.0 and forgetting["gap"] > 0.5  # the world's own evals
    lines = [x for x in err.splitlines() if x.startswith("unlearn run: forget_rouge moved")]
    assert len(lines) == 1 and "the model did not forget" in lines[0]


def test_a_run_that_forgets_prints_nothing(tiny_world, tmp_path, capfd):
    out = tmp_path / "run"
    status, _, err = cli(
        capfd, world_run(tiny_world, out, "train.learning_rate=1e-3", "train.max_steps=8")
    )
    assert status == 0, err
    forgetting = json.loads((out / "metrics.json").read_text())["forgetting"]
    assert forgetting["enough"] is True and forgetting["share"] >= MIN_MOVED
    assert "did not forget" not in err


def test_off_a_world_without_a_target_eval_nothing_is_checked(tmp_path, capfd):
    data, model = write_data(tmp_path / "tofu"), save_model(tmp_path / "model")
    out = tmp_path / "run"
    status, _, err = cli(capfd, run_args(data, model, out, "train.learning_rate=1e-12"))
    assert status == 0, err
    assert "forgetting" not in json.loads((out / "metrics.json").read_text())
    assert "did not forget" not in err
