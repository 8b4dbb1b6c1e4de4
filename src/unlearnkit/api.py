"""The Python API behind `unlearn run`: load, unlearn, save, evaluate, attack, write the run folder."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from unlearnkit import launch, phases
from unlearnkit.benchmarks.tofu import DEFAULT_SPLIT as TOFU_SPLIT
from unlearnkit.config import dump_yaml
from unlearnkit.errors import UserError
from unlearnkit.eval.convention import Convention
from unlearnkit.eval.results import METRICS, write_metrics
from unlearnkit.io import read_json, write_text_atomic
from unlearnkit.plan import RunPlan, eval_settings, world_of
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
    every_steps: int = 0  # > 0: cheap metrics every k steps into OUT/curve.json (docs/sweeps.md)
    curve_items: int = 8  # forget and retain items each curve point scores (evenly spaced)
    curve_utility: bool = False  # curve points also score model_utility (on curve_items per set)
    convention: Convention = (
        "unlearnkit"  # | "open-unlearning" | "no-eos": docs/metrics.md, Conventions
    )
    system_prompt: str | None = None  # open-unlearning convention: a system turn (None: default)
    date_string: str | None = None  # open-unlearning convention: the template's date_string


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


def resolve_retain_eval(cfg: RunConfig, split: str) -> Path | None:
    """The retain model's eval folder: given, computed once from a retain model, or the world's."""
    e, benchmark = cfg.eval, cfg.data.benchmark
    settings = eval_settings(cfg, progress=False)
    if e.retain_eval:
        return Path(e.retain_eval)
    if e.retain_model:
        from unlearnkit.eval.retain_cache import ensure_retain_eval

        return ensure_retain_eval(
            benchmark,
            e.retain_model,
            cfg.data.path,
            split,
            settings,
            device=cfg.device,
            allow_pickle=cfg.allow_pickle,
        )
    world = world_of(cfg.data.path)
    if world is not None and split == TOFU_SPLIT:
        from unlearnkit.world.check import world_retain_eval

        return world_retain_eval(world, benchmark, settings)
    return None


def run(
    cfg: RunConfig,
    resume: bool = False,
    progress: bool = True,
    out_dir: str | Path | None = None,
    plan: RunPlan | None = None,
) -> dict:
    """Unlearn, (optionally) save, evaluate and attack; returns the run's metrics.json dict.

    Every input is checked before anything is written (``plan``: ``preflight.check_run(cfg)``'s
    result when the caller checked already); a run folder this call created is removed again if a
    ``UserError`` stops it before its first checkpoint. ``out_dir`` writes the run into another
    folder than ``cfg.out`` (`unlearn run --overwrite` builds it beside the old run).
    """
    from unlearnkit.models import load_tokenizer
    from unlearnkit.preflight import check_run

    plan = plan or check_run(cfg, resume)
    assert plan.cfg is cfg and plan.resume == resume, "plan was checked for another run"
    out = Path(out_dir or cfg.out)
    phases.enter("load")
    tok = load_tokenizer(cfg.tokenizer or plan.model_path, trust_remote_code=cfg.trust_remote_code)
    with launch.main_first():  # rank 0 fills the retain-eval cache, the others read it
        retain_eval = None if cfg.eval.skip else resolve_retain_eval(cfg, plan.split)
    created = not out.exists()
    try:
        return _run(plan, tok, retain_eval, out, progress)
    except UserError:
        if created and launch.is_main() and not any((out / "checkpoints").glob("checkpoint-*")):
            shutil.rmtree(out, ignore_errors=True)
        raise


def _run(plan: RunPlan, tok, retain_eval: Path | None, out: Path, progress: bool) -> dict:
    """Load the model, unlearn, save, evaluate, attack: each step once, in this order.

    Under a multi-process launch every rank loads, trains and saves (a collective step); rank 0
    alone writes the run's files, evaluates and attacks (``unlearnkit.launch``).
    """
    from unlearnkit.model_card import unlearned_card, write_card
    from unlearnkit.train.guard import describe
    from unlearnkit.train.unlearn import save_unlearned

    cfg = plan.cfg
    model = _load_model(plan)
    if launch.is_main() and (not plan.resume or not (out / "config.yaml").is_file()):
        write_text_atomic(out / "config.yaml", dump_yaml(cfg))
    summary, info = _unlearn(plan, model, tok, out, progress)
    if info["guard"]["stopped"] and not info["guard"].get("restored"):
        # Diverged with no good checkpoint to go back to: the model at the stop is not a result.
        result = _write(out, _not_evaluated(plan, info, "diverged"))
        log.warning("not evaluated: %s", describe(info["guard"]))
        return result
    phases.enter("save")
    sharded = launch.sharded()
    if cfg.save_model or (sharded and not cfg.eval.skip):
        folder = out / ("model" if cfg.save_model else SHARDED_EVAL_MODEL)
        save_unlearned(model, tok, folder, card=unlearned_card(summary, plan.model_path))
    if not launch.is_main():
        return _not_evaluated(plan, info, "rank 0 evaluates")
    if cfg.eval.skip:
        return _write(out, _not_evaluated(plan, info, "eval.skip"))
    if sharded:  # rank 0 evaluates the saved model whole (the others have left)
        model = _saved_for_eval(plan, folder)
        if not cfg.save_model:
            shutil.rmtree(folder, ignore_errors=True)
    _as_loaded_for_eval(model)
    phases.enter("eval")
    reference = _retain_reference(plan, retain_eval)  # read once: the eval and the attacks share it
    result = _evaluate(plan, model, tok, out, retain_eval, reference, info, progress)
    if (forgetting := _forgetting(plan, result, retain_eval)) is not None:
        result["forgetting"] = forgetting
        _write(out, result)
    if cfg.save_model:  # the card of the saved model gets the headline metrics
        write_card(out / "model", unlearned_card(summary, plan.model_path, result))
    _evaluate_extra(plan, model, tok, out, progress)
    if cfg.attacks:
        from unlearnkit.attacks.runner import run_attacks

        phases.enter("attack")
        result["attacks"] = run_attacks(
            cfg.attacks,
            model,
            tok,
            cfg,
            plan.split,
            retain_eval,
            progress,
            cfg.attack_params,
            out=out,  # per-item rows under out/attacks/KIND/SETTING/, as `unlearn attack` writes
            corpus=plan.corpus,
            reference=reference,
        )
        _write(out, result)
    return result


SHARDED_EVAL_MODEL = ".sharded_model"  # FSDP2 without save_model: the saved model rank 0 evaluates


def _saved_for_eval(plan: RunPlan, folder: Path):
    """The model an FSDP2 run saved, whole on rank 0's device, as ``unlearn eval`` loads it."""
    from unlearnkit.models import load_model

    cfg = plan.cfg
    return load_model(
        folder, device=launch.process_device(cfg.device), dtype="auto",
        trust_remote_code=cfg.trust_remote_code,
    )  # fmt: skip


