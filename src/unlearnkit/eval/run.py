"""`evaluate`: one model on one benchmark, per-item rows and metrics written to a folder."""

from __future__ import annotations

import time
from pathlib import Path

from unlearnkit.errors import UserError
from unlearnkit.eval.results import BENCHMARKS, METRICS, aggregate, retain_reference, write_rows
from unlearnkit.eval.tofu import EvalSettings
from unlearnkit.io import write_json


def compute_rows(
    benchmark: str, model, tokenizer, data, split: str, settings: EvalSettings
) -> dict[str, list[dict]]:
    if benchmark == "tofu":
        from unlearnkit.eval.tofu import tofu_rows

        return tofu_rows(model, tokenizer, data, split, settings)
    if benchmark == "muse":
        from unlearnkit.eval.muse import muse_rows

        return muse_rows(model, tokenizer, data, settings)
    if benchmark == "copyright":
        from unlearnkit.eval.copyright import copyright_rows

        return copyright_rows(model, tokenizer, data, settings)
    raise UserError(f"unknown benchmark '{benchmark}'; choose one of: {', '.join(BENCHMARKS)}")


def evaluate(
    benchmark: str,
    model,
    tokenizer,
    data=None,
    split: str = "forget10",
    out: str | Path | None = None,
    retain_eval: str | Path | None = None,
    settings: EvalSettings | None = None,
    info: dict | None = None,
) -> dict:
    """Evaluate ``model`` and return the metrics.json dict; write it and the items to ``out`` if given.

    ``retain_eval`` is the retain model's eval folder of the same benchmark: forget quality,
    privleak and the copyright gap are measured against it (computed once, reused by every run).
    """
    settings = settings or EvalSettings()
    reference = retain_reference(benchmark, retain_eval)
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    try:
        rows = compute_rows(benchmark, model, tokenizer, data, split, settings)
    finally:
        model.train(was_training)
    result = {
        "benchmark": benchmark,
        "split": split if benchmark == "tofu" else None,
        "data": str(data) if data is not None else "world",
        "retain_eval": str(Path(retain_eval).resolve()) if retain_eval else None,
        **(info or {}),
        "max_items": settings.max_items,  # None: every item of every set
        "counts": {name: len(r) for name, r in rows.items()},
        "eval_seconds": round(time.perf_counter() - start, 2),
        "metrics": aggregate(benchmark, rows, reference),
    }
    if out is not None:
        out = Path(out)
        write_rows(out, rows)
        write_json(out / METRICS, result)
    return result


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
