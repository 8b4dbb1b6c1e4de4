"""The forget-side evaluation every attack re-runs: only the sets whose metrics an attack reports.

The rows come from the same functions as ``unlearn eval`` (so an attack that changes nothing gives
exactly the plain evaluation's numbers) and the metrics from the same aggregate.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from unlearnkit.attacks.context import AttackContext
from unlearnkit.errors import UserError
from unlearnkit.eval.metrics import aggregate as agg
from unlearnkit.eval.results import aggregate


@contextmanager
def eval_mode(model) -> Iterator[None]:
    """``model.eval()`` for the block, then the mode it had (the caller's model stays as it was)."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def tofu_forget_records(ctx: AttackContext) -> list[dict]:
    from unlearnkit.data.tofu import forget_split_names, load_tofu

    return load_tofu(ctx.data, forget_split_names(ctx.split)["forget_eval"])


def tofu_retain_records(ctx: AttackContext) -> list[dict]:
    """The QA pairs of the retain split that goes with the forget split (forget10 → retain90)."""
    from unlearnkit.data.tofu import forget_split_names, load_tofu

    return load_tofu(ctx.data, forget_split_names(ctx.split)["retain"])


def forget_rows(model, tok, ctx: AttackContext) -> dict[str, list[dict]]:
    """Per-item rows of the benchmark's forget-side sets."""
    from unlearnkit.benchmarks import get_benchmark

    with eval_mode(model):
        return get_benchmark(ctx.benchmark).forget_rows(model, tok, ctx)


def muse_forget_rows(model, tok, ctx: AttackContext) -> dict[str, list[dict]]:
    from unlearnkit.data.muse import has_muse_part, load_muse, muse_source
    from unlearnkit.eval.muse import knowmem_rows, verbmem_rows

    source = muse_source(ctx.data)
    rows: dict[str, list[dict]] = {}
    if has_muse_part(source, "verbmem_forget"):
        rows[agg.VERBMEM_F] = verbmem_rows(
            model, tok, load_muse(source, "verbmem_forget"), ctx.settings
        )
    if has_muse_part(source, "knowmem_forget"):
        has_icl = has_muse_part(source, "knowmem_forget_icl")
        icl = load_muse(source, "knowmem_forget_icl") if has_icl else []
        records = load_muse(source, "knowmem_forget")
        rows[agg.KNOWMEM_F] = knowmem_rows(model, tok, records, icl, ctx.settings, agg.KNOWMEM_F)
    if not rows:
        raise UserError("the MUSE data has neither verbmem_forget nor knowmem_forget to attack")
    return rows


def forget_metrics(rows: dict[str, list[dict]], ctx: AttackContext) -> dict[str, float]:
    """The metrics the benchmark's attacks report (``Benchmark.attacked``), from forget-side rows."""
    from unlearnkit.benchmarks import get_benchmark

    every = aggregate(ctx.benchmark, rows, ctx.reference)
    return {k: every[k] for k in get_benchmark(ctx.benchmark).attacked if k in every}


def evaluate_forget(model, tok, ctx: AttackContext) -> tuple[dict[str, float], dict]:
    """(metrics, rows) of ``model`` on the forget side."""
    rows = forget_rows(model, tok, ctx)
    return forget_metrics(rows, ctx), rows