def _load_model(plan: RunPlan):
    """The model to unlearn, in the dtype its ``train.precision`` trains in, in training mode
    (under mixed-bf16, LoRA's base and RMU's frozen layers in bf16: only what trains is fp32)."""
    from unlearnkit.models import load_model, resolve_precision, train_load_dtype

    cfg = plan.cfg
    precision = resolve_precision(cfg.train.precision, cfg.train.bf16)
    shard = launch.sharded()
    # FSDP2 gathers each layer's weights in one dtype: a frozen part cannot keep another.
    frozen_base = not shard and (cfg.lora.r > 0 or plan.unlearn.method.needs().frozen_base)
    model = load_model(
        plan.model_path,
        device=launch.process_device(cfg.device),  # cuda:LOCAL_RANK under a launch
        dtype=train_load_dtype(cfg.dtype, precision, frozen_base),
        allow_pickle=cfg.allow_pickle,
        trust_remote_code=cfg.trust_remote_code,
        shard=shard,
    )
    model.train()
    return model


def _as_loaded_for_eval(model) -> None:
    """The trained model in the dtype ``unlearn eval`` loads its saved folder in (``--dtype
    auto``: fp32 on CPU, bf16 on a CUDA GPU), so that evaluating the saved model again gives the
    run's own numbers; ``unlearn()`` already took off the training's autocast wrapper."""
    from unlearnkit.models import pick_dtype

    model.to(pick_dtype("auto", next(model.parameters()).device))


def _unlearn(plan: RunPlan, model, tok, out: Path, progress: bool) -> tuple[dict, dict]:
    """Train ``model`` in place; (``unlearn``'s summary, the run facts metrics.json starts with)."""
    from unlearnkit.train.unlearn import unlearn

    cfg = plan.cfg
    start = time.perf_counter()
    summary = unlearn(
        cfg,
        model,
        tok,
        out,
        resume=plan.resume,
        progress=progress,
        checked=plan.unlearn,
        callbacks=_curve_callbacks(plan, tok, out),
    )
    guard = summary.pop("guard")
    if guard.get("checkpoint"):  # named where it is once the run folder is in place
        guard["checkpoint"] = str(Path(cfg.out) / Path(guard["checkpoint"]).relative_to(out))
    train_info = {
        "seconds": round(time.perf_counter() - start, 2),
        **{k: v for k, v in summary.items() if k != "config"},
    }
    info = {
        "method": cfg.method,
        "model": plan.model_path,
        "role": "unlearned",
        "train": train_info,
        "guard": guard,
    }
    return summary, info


