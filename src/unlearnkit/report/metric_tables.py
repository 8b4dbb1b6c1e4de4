"""The metric table of a benchmark: one row per run, its metric specs as columns."""

from __future__ import annotations

from unlearnkit.benchmarks import Benchmark, MetricSpec, get_benchmark
from unlearnkit.report.collect import Run
from unlearnkit.report.table_model import Column, Row, Table, cell, fmt_fixed, fmt_sci


def metric_table(
    key: str, title: str, caption: str, runs: list[Run], benchmark: str, columns: list[Column]
) -> Table | None:
    """One row per run evaluated on ``benchmark``, one column per metric; None when no run has any."""
    chosen = [r for r in runs if benchmark in r.evals]
    if not chosen or not any(
        r.metric(benchmark, c.key) is not None
        for r in chosen
        for c in columns
        if c.key != "train_seconds"
    ):
        return None
    rows = []
    for run in chosen:
        values = [
            run.train_seconds if c.key == "train_seconds" else run.metric(benchmark, c.key)
            for c in columns
        ]
        rows.append(
            Row([run.label], [cell(v, c.fmt, c.scale) for v, c in zip(values, columns)], run.role)
        )
    for i, column in enumerate(columns):
        mark_best(rows, i, column)
    labels, hints = [c.label for c in columns], [c.hint for c in columns]
    return Table(key, title, caption, ["model"], labels, hints, rows)


def mark_best(rows: list[Row], index: int, column: Column) -> None:
    """Mark the best and worst unlearned rows of a column (ties share the mark)."""
    if not column.better:
        return
    target = goal(rows, index, column)
    candidates = [
        (r.cells[index], r.cells[index].value)
        for r in rows
        if r.role == "unlearned" and r.cells[index].value is not None
    ]
    if len(candidates) < 2 or target is None:
        return
    scores = [(c, score(v, target)) for c, v in candidates]
    low, high = min(s for _, s in scores), max(s for _, s in scores)
    if abs(high - low) < 1e-12:
        return
    for c, s in scores:
        c.mark = "best" if abs(s - low) < 1e-12 else "worst" if abs(s - high) < 1e-12 else ""


def goal(rows: list[Row], index: int, column: Column) -> str | float | None:
    """The direction ("higher"/"lower") or the value to be close to."""
    if column.better in ("higher", "lower"):
        return column.better
    if column.better == "zero":
        return 0.0
    retain = [
        r.cells[index].value
        for r in rows
        if r.role == "retain" and r.cells[index].value is not None
    ]
    return retain[0] if retain else column.fallback


def score(value: float, target: str | float) -> float:
    """Lower is better."""
    if target == "higher":
        return -value
    if target == "lower":
        return value
    return abs(value - float(target))


def spec_column(spec: MetricSpec) -> Column:
    fmt = fmt_sci if spec.scientific else fmt_fixed(spec.digits)
    return Column(spec.key, spec.title, spec.better, spec.fallback, fmt, spec.scale)


def benchmark_columns(bench: Benchmark) -> list[Column]:
    columns = [spec_column(m) for m in bench.metrics]
    if bench.train_time_column:
        columns.append(Column("train_seconds", "train time (s)", fmt=fmt_fixed(1)))
    return columns


def benchmark_table(name: str, runs: list[Run]) -> Table | None:
    """The metric table of one benchmark: its metric specs as columns, its caption."""
    bench = get_benchmark(name)
    return metric_table(name, bench.title, bench.caption, runs, name, benchmark_columns(bench))
