"""Aggregates from stored per-item rows, through each benchmark: the retain model's reference, the
metrics of a set of rows, and a whole eval folder recomputed without a model."""

from __future__ import annotations

from pathlib import Path

from unlearnkit.benchmarks import get_benchmark
from unlearnkit.eval.convention import check_retain_convention, recorded_convention
from unlearnkit.eval.results import read_metrics, read_rows, write_metrics


def retain_reference(benchmark: str, retain_eval: str | Path | None) -> dict:
    """What a benchmark needs from the retain model's eval folder to compare against it."""
    bench = get_benchmark(benchmark)
    return {} if retain_eval is None else bench.retain_reference(retain_eval)


def aggregate(
    benchmark: str, rows_by_set: dict[str, list[dict]], reference: dict
) -> dict[str, float]:
    """Every aggregate metric of ``benchmark`` from per-item rows (no model needed)."""
    return get_benchmark(benchmark).aggregate(rows_by_set, reference)


def recompute(
    eval_dir: str | Path, retain_eval: str | Path | None = None, write: bool = True
) -> dict:
    """Recompute ``metrics.json`` of an eval folder from its items (and the retain model's)."""
    result = read_metrics(eval_dir)
    retain_eval = retain_eval or result.get("retain_eval")
    check_retain_convention(retain_eval, recorded_convention(result))
    result["metrics"] = aggregate(
        result["benchmark"], read_rows(eval_dir), retain_reference(result["benchmark"], retain_eval)
    )
    if write:
        write_metrics(eval_dir, result)
    return result