def _retain_reference(plan: RunPlan, retain_eval: Path | None) -> dict:
    """What the run's benchmark compares with in its retain eval: the check's read of
    ``eval.retain_eval``, else the folder resolved for the run, read here."""
    from unlearnkit.eval.recompute import retain_reference

    if plan.retain_reference is not None:
        return plan.retain_reference
    return retain_reference(plan.cfg.data.benchmark, retain_eval)


def _curve_callbacks(plan: RunPlan, tok, out: Path) -> list:
    """``eval.every_steps`` > 0: the callback that writes OUT/curve.json as training goes."""
    from unlearnkit.eval.curve import CURVE, CurveCallback, curve_sets

    cfg = plan.cfg
    if cfg.eval.every_steps <= 0:
        return []
    sets = curve_sets(cfg.data.path, plan.split, cfg.eval.curve_items, cfg.eval.curve_utility)
    settings = eval_settings(cfg, progress=False)
    return [CurveCallback(out / CURVE, cfg.eval.every_steps, tok, sets, settings)]


def _evaluate(
    plan: RunPlan,
    model,
    tok,
    out: Path,
    retain_eval: Path | None,
    reference: dict,
    info: dict,
    progress: bool,
) -> dict:
    """The run's own benchmark: items and metrics.json written to ``out``."""
    from unlearnkit.eval.run import evaluate

    cfg = plan.cfg
    return evaluate(
        cfg.data.benchmark,
        model,
        tok,
        data=cfg.data.path,
        split=plan.split,
        out=out,
        retain_eval=retain_eval,
        settings=eval_settings(cfg, progress),
        info=info,
        reference=reference,
    )


def _evaluate_extra(plan: RunPlan, model, tok, out: Path, progress: bool) -> None:
    """``eval.extra_benchmarks``: the same model on other benchmarks, under ``out/extra/``."""
    from unlearnkit.eval.run import evaluate

    cfg = plan.cfg
    for benchmark in cfg.eval.extra_benchmarks:
        extra_cfg = RunConfig(
            **{
                **cfg.__dict__,
                "data": type(cfg.data)(benchmark=benchmark, path=cfg.data.path, split=None),
            }
        )
        evaluate(
            benchmark,
            model,
            tok,
            data=cfg.data.path,
            split=plan.split,
            out=out / "extra" / benchmark,
            retain_eval=resolve_retain_eval(extra_cfg, TOFU_SPLIT),
            settings=eval_settings(cfg, progress),
            info={"method": cfg.method, "role": "unlearned"},
        )


def target_eval(plan: RunPlan) -> Path | None:
    """The target model's stored eval folder for this run's benchmark, if the run unlearns a
    world's target on the split the world evaluated it on (``evals/target/<benchmark>``)."""
    from unlearnkit.world.check import world_eval_dir

    cfg = plan.cfg
    world = world_of(cfg.data.path)
    if world is None or plan.split != TOFU_SPLIT:
        return None
    if Path(plan.model_path).expanduser().resolve() != (world / "models" / "target").resolve():
        return None
    folder = world_eval_dir(world, "target", cfg.data.benchmark, cfg.eval.convention)
    return folder if (folder / METRICS).is_file() else None


def _forgetting(plan: RunPlan, result: dict, retain_eval: Path | None) -> dict | None:
    """How far the run moved its forget metric from the target's value, as a share of the
    target-to-retain gap (``forgetting`` in metrics.json); None without both references."""
    from unlearnkit.eval.results import read_metrics
    from unlearnkit.forgetting import forget_metric, forgetting_record

    key, target = forget_metric(plan.cfg.data.benchmark), target_eval(plan)
    if key is None or target is None or retain_eval is None:
        return None
    return forgetting_record(
        result.get("metrics", {}).get(key),
        read_metrics(target).get("metrics", {}).get(key),
        read_metrics(retain_eval).get("metrics", {}).get(key),
        key,
    )


def _write(out: Path, result: dict) -> dict:
    """metrics.json, written by rank 0 only (every process of a launch gets ``result``)."""
    if launch.is_main():
        write_metrics(out, result)
    return result


def _not_evaluated(plan: RunPlan, info: dict, why: str) -> dict:
    """The metrics.json of a run that did not evaluate its model (``why``: diverged | eval.skip;
    under a launch, the result the ranks other than 0 return)."""
    from unlearnkit.benchmarks import get_benchmark

    benchmark = plan.cfg.data.benchmark
    return {
        "benchmark": benchmark,
        "split": get_benchmark(benchmark).eval_split(plan.split),
        **info,
        "evaluated": False,
        "not_evaluated": why,
        "metrics": {},
    }


def load_run(out: str | Path) -> dict:
    return read_json(Path(out) / METRICS)
