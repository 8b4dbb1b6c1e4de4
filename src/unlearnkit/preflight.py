"""Check a run before it writes anything: each input a user can get wrong fails here, as one
``UserError``, instead of after a model was loaded or trained."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from unlearnkit.errors import UserError
from unlearnkit.io import read_yaml
from unlearnkit.plan import RunPlan, eval_settings, resolve_model_path, world_of
from unlearnkit.protect import guard_inputs

# The settings that decide what a resumed run trains; the rest (eval, attacks, guard, out, how
# often to save or log) may change between the interrupted run and its resume.
RESUME_KEYS = (
    "method",
    "params",
    "reference",
    "train",
    "lora",
    "data",
    "model",
    "tokenizer",
    "dtype",
)
FREE_KEYS = (
    "train.save_steps",
    "train.save_total_limit",
    "train.logging_steps",
    "train.report_to",
    "train.check_memory",
)


def check_run(cfg, resume: bool = False) -> RunPlan:
    """The one check of a run: config values, method, device, model and tokenizer folders, data,
    eval data, attacks, then the memory estimate (a run that cannot fit its GPU is refused).
    Returns the plan ``api.run`` follows (method built, corpus loaded, memory estimated)."""
    from unlearnkit.data.check import check_eval_data
    from unlearnkit.memory_estimate import check_memory
    from unlearnkit.models import check_model_path, check_tokenizer_folder, pick_device, pick_dtype
    from unlearnkit.train.validate import CheckedUnlearn, check_method, load_corpus

    if not cfg.out:
        raise UserError("a run needs an output folder (--out)")
    model_path = resolve_model_path(cfg)
    method, reference = check_method(cfg)
    guard_inputs(cfg.out, run_inputs(cfg, model_path, method), "run")
    check_eval_section(cfg.eval)
    pick_dtype(cfg.dtype, pick_device(cfg.device))
    check_model_path(model_path, cfg.allow_pickle)
    check_tokenizer_folder(cfg.tokenizer or model_path)
    check_seed(cfg.train.seed)
    check_optimizer_installed(cfg.train.optimizer)
    check_lora_targets(cfg, model_path)
    plan = RunPlan(CheckedUnlearn(cfg, method, reference, load_corpus(cfg)), model_path, resume)
    retain = None
    if cfg.eval.every_steps > 0 and cfg.data.benchmark != "tofu":
        raise UserError(
            f"eval.every_steps (a training curve) scores TOFU forget/retain items; the benchmark "
            f"is {cfg.data.benchmark}: set eval.every_steps=0"
        )
    if cfg.eval.skip:
        check_skip(cfg)
    else:
        for benchmark in [cfg.data.benchmark, *cfg.eval.extra_benchmarks]:
            check_eval_data(benchmark, cfg.data.path, plan.split)
        retain = check_retain_eval(cfg)
    check_attacks(cfg)
    if resume:
        check_resume_config(cfg)
    memory = check_memory(cfg, model_path, method, reference)
    return replace(plan, memory=memory, retain_reference=retain)


def run_inputs(cfg, model_path: str, method) -> dict:
    """{setting: path} of everything a run reads, which its ``out`` must stay clear of."""
    from unlearnkit.models import adapter_base
    from unlearnkit.world.location import default_world_dir

    source = method.needs().normal_source
    model = Path(str(model_path)).expanduser()
    return {
        "--data": cfg.data.path or default_world_dir(),
        "the world": world_of(cfg.data.path),
        "--model": model_path,
        "the base model of --model": adapter_base(model) if model.is_dir() else None,
        "--tokenizer": cfg.tokenizer,
        "--retain-model": cfg.eval.retain_model,
        "--retain-eval": cfg.eval.retain_eval,
        "params.normal_file": source.file if source else None,
        "params.normal_model": source.model if source else None,
    }


def check_eval_section(e) -> None:
    if e.batch_size < 1 or e.max_new_tokens < 1:
        raise UserError(
            f"eval.batch_size and eval.max_new_tokens must be positive, got {e.batch_size} and {e.max_new_tokens}"
        )
    if e.retain_eval and e.retain_model:
        raise UserError(
            "give eval.retain_eval (--retain-eval) or eval.retain_model (--retain-model), not both"
        )
    if e.max_items is not None and e.max_items < 1:
        raise UserError(f"eval.max_items must be positive (or null: all items), got {e.max_items}")
    if e.every_steps < 0 or e.curve_items < 1:
        raise UserError(
            f"eval.every_steps must be >= 0 (0: no curve) and eval.curve_items positive, got "
            f"{e.every_steps} and {e.curve_items}"
        )


def check_skip(cfg) -> None:
    """``eval.skip`` trains (and saves) only: nothing that evaluates the model may go with it."""
    asked = [
        name
        for name, value in (
            ("attacks", cfg.attacks),
            ("eval.extra_benchmarks", cfg.eval.extra_benchmarks),
        )
        if value
    ]
    if asked:
        raise UserError(
            f"eval.skip=true skips every evaluation, but {asked[0]} asks for one; drop one of them"
        )


def check_retain_eval(cfg) -> dict | None:
    """The retain reference of ``eval.retain_eval``, read and checked once (None: not given)."""
    from unlearnkit.eval.recompute import retain_reference
    from unlearnkit.eval.run import check_retain_settings
    from unlearnkit.models import check_model_path

    found = None
    if cfg.eval.retain_eval:
        folder = Path(cfg.eval.retain_eval).expanduser()
        if not folder.is_dir():
            raise UserError(
                f"--retain-eval {folder} is not a folder; point it at the retain model's `unlearn eval` folder"
            )
        found = retain_reference(cfg.data.benchmark, folder)
        check_retain_settings(folder, eval_settings(cfg, progress=False))
    if cfg.eval.retain_model:
        check_model_path(cfg.eval.retain_model, cfg.allow_pickle)
    return found


def check_attacks(cfg) -> None:
    """What ``run_attacks`` checks after training, checked before it."""
    if not cfg.attacks and not cfg.attack_params:
        return
    from unlearnkit.attacks.runner import KINDS, check_benchmark, make_params, parse_kinds

    names = parse_kinds(cfg.attacks)
    stray = sorted(set(cfg.attack_params) - set(KINDS))
    if stray:
        raise UserError(
            f"attack_params has unknown attack '{stray[0]}'; choose from: {', '.join(KINDS)}"
        )
    for kind in names:
        check_benchmark(kind, cfg.data.benchmark)
        make_params(kind, cfg.attack_params.get(kind))


def check_resume_config(cfg) -> None:
    """``--resume`` must continue the same training: same method, data and training settings."""
    from unlearnkit.config import to_dict

    saved_path = Path(cfg.out) / "config.yaml"
    if not saved_path.is_file():
        return
    try:
        saved = read_yaml(saved_path) or {}
    except UserError as e:
        raise UserError(f"{e} to resume, or start a new run with another --out") from e
    now = to_dict(cfg)
    for key in RESUME_KEYS:
        diff = _first_difference(
            now.get(key), saved.get(key) if isinstance(saved, dict) else None, key
        )
        if diff:
            raise UserError(
                f"--resume: {diff} differs from {saved_path}; resume with the same settings, or start a new run with another --out"
            )


def _first_difference(a, b, where: str) -> str | None:
    if where in FREE_KEYS:
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            diff = _first_difference(a.get(k), b.get(k), f"{where}.{k}")
            if diff:
                return diff
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        a, b = list(a), list(b)
    return None if a == b else f"{where} ({a!r} now, {b!r} in the run)"


SEED_RANGE = 2**32  # numpy's (torch takes more): Trainer seeds both from train.seed


def check_seed(seed: int, name: str = "train.seed") -> None:
    """A seed every random generator the run seeds accepts."""
    if not 0 <= seed < SEED_RANGE:
        raise UserError(f"{name} must be between 0 and {SEED_RANGE - 1} (2**32 - 1), got {seed}")


def check_optimizer_installed(name: str) -> None:
    """An optimizer whose package is missing fails here, not when the Trainer builds it."""
    import dataclasses
    from types import SimpleNamespace

    from transformers import Trainer, TrainingArguments
    from transformers.training_args import OptimizerNames

    # The Trainer's own lookup, on the argument defaults: building a TrainingArguments here would
    # set up accelerate's process state (on the CPU) before the run's own arguments do.
    fields = dataclasses.fields(TrainingArguments)
    defaults = {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}
    args = SimpleNamespace(**{**defaults, "optim": OptimizerNames(name)})
    try:
        Trainer.get_optimizer_cls_and_kwargs(args)
    except AttributeError:  # it needs more than the defaults: left to the Trainer
        return
    except (ImportError, ValueError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "pass a model" in why:  # installed; it only needs the model, which comes later
            return
        raise UserError(
            f"train.optimizer '{name}' cannot be used here: {why}; install what it needs or choose another, such as adamw_torch"
        ) from e


def check_lora_targets(cfg, model_path: str) -> None:
    """``lora.target_modules`` names modules the model has: LoRA is applied to the model built
    from its config on the meta device (no weights are read). Hub models are checked on load."""
    from unlearnkit.models import adapter_base, needs_remote_code

    if cfg.lora.r <= 0:
        return
    folder = Path(str(model_path)).expanduser()
    base = adapter_base(folder) if folder.is_dir() else None
    folder = Path(base).expanduser() if base else folder
    if not (folder / "config.json").is_file() or needs_remote_code(folder):
        return
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from unlearnkit.train.unlearn import apply_lora

    try:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder))
    except Exception:  # noqa: BLE001 - a config transformers cannot build fails, as one line, on load
        return
    linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if _is_linear(m)})
    try:
        apply_lora(model, cfg.lora, None)
    except (ValueError, TypeError) as e:
        why = (str(e).splitlines()[0] if str(e) else type(e).__name__).split(". ")[0].rstrip(".")
        raise UserError(
            f"lora.target_modules {cfg.lora.target_modules} does not fit {model_path}: {why}; name modules it has ({', '.join(linear)}) or use all-linear"
        ) from e


def _is_linear(module) -> bool:
    import torch

    return isinstance(module, torch.nn.Linear)
