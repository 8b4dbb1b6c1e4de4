"""The divergence guard: stop unlearning on a non-finite loss or a collapse, keep the last good
checkpoint and say so.

The loss logged at step t was computed on the weights after step t-1, so a passing log at t
vouches for every checkpoint up to step t-1; a failing one condemns the checkpoint of step t-1
and everything after it. The guard stops the Trainer, and :meth:`DivergenceGuard.finish` deletes
the condemned checkpoints and loads the last good one back into the model.
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from transformers import TrainerCallback

from unlearnkit.errors import UserError
from unlearnkit.train.checkpoints import checkpoints, last_checkpoint

log = logging.getLogger(__name__)

# Which logged value a bound reads: the plain NLL where the method logs it, else its loss term.
RETAIN_KEYS = ("retain_nll", "retain_loss")
FORGET_KEYS = ("forget_nll", "forget_loss")


@dataclass
class GuardConfig:
    enabled: bool = True  # stop on a NaN / inf loss, loss part or gradient norm, and on the bounds
    max_retain_loss: float | None = None  # stop when the retain NLL exceeds this (utility collapse)
    max_forget_loss: float | None = None  # stop when the forget NLL exceeds this (GA-style blow-up)
    limits: dict[str, float] = field(default_factory=dict)  # {logged key: upper bound}, any key
    patience: int = 1  # consecutive logged steps above a bound before stopping (NaN stops at once)


def check_guard(g: GuardConfig) -> None:
    """Bounds must be finite numbers and patience at least 1."""
    named = {"guard.max_retain_loss": g.max_retain_loss, "guard.max_forget_loss": g.max_forget_loss}
    named.update({f"guard.limits.{k}": v for k, v in g.limits.items()})
    for name, value in named.items():
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise UserError(f"{name} must be a finite number, got {value!r}")
    if g.patience < 1:
        raise UserError(f"guard.patience must be at least 1, got {g.patience}")


def bounds(g: GuardConfig, logs: dict) -> dict[str, tuple[float, str]]:
    """{logged key: (upper bound, setting name)} for the bounds that apply to these logs."""
    out = {k: (float(v), f"guard.limits.{k}") for k, v in g.limits.items()}
    for bound, keys, name in (
        (g.max_retain_loss, RETAIN_KEYS, "guard.max_retain_loss"),
        (g.max_forget_loss, FORGET_KEYS, "guard.max_forget_loss"),
    ):
        key = next((k for k in keys if k in logs), None)
        if bound is not None and key is not None:
            out[key] = (float(bound), name)
    return out


def non_finite(logs: dict) -> str | None:
    for key, value in logs.items():
        if isinstance(value, float) and not math.isfinite(value):
            return f"{key} is {value}"
    return None


def over_bound(g: GuardConfig, logs: dict) -> str | None:
    trip = tripped(g, logs)
    return None if trip is None else trip["reason"]


def tripped(g: GuardConfig, logs: dict) -> dict | None:
    """The first bound these logs cross: the logged key and value, the setting and its bound."""
    for key, (bound, name) in bounds(g, logs).items():
        value = logs.get(key)
        if isinstance(value, (int, float)) and value > bound:
            reason = f"{key} = {value:.4g} is above {name} = {bound:g}"
            return {
                "reason": reason,
                "key": key,
                "value": float(value),
                "setting": name,
                "bound": bound,
            }
    return None


class DivergenceGuard(TrainerCallback):
    """Check every logged loss; stop training (without saving) when it diverges or collapses."""

    def __init__(self, cfg: GuardConfig, folder: str | Path):
        self.cfg, self.folder = cfg, Path(folder)
        self.good_step: int | None = None  # checkpoints up to this step hold verified weights
        self.strikes = 0
        self.streak_start: int | None = None  # the step of the first log of the current strikes
        self.start_step = 0
        self.report: dict = {"stopped": False}

    def on_train_begin(self, args, state, control, **kwargs):
        # On resume, the checkpoint we start from is not verified yet; older ones were.
        self.good_step = state.global_step - 1 if state.global_step else None
        self.start_step = state.global_step
        return control

    def on_step_end(self, args, state, control, **kwargs):
        # A checkpoint is written only after its step's loss was checked.
        if control.should_save and self.cfg.enabled:
            control.should_log = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not self.cfg.enabled or not logs or "loss" not in logs or self.report["stopped"]:
            return control
        problem, trip = non_finite(logs), None
        if problem is None:
            trip = tripped(self.cfg, logs)
            problem = trip["reason"] if trip else None
            self.strikes = self.strikes + 1 if problem else 0
            if self.strikes == 1:
                self.streak_start = state.global_step
            if problem and self.strikes < self.cfg.patience:
                return control
        if problem is None:
            self.good_step = state.global_step - 1
            return control
        control.should_training_stop = True
        control.should_save = False
        self.report = {"stopped": True, "reason": problem, "step": state.global_step}
        if trip is not None:
            # The loss logged at step 1 of a fresh run was computed on the starting weights.
            at_start = self.start_step == 0 and self.streak_start == 1
            self.report.update({k: trip[k] for k in ("key", "value", "setting", "bound")})
            self.report["at_start"] = at_start
        log.warning("divergence guard: stopping at step %d: %s", state.global_step, problem)
        return control

    def finish(self, trainer) -> dict:
        """After a stop: drop the condemned checkpoints, load the last good one; the report."""
        if not self.report["stopped"]:
            return self.report
        good = None if self.good_step is None else last_checkpoint(self.folder, self.good_step)
        good_step = int(good.name.rsplit("-", 1)[1]) if good else None
        if trainer.args.should_save:
            for step, path in checkpoints(self.folder):
                if good_step is None or step > good_step:
                    shutil.rmtree(path, ignore_errors=True)
        if good is not None:
            _load_quietly(trainer, good)
        self.report.update(
            checkpoint=str(good) if good else None,
            checkpoint_step=good_step,
            restored=bool(good),
            verified_step=self.good_step,  # the last step whose weights a logged loss vouched for
        )
        log.info("divergence guard: %s", describe(self.report))
        return self.report


def _load_quietly(trainer, checkpoint: Path) -> None:
    """The checkpoint's weights into the trainer's model (tied embeddings make transformers warn
    of a 'missing' lm_head, which is harmless)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        trainer._load_from_checkpoint(str(checkpoint))
    finally:
        hf_logging.set_verbosity(level)


