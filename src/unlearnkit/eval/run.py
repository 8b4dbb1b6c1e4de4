"""`evaluate`: one model on one benchmark, per-item rows and metrics written to a folder."""

from __future__ import annotations

import time
from pathlib import Path

from unlearnkit.benchmarks import get_benchmark
from unlearnkit.benchmarks.tofu import DEFAULT_SPLIT as TOFU_SPLIT
from unlearnkit.errors import UserError
from unlearnkit.eval.convention import check_retain_convention
from unlearnkit.eval.recompute import retain_reference
from unlearnkit.eval.results import METRICS, write_metrics, write_rows
from unlearnkit.eval.tofu import EvalSettings


def evaluate(
    benchmark: str,
    model,
    tokenizer,
    data=None,
    split: str = TOFU_SPLIT,
    out: str | Path | None = None,
    retain_eval: str | Path | None = None,
    settings: EvalSettings | None = None,
    info: dict | None = None,
    reference: dict | None = None,
) -> dict:
    """Evaluate ``model`` and return the metrics.json dict; write it and the items to ``out`` if given.

    ``retain_eval`` is the retain model's eval folder of the same benchmark: forget quality,
    privleak and the copyright gap are measured against it (computed once, reused by every run).
    ``reference``: its ``retain_reference``, when the caller read it already (else read here).
    """
    settings = settings or EvalSettings()
    bench = get_benchmark(benchmark)
    check_retain_convention(retain_eval, settings.convention)
    check_retain_settings(retain_eval, settings)
    if reference is None:
        reference = retain_reference(benchmark, retain_eval)
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    try:
        rows = bench.rows(model, tokenizer, data, split, settings)
    finally:
        model.train(was_training)
    result = {
        "benchmark": benchmark,
        "split": bench.eval_split(split),
        "data": str(data) if data is not None else "world",
        "retain_eval": str(Path(retain_eval).resolve()) if retain_eval else None,
        **(info or {}),
        "max_items": settings.max_items,  # None: every item of every set
        "convention": settings.convention,  # eval.convention: how answers and tokens were scored
        "eval_settings": settings.key(),  # what a retain eval is reused under (retain_cache)
        "counts": {name: len(r) for name, r in rows.items()},
        "eval_seconds": round(time.perf_counter() - start, 2),
        "metrics": bench.aggregate(rows, reference),
    }
    if out is not None:
        out = Path(out)
        write_rows(out, rows)
        write_metrics(out, result)
    return result


# The `unlearn eval` flag of each eval setting (a run sets max_length with train.max_length).
SETTING_FLAGS = {
    "max_length": "--max-length",
    "max_new_tokens": "--max-new-tokens",
    "max_items": "--max-items",
    "convention": "--convention",
    "system_prompt": "--system-prompt",
    "date_string": "--date-string",
}


def check_retain_settings(retain_eval, settings: EvalSettings) -> None:
    """A retain eval is a reference only for evals scored under the same settings (a full one
    also for a subset, ``max_items``; a folder written before settings were recorded is taken as
    it is)."""
    from unlearnkit.eval.results import read_metrics

    if retain_eval is None or not (Path(retain_eval) / METRICS).is_file():
        return
    theirs = read_metrics(retain_eval).get("eval_settings")
    if not isinstance(theirs, dict):
        return
    ours = settings.key()
    diff = settings.differs_from(theirs, unknown_differs=False)
    if diff is not None:
        flag = SETTING_FLAGS.get(diff, diff)
        raise UserError(
            f"the retain eval {retain_eval} was scored with {diff}={theirs[diff]!r}, this eval "
            f"with {diff}={ours[diff]!r}: its numbers would not compare; evaluate the retain "
            f"model under these settings (unlearn eval {flag} {ours[diff]}), or pass "
            "--retain-model to have it evaluated once and cached"
        )


def evaluate_path(
    benchmark: str,
    model_path: str | Path,
    out: str | Path | None = None,
    tokenizer_path=None,
    device=None,
    dtype="auto",
    allow_pickle=False,
    **kwargs,
) -> dict:
    """:func:`evaluate` for a model folder or hub id."""
    from unlearnkit.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(
        model_path, tokenizer_path, device=device, dtype=dtype, allow_pickle=allow_pickle
    )
    info = {"model": str(model_path), **kwargs.pop("info", {})}
    return evaluate(benchmark, model, tok, out=out, info=info, **kwargs)
