"""Checks of the config values a user can get wrong, before any model is loaded or file written."""

from __future__ import annotations

import math

from unlearnkit.errors import UserError


def _positive(name: str, value: float, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not math.isfinite(value) or not ok:
        need = "zero or more" if allow_zero else "more than zero"
        raise UserError(f"{name} must be {need}, got {value}")


def check_train(t) -> None:
    """A ``TrainSection``: counts, rates and the optimizer / scheduler names."""
    _positive("train.learning_rate", t.learning_rate)
    for name in ("batch_size", "gradient_accumulation_steps", "logging_steps"):
        _positive(f"train.{name}", getattr(t, name))
    if t.max_length < 2:
        raise UserError(f"train.max_length must be at least 2 tokens, got {t.max_length}")
    for name in ("max_steps", "save_steps", "reference_batch_size"):
        _positive(f"train.{name}", getattr(t, name), allow_zero=name != "reference_batch_size")
    for name in ("weight_decay", "max_grad_norm"):
        _positive(f"train.{name}", getattr(t, name), allow_zero=True)
    if t.max_steps == 0:
        _positive("train.epochs (or train.max_steps)", t.epochs)
    _positive("train.warmup_ratio", t.warmup_ratio, allow_zero=True)
    if t.save_total_limit is not None and t.save_total_limit < 1:
        raise UserError(
            f"train.save_total_limit must be at least 1 (or null: keep all), got {t.save_total_limit}"
        )
    _check_names(t.lr_scheduler, t.optimizer)
    check_report_to(t.report_to)


def _check_names(scheduler: str, optimizer: str) -> None:
    from transformers.trainer_utils import SchedulerType
    from transformers.training_args import OptimizerNames

    schedulers = [s.value for s in SchedulerType]
    if scheduler not in schedulers:
        raise UserError(
            f"unknown train.lr_scheduler '{scheduler}'; choose one of: {', '.join(schedulers)}"
        )
    if optimizer not in [o.value for o in OptimizerNames]:
        raise UserError(
            f"unknown train.optimizer '{optimizer}'; use a Hugging Face optimizer name such as adamw_torch, sgd or adafactor"
        )


def check_report_to(report_to: list[str]) -> None:
    """``train.report_to``: known Trainer integrations that are installed (or ``none`` alone)."""
    from transformers.integrations.integration_utils import (
        INTEGRATION_TO_CALLBACK,
        get_available_reporting_integrations,
    )

    names = list(report_to)
    if "none" in names and len(names) > 1:
        raise UserError(f"train.report_to: 'none' cannot go with other trackers, got {names}")
    known = sorted(INTEGRATION_TO_CALLBACK)
    available = set(get_available_reporting_integrations())
    for name in names:
        if name == "none":
            continue
        if name not in known:
            raise UserError(
                f"unknown train.report_to '{name}'; choose none or any of: {', '.join(known)}"
            )
        if name not in available and name != "flyte":
            raise UserError(
                f"train.report_to '{name}' needs its package, which is not installed "
                f"(pip install {name.replace('_', '-')})"
            )


def check_lora(lora) -> None:
    if lora.r < 0:
        raise UserError(f"lora.r must be 0 (off) or positive, got {lora.r}")
    if lora.r and lora.alpha <= 0:
        raise UserError(f"lora.alpha must be positive, got {lora.alpha}")
    if not 0 <= lora.dropout < 1:
        raise UserError(f"lora.dropout must be in [0, 1), got {lora.dropout}")


def check_unlearn_config(cfg) -> None:
    """Every section of an ``UnlearnConfig`` (the method's params are checked by the method)."""
    from unlearnkit.benchmarks import get_benchmark
    from unlearnkit.train.guard import check_guard

    get_benchmark(cfg.data.benchmark)
    check_train(cfg.train)
    check_lora(cfg.lora)
    check_guard(cfg.guard)
