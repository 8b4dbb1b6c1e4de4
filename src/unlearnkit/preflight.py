"""Check a run before it writes anything: each input a user can get wrong fails here, as one
``UserError``, instead of after a model was loaded or trained."""

from __future__ import annotations

from pathlib import Path

import yaml

from unlearnkit.benchmarks.tofu import DEFAULT_SPLIT as TOFU_SPLIT
from unlearnkit.errors import UserError

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
)


def check_run(cfg, model_path: str, resume: bool = False) -> None:
    """Config values, method, device, model and tokenizer folders, data, eval data, attacks."""
    from unlearnkit.data.check import check_eval_data
    from unlearnkit.methods.registry import get_method
    from unlearnkit.models import check_model_path, check_tokenizer_folder, pick_device, pick_dtype
    from unlearnkit.train.corpus import load_unlearning_corpus
    from unlearnkit.train.validate import check_unlearn_config

    check_unlearn_config(cfg)
    get_method(cfg.method, cfg.params)
    check_eval_section(cfg.eval)
    pick_dtype(cfg.dtype, pick_device(cfg.device))
    check_model_path(model_path, cfg.allow_pickle)
    check_tokenizer_folder(cfg.tokenizer or model_path)
    load_unlearning_corpus(cfg.data.benchmark, cfg.data.path, cfg.data.split)
    if cfg.eval.skip:
        check_skip(cfg)
    else:
        split = cfg.data.split or TOFU_SPLIT
        check_eval_data(cfg.data.benchmark, cfg.data.path, split)
        for benchmark in cfg.eval.extra_benchmarks:
            check_eval_data(benchmark, cfg.data.path, split)
        check_retain_eval(cfg)
    check_attacks(cfg)
    if resume:
        check_resume_config(cfg)


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


def check_retain_eval(cfg) -> None:
    from unlearnkit.eval.recompute import retain_reference
    from unlearnkit.models import check_model_path

    if cfg.eval.retain_eval:
        folder = Path(cfg.eval.retain_eval).expanduser()
        if not folder.is_dir():
            raise UserError(
                f"--retain-eval {folder} is not a folder; point it at the retain model's `unlearn eval` folder"
            )
        retain_reference(cfg.data.benchmark, folder)
    if cfg.eval.retain_model:
        check_model_path(cfg.eval.retain_model, cfg.allow_pickle)


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
        saved = yaml.safe_load(saved_path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise UserError(
            f"cannot read {saved_path} to resume ({e}); start a new run with another --out"
        ) from e
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
