"""The divergence guard: a NaN loss or a collapse stops training, the last good checkpoint is kept
and loaded back, and the report lands in metrics.json and on screen."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerControl, TrainerState

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    tiny_config,
    tiny_tokenizer,
    trained_model,
    write_tofu,
)
from test_reliability_common import cli, run_args, save_model, write_data
from unlearnkit.errors import UserError
from unlearnkit.methods.ga import GA
from unlearnkit.train.checkpoints import rotate
from unlearnkit.train.guard import DivergenceGuard, GuardConfig, check_guard
from unlearnkit.train.unlearn import unlearn


class NaNAt(GA):
    """Gradient ascent whose loss turns NaN from optimizer step ``NAN_STEP`` on."""

    name = "nan_at"
    NAN_STEP = 5

    def forget_loss(self, model, batch, ctx):
        loss, logs = super().forget_loss(model, batch, ctx)
        if ctx.step + 1 >= self.NAN_STEP:  # ctx.step counts the steps already taken
            loss = loss * float("nan")
        return loss, logs


@pytest.fixture(scope="module")
def tofu(tmp_path_factory) -> Path:
    return write_tofu(tmp_path_factory.mktemp("tofu"))


def _checkpoint_weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def test_nan_loss_stops_and_restores_the_last_good_checkpoint(tofu, tmp_path):
    cfg = tiny_config(tofu, "ga", {}, max_steps=8, save_steps=2, save_total_limit=1)
    model = trained_model()
    summary = unlearn(cfg, model, tiny_tokenizer(), tmp_path, progress=False, method=NaNAt())
    guard = summary["guard"]
    # NaN at step 5: the weights after step 4 gave it, so checkpoint-4 is condemned; 2 is kept
    # (save_total_limit 1 would have deleted it, but rotation protects the last verified one).
    assert guard["stopped"] and guard["step"] == 5 and "is nan" in guard["reason"]
    assert guard["restored"] and guard["checkpoint_step"] == 2
    assert guard["checkpoint"] == str(tmp_path / "checkpoints" / "checkpoint-2")
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["checkpoint-2"]
    assert summary["steps"] == 5
    saved = _checkpoint_weights(tmp_path / "checkpoints" / "checkpoint-2")
    state = model.state_dict()
    for name, value in saved.items():
        assert torch.equal(state[name], value), name
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_nan_without_checkpoints_is_reported_not_restored(tofu, tmp_path):
    cfg = tiny_config(tofu, "ga", {}, max_steps=8)
    summary = unlearn(
        cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=False, method=NaNAt()
    )
    guard = summary["guard"]
    assert guard["stopped"] and guard["checkpoint"] is None and not guard["restored"]


def test_guard_off_lets_nan_through(tofu, tmp_path):
    cfg = tiny_config(tofu, "ga", {}, max_steps=6)
    cfg.guard.enabled = False
    summary = unlearn(
        cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=False, method=NaNAt()
    )
    assert summary["guard"] == {"stopped": False} and summary["steps"] == 6


def test_collapse_bound_stops_the_cli_run_and_says_so(tmp_path, capfd):
    data, model = write_data(tmp_path / "tofu"), save_model(tmp_path / "model", trained=True)
    out = tmp_path / "run"
    argv = run_args(data, model, out, "train.max_steps=8", "train.save_steps=1")
    status, stdout, err = cli(
        capfd, [*argv, "train.learning_rate=3e-3", "guard.max_forget_loss=1.0"]
    )
    assert status == 0, err
    result = json.loads((out / "metrics.json").read_text())
    guard = result["guard"]
    assert (
        guard["stopped"]
        and "forget_nll" in guard["reason"]
        and "guard.max_forget_loss" in guard["reason"]
    )
    steps = [h for h in result["train"]["log_history"] if "forget_nll" in h]
    assert steps[-1]["step"] == guard["step"] < 8 and steps[-1]["forget_nll"] > 1.0
    assert all(h["forget_nll"] <= 1.0 for h in steps[:-1])
    assert guard["restored"] and guard["checkpoint_step"] == guard["step"] - 2
    assert result["metrics"], "the restored model is evaluated"
    assert f"divergence guard: training stopped at step {guard['step']}" in stdout
    assert "WARNING: divergence guard: stopping at step" in err


def test_diverged_run_without_good_weights_is_not_evaluated(tmp_path, capfd, monkeypatch):
    from unlearnkit.methods.registry import METHODS

    monkeypatch.setitem(METHODS, NaNAt.name, NaNAt)
    data, model = write_data(tmp_path / "tofu"), save_model(tmp_path / "model")
    out = tmp_path / "run"
    status, stdout, err = cli(
        capfd, run_args(data, model, out, "train.max_steps=8", method="nan_at")
    )
    assert status == 3, err  # no good checkpoint: no model, no metrics, and the status says so
    result = json.loads((out / "metrics.json").read_text())
    assert result["evaluated"] is False and result["metrics"] == {}
    assert result["guard"]["stopped"] and not result["guard"]["restored"]
    # NaN at step 5: steps 1-3 were verified but never saved, so saving more often would help.
    assert result["guard"]["verified_step"] == 3
    assert (
        "no good checkpoint to go back to" in stdout and "train.save_steps=3 or smaller" in stdout
    )
    assert "unlearn run: error: divergence guard: training stopped at step" in err


# ---- the callback alone ------------------------------------------------------------------------


def _log(guard: DivergenceGuard, step: int, **logs) -> TrainerControl:
    control = TrainerControl()
    guard.on_log(None, TrainerState(global_step=step), control, logs={"loss": 0.5, **logs})
    return control


def test_retain_bound_reads_the_retain_nll_and_patience_forgives_a_spike(tmp_path):
    guard = DivergenceGuard(GuardConfig(max_retain_loss=3.0, patience=2), tmp_path)
    assert not _log(guard, 1, retain_nll=2.0, retain_loss=9.0).should_training_stop
    assert guard.good_step == 0
    assert not _log(guard, 2, retain_nll=3.5).should_training_stop  # one spike: forgiven
    assert guard.good_step == 0  # ...but nothing it vouches for
    assert not _log(guard, 3, retain_nll=2.5).should_training_stop
    assert guard.good_step == 2
    _log(guard, 4, retain_nll=3.2)
    control = _log(guard, 5, retain_nll=3.3)
    assert control.should_training_stop and not control.should_save
    assert guard.report["reason"] == "retain_nll = 3.3 is above guard.max_retain_loss = 3"


def test_non_finite_grad_norm_stops_at_once_and_limits_cover_any_key(tmp_path):
    guard = DivergenceGuard(GuardConfig(patience=5), tmp_path)
    assert _log(guard, 1, grad_norm=math.inf).should_training_stop
    assert guard.report == {"stopped": True, "reason": "grad_norm is inf", "step": 1}
    limited = DivergenceGuard(GuardConfig(limits={"rmu_forget": 10.0}), tmp_path)
    assert _log(limited, 1, rmu_forget=11.0).should_training_stop


def test_a_save_step_is_always_checked_first(tmp_path):
    guard = DivergenceGuard(GuardConfig(), tmp_path)
    control = TrainerControl(should_save=True)
    guard.on_step_end(None, TrainerState(global_step=3), control)
    assert control.should_log


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"patience": 0}, "guard.patience must be at least 1"),
        ({"max_retain_loss": math.nan}, "guard.max_retain_loss must be a finite number"),
        ({"limits": {"loss": "high"}}, "guard.limits.loss must be a finite number"),
    ],
)
def test_guard_settings_are_checked(settings, message):
    with pytest.raises(UserError, match=message):
        check_guard(GuardConfig(**settings))


def test_rotation_keeps_the_newest_and_the_last_verified(tmp_path):
    for step in (2, 4, 6, 8):
        (tmp_path / f"checkpoint-{step}").mkdir()
    rotate(tmp_path, keep=1, protect=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-4", "checkpoint-8"]


def test_advice_names_the_setting_and_what_to_change():
    from unlearnkit.train.guard import advice

    cfg = GuardConfig(max_forget_loss=0.5)
    at_start = DivergenceGuard(cfg, "unused")
    at_start.on_train_begin(None, TrainerState(global_step=0), TrainerControl())
    _log(at_start, 1, forget_nll=3.25)
    report = at_start.report
    assert report["stopped"] and report["setting"] == "guard.max_forget_loss"
    assert report["at_start"] and report["value"] == 3.25 and report["bound"] == 0.5
    line = advice(report)
    assert "starting model is already above guard.max_forget_loss" in line
    assert "raise guard.max_forget_loss above 3.25" in line

    later = DivergenceGuard(GuardConfig(max_forget_loss=0.5, patience=2), "unused")
    later.on_train_begin(None, TrainerState(global_step=0), TrainerControl())
    _log(later, 1, forget_nll=0.1)
    _log(later, 2, forget_nll=0.9)
    _log(later, 3, forget_nll=0.9)
    assert later.report["stopped"] and not later.report["at_start"]
    assert "raise guard.max_forget_loss (now 0.5) or lower train.learning_rate" in advice(
        {**later.report, "verified_step": None}
    )
    nan = advice({"stopped": True, "reason": "loss is nan", "step": 1, "verified_step": None})
    assert "lower train.learning_rate" in nan and "guard." not in nan
