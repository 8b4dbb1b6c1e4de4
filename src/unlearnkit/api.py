"""The Python API behind `unlearn run`: load, unlearn, save, evaluate, attack, write the run folder."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from unlearnkit.benchmarks.tofu import DEFAULT_SPLIT as TOFU_SPLIT
from unlearnkit.config import dump_yaml
from unlearnkit.errors import UserError
from unlearnkit.eval.results import METRICS
from unlearnkit.eval.tofu import EvalSettings
from unlearnkit.io import read_json, write_json, write_text_atomic
from unlearnkit.train.unlearn import UnlearnConfig

log = logging.getLogger(__name__)


@dataclass
class EvalSection:
    batch_size: int = 32
    max_new_tokens: int = 200
    max_items: int | None = None  # per eval set, evenly spaced (None: all); a CPU-sized eval
    retain_eval: str | None = None  # the retain model's eval folder for this benchmark
    retain_model: str | None = None  # or the retain model itself (evaluated once, cached)
    extra_benchmarks: list[str] = field(default_factory=list)  # also evaluate on these (world only)
    skip: bool = False  # train (and save) only: metrics.json says "evaluated": false


@dataclass
class RunConfig(UnlearnConfig):
    model: str | None = None  # model folder or hub id (default: the world's target)
    tokenizer: str | None = None
    device: str | None = None
    dtype: str = "auto"
    allow_pickle: bool = False  # load pickle (.bin) weights: they can run code, so only with a flag
    trust_remote_code: bool = False  # run Python code shipped with the model: only with a flag
    out: str | None = None
    save_model: bool = False
    eval: EvalSection = field(default_factory=EvalSection)
    attacks: list[str] = field(default_factory=list)
    attack_params: dict = field(default_factory=dict)  # per attack kind: its settings


def world_of(data_path: str | None) -> Path | None:
    """The world folder a data path points at, if it is one."""
    from unlearnkit.world.location import default_world_dir

    path = Path(data_path).expanduser() if data_path else default_world_dir()
    return path if (path / "world.json").is_file() else None


def resolve_model_path(cfg: RunConfig) -> str:
    if cfg.model:
        return cfg.model
    world = world_of(cfg.data.path)
    if world is None:
        raise UserError(
            "no --model given and --data is not a built world; pass --model PATH (or build one with `unlearn world`)"
        )
    return str(world / "models" / "target")


def resolve_retain_eval(cfg: RunConfig, split: str) -> Path | None:
    """The retain model's eval folder: given, computed once from a retain model, or the world's."""
    e, benchmark = cfg.eval, cfg.data.benchmark
    settings = eval_settings(cfg, progress=False)
    if e.retain_eval:
        return Path(e.retain_eval)
    if e.retain_model:
        from unlearnkit.eval.retain_cache import ensure_retain_eval

        return ensure_retain_eval(
            benchmark, e.retain_model, cfg.data.path, split, settings, device=cfg.device
        )
    world = world_of(cfg.data.path)
    if world is not None and split == TOFU_SPLIT:
        from unlearnkit.world.check import evaluate_world_model

        return evaluate_world_model(world, "retain", benchmark, settings)
    return None


def eval_settings(cfg: RunConfig, progress: bool = True) -> EvalSettings:
    return EvalSettings(
        batch_size=cfg.eval.batch_size,
        gen_batch_size=cfg.eval.batch_size,
        max_new_tokens=cfg.eval.max_new_tokens,
        max_length=cfg.train.max_length,
        progress=progress,
        max_items=cfg.eval.max_items,
    )


def run(
    cfg: RunConfig, resume: bool = False, progress: bool = True, out_dir: str | Path | None = None
) -> dict:
    """Unlearn, (optionally) save, evaluate and attack; returns the run's metrics.json dict.

    Every input is checked before anything is written; a run folder this call created is removed
    again if a ``UserError`` stops it before its first checkpoint. ``out_dir`` writes the run into
    another folder than ``cfg.out`` (`unlearn run --overwrite` builds it beside the old run).
    """
    from unlearnkit.models import load_tokenizer
    from unlearnkit.preflight import check_run

    if not cfg.out:
        raise UserError("a run needs an output folder (--out)")
    out = Path(out_dir or cfg.out)
    model_path = resolve_model_path(cfg)
    check_run(cfg, model_path, resume)
    tok = load_tokenizer(cfg.tokenizer or model_path, trust_remote_code=cfg.trust_remote_code)
    split = cfg.data.split or TOFU_SPLIT
    retain_eval = None if cfg.eval.skip else resolve_retain_eval(cfg, split)
    created = not out.exists()
    try:
        return _run(cfg, model_path, tok, retain_eval, out, resume, progress)
    except UserError:
        if created and not any((out / "checkpoints").glob("checkpoint-*")):
            shutil.rmtree(out, ignore_errors=True)
        raise


def _run(
    cfg: RunConfig, model_path: str, tok, retain_eval, out: Path, resume: bool, progress: bool
) -> dict:
    from unlearnkit.eval.run import evaluate
    from unlearnkit.model_card import unlearned_card, write_card
    from unlearnkit.models import load_model, resolve_precision, train_load_dtype
    from unlearnkit.train.guard import describe
    from unlearnkit.train.unlearn import save_unlearned, unlearn

    split = cfg.data.split or TOFU_SPLIT
    precision = resolve_precision(cfg.train.precision, cfg.train.bf16)
    model = load_model(
        model_path,
        device=cfg.device,
        dtype=train_load_dtype(cfg.dtype, precision),  # auto: fp32 master weights unless pure bf16
        allow_pickle=cfg.allow_pickle,
        trust_remote_code=cfg.trust_remote_code,
    )
    if not resume or not (out / "config.yaml").is_file():
        write_text_atomic(out / "config.yaml", dump_yaml(cfg))
    model.train()
    start = time.perf_counter()
    summary = unlearn(cfg, model, tok, out, resume=resume, progress=progress)
    guard = summary.pop("guard")
    if guard.get("checkpoint"):  # named where it is once the run folder is in place
        guard["checkpoint"] = str(Path(cfg.out) / Path(guard["checkpoint"]).relative_to(out))
    train_info = {
        "seconds": round(time.perf_counter() - start, 2),
        **{k: v for k, v in summary.items() if k != "config"},
    }
    info = {
        "method": cfg.method,
        "model": model_path,
        "role": "unlearned",
        "train": train_info,
        "guard": guard,
    }
    if guard["stopped"] and not guard.get("restored"):
        # Diverged with no good checkpoint to go back to: the model at the stop is not a result.
        result = _not_evaluated(cfg, split, info, "diverged")
        write_json(out / METRICS, result)
        log.warning("not evaluated: %s", describe(guard))
        return result
    if cfg.save_model:
        save_unlearned(model, tok, out / "model", card=unlearned_card(summary, model_path))
    if cfg.eval.skip:
        result = _not_evaluated(cfg, split, info, "eval.skip")
        write_json(out / METRICS, result)
        return result
    result = evaluate(
        cfg.data.benchmark,
        model,
        tok,
        data=cfg.data.path,
        split=split,
        out=out,
        retain_eval=retain_eval,
        settings=eval_settings(cfg, progress),
        info=info,
    )
    if cfg.save_model:  # the card of the saved model gets the headline metrics
        write_card(out / "model", unlearned_card(summary, model_path, result))
    for benchmark in cfg.eval.extra_benchmarks:
        extra_cfg = RunConfig(
            **{
                **cfg.__dict__,
                "data": type(cfg.data)(benchmark=benchmark, path=cfg.data.path, split=None),
            }
        )
        extra_retain = resolve_retain_eval(extra_cfg, TOFU_SPLIT)
        evaluate(
            benchmark,
            model,
            tok,
            data=cfg.data.path,
            split=split,
            out=out / "extra" / benchmark,
            retain_eval=extra_retain,
            settings=eval_settings(cfg, progress),
            info={"method": cfg.method, "role": "unlearned"},
        )
    if cfg.attacks:
        from unlearnkit.attacks.runner import run_attacks

        result["attacks"] = run_attacks(
            cfg.attacks, model, tok, cfg, split, retain_eval, progress, cfg.attack_params
        )
        write_json(out / METRICS, result)
    return result


def _not_evaluated(cfg: RunConfig, split: str, info: dict, why: str) -> dict:
    """The metrics.json of a run that did not evaluate its model (``why``: diverged | eval.skip)."""
    from unlearnkit.benchmarks import get_benchmark

    return {
        "benchmark": cfg.data.benchmark,
        "split": get_benchmark(cfg.data.benchmark).eval_split(split),
        **info,
        "evaluated": False,
        "not_evaluated": why,
        "metrics": {},
    }


def load_run(out: str | Path) -> dict:
    return read_json(Path(out) / METRICS)
