"""Checks of the config values a user can get wrong, before any model is loaded or file written."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unlearnkit import launch
from unlearnkit.errors import UserError

if TYPE_CHECKING:
    from unlearnkit.data.samples import UnlearningCorpus
    from unlearnkit.methods.base import Method, MethodNeeds
    from unlearnkit.train.unlearn import UnlearnConfig


def _positive(name: str, value: float, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not math.isfinite(value) or not ok:
        need = "zero or more" if allow_zero else "more than zero"
        raise UserError(f"{name} must be {need}, got {value}")


def check_train(t) -> None:
    """A ``TrainSection``: counts, rates, the precision and the optimizer / scheduler names."""
    from unlearnkit.models import resolve_precision
    from unlearnkit.train.kahan import check_kahan

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
    if t.warmup_ratio >= 1:  # transformers would read it as a step count
        raise UserError(
            f"train.warmup_ratio is a share of the steps in [0, 1), got {t.warmup_ratio}"
        )
    if t.save_total_limit is not None and t.save_total_limit < 1:
        raise UserError(
            f"train.save_total_limit must be at least 1 (or null: keep all), got {t.save_total_limit}"
        )
    _check_names(t.lr_scheduler, t.optimizer)
    check_kahan(resolve_precision(t.precision, t.bf16), t.optimizer)
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


def check_sharding(cfg: UnlearnConfig) -> None:
    """What an FSDP2 run (a model sharded at load time) cannot do, said before anything loads."""
    if cfg.lora.r > 0:
        raise UserError(
            "lora.r > 0 under FSDP2: LoRA trains few weights and fits one GPU per process; launch "
            "with configs/accelerate/ddp_gpu.yaml, or set lora.r: 0 to shard a full run"
        )
    if cfg.train.save_steps > 0:
        raise UserError(
            "train.save_steps > 0 under FSDP2: transformers cannot checkpoint the optimizer of a "
            "model sharded at load time, so such a run cannot resume; set train.save_steps: 0"
        )


def check_lora(lora) -> None:
    if lora.r < 0:
        raise UserError(f"lora.r must be 0 (off) or positive, got {lora.r}")
    if lora.r and lora.alpha <= 0:
        raise UserError(f"lora.alpha must be positive, got {lora.alpha}")
    if not 0 <= lora.dropout < 1:
        raise UserError(f"lora.dropout must be in [0, 1), got {lora.dropout}")


def reference_kind(cfg: UnlearnConfig, needs: MethodNeeds) -> str:
    """The reference a run uses: the method's declaration, or ``cfg.reference`` where it may choose."""
    if cfg.reference not in ("auto", "live", "precomputed"):
        raise UserError(f"reference must be auto, live or precomputed, got '{cfg.reference}'")
    if needs.reference == "none" or cfg.reference == "auto":
        return needs.reference
    if needs.reference == "live" and cfg.reference == "precomputed":
        raise UserError(
            f"method '{cfg.method}' needs a live reference model (reference outputs on retain data)"
        )
    return cfg.reference


@dataclass(frozen=True)
class CheckedUnlearn:
    """An unlearning config that passed its checks, with its method built and its corpus loaded."""

    cfg: UnlearnConfig
    method: Method
    reference: str  # none | live | precomputed
    corpus: UnlearningCorpus


def check_method(cfg: UnlearnConfig, method: Method | None = None) -> tuple[Method, str]:
    """The config's sections, its method (built from ``cfg.params`` unless given) and reference."""
    from unlearnkit.methods.registry import get_method

    check_unlearn_config(cfg)
    method = method or get_method(cfg.method, cfg.params)
    return method, reference_kind(cfg, method.needs())


def load_corpus(cfg: UnlearnConfig) -> UnlearningCorpus:
    """The forget and retain samples ``cfg.data`` names."""
    from unlearnkit.train.corpus import load_unlearning_corpus

    return load_unlearning_corpus(cfg.data.benchmark, cfg.data.path, cfg.data.split)


def check_unlearn(cfg: UnlearnConfig, method: Method | None = None) -> CheckedUnlearn:
    """Everything ``unlearn`` needs checked and loaded before a model is touched."""
    method, reference = check_method(cfg, method)
    return CheckedUnlearn(cfg, method, reference, load_corpus(cfg))


def check_unlearn_config(cfg) -> None:
    """Every section of an ``UnlearnConfig`` (the method's params are checked by the method)."""
    from unlearnkit.benchmarks import get_benchmark
    from unlearnkit.train.guard import check_guard

    get_benchmark(cfg.data.benchmark)
    check_train(cfg.train)
    check_lora(cfg.lora)
    check_guard(cfg.guard)
    if launch.sharded():
        check_sharding(cfg)