def describe(report: dict) -> str:
    """One line for the screen: what stopped training, what was kept and, if any, the fix."""
    if not report.get("stopped"):
        return "training ran to the end (no divergence)"
    head = f"training stopped at step {report['step']} ({report['reason']})"
    if report.get("restored"):
        return f"{head}; the model is the last good checkpoint, {report['checkpoint']}"
    return f"{head}; no good checkpoint to go back to, so no model was kept; {advice(report)}"


def advice(report: dict) -> str:
    """What to change after a stop with no good checkpoint: the setting, and to what."""
    verified = report.get("verified_step")
    if verified:  # steps 1..verified were good, but none of them was saved
        return f"train.save_steps={verified} or smaller keeps a checkpoint of a good step"
    none_passed = "no state after the start passed the guard, so no checkpoint could help"
    setting = report.get("setting")
    if setting is None:  # a NaN or infinite value
        return f"{none_passed}: lower train.learning_rate (or check the data for empty rows)"
    if report.get("at_start"):  # the bound is below what the starting model already logs
        value = report["value"]
        return (
            f"{none_passed}: the starting model is already above {setting} "
            f"({report['key']} = {value:.4g} at step 1), so raise {setting} above {value:.4g} "
            "(or leave it unset)"
        )
    return f"{none_passed}: raise {setting} (now {report['bound']:g}) or lower train.learning_rate"
