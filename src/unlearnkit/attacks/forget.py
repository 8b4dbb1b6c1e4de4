"""The forget-side evaluation every attack re-runs: only the sets whose metrics an attack reports.

The rows come from the same functions as ``unlearn eval`` (so an attack that changes nothing gives
exactly the plain evaluation's numbers) and the metrics from the same aggregate.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from unlearnkit.attacks.context import AttackContext
from unlearnkit.eval.recompute import aggregate


@contextmanager
def eval_mode(model) -> Iterator[None]:
    """``model.eval()`` for the block, then the mode it had (the caller's model stays as it was)."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def forget_rows(model, tok, ctx: AttackContext) -> dict[str, list[dict]]:
    """Per-item rows of the benchmark's forget-side sets."""
    from unlearnkit.benchmarks import get_benchmark

    with eval_mode(model):
        return get_benchmark(ctx.benchmark).forget_rows(model, tok, ctx)


def forget_metrics(rows: dict[str, list[dict]], ctx: AttackContext) -> dict[str, float]:
    """The metrics the benchmark's attacks report (``Benchmark.attacked``), from forget-side rows."""
    from unlearnkit.benchmarks import get_benchmark

    every = aggregate(ctx.benchmark, rows, ctx.reference)
    return {k: every[k] for k in get_benchmark(ctx.benchmark).attacked if k in every}


def evaluate_forget(model, tok, ctx: AttackContext) -> tuple[dict[str, float], dict]:
    """(metrics, rows) of ``model`` on the forget side."""
    rows = forget_rows(model, tok, ctx)
    return forget_metrics(rows, ctx), rows
