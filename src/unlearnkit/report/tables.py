"""The report's tables as data (cells with text and a colour mark), and their Markdown rendering."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from unlearnkit.benchmarks import BENCHMARKS, Benchmark, MetricSpec, get_benchmark
from unlearnkit.report.collect import Run, number

MISSING = "–"
RELEARN = "relearn"

# Attack metrics of every benchmark, with the sign of a change that means forgotten knowledge came
# back (from the benchmarks' metric specs, in the order their attacks report them).
ATTACK_METRICS = {
    key: spec.recovery
    for bench in BENCHMARKS.values()
    for key in bench.attacked
    if (spec := bench.metric(key)) is not None and spec.recovery
}
LEAK_THRESHOLD = 0.02
MIN_FORGOTTEN = 0.25  # share of the target-to-retain gap a method must forget to be judged
ATTACKS_TITLE = "Quantization and other attacks"
RELEARN_TITLE = "Relearning: recovery after fine-tuning on forget data"


def fmt_fixed(digits: int) -> Callable[[float], str]:
    return lambda v: f"{v:.{digits}f}"


def fmt_sci(v: float) -> str:
    return f"{v:.1e}"


def fmt_delta(v: float) -> str:
    return f"{v:+.3f}"


@dataclass(frozen=True)
class Column:
    """A metric column: which way is better decides the best/worst colouring."""

    key: str
    label: str
    better: str = (
        ""  # "higher", "lower", "retain" (closest to the retain row), "zero", or "" (no colour)
    )
    fallback: str | float = (
        "lower"  # for "retain" when there is no retain row: a direction or a value
    )
    fmt: Callable[[float], str] = fmt_fixed(3)
    scale: float = 1.0

    @property
    def hint(self) -> str:
        return {"higher": "↑ higher", "lower": "↓ lower", "retain": "≈ retain", "zero": "≈ 0"}.get(
            self.better, ""
        )


@dataclass
class Cell:
    text: str
    value: float | None = None
    mark: str = ""  # "best", "worst", "leak", "gain" or ""


@dataclass
class Row:
    labels: list[str]
    cells: list[Cell]
    role: str = "unlearned"


@dataclass
class Table:
    key: str
    title: str
    caption: str
    label_headers: list[str]
    headers: list[str]
    hints: list[str]
    rows: list[Row]
    groups: list[tuple[str, int]] = field(default_factory=list)  # (name, span) over ``headers``

    @property
    def flat_headers(self) -> list[str]:
        """Numeric column headers with their group name in front (for Markdown)."""
        if not self.groups:
            return list(self.headers)
        names = [name for name, span in self.groups for _ in range(span)]
        return [f"{g} {h}" for g, h in zip(names, self.headers)]


def cell(value: float | None, fmt: Callable[[float], str], scale: float = 1.0) -> Cell:
    value = number(value)
    if value is None:
        return Cell(MISSING)
    return Cell(fmt(value * scale), value * scale)


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


def attack_value(entry: dict) -> float | None:
    """The attack strength of an entry: its ``value``, else the number in its setting ('steps=5')."""
    value = number(entry.get("value"))
    if value is None:
        found = re.search(r"-?\d+(\.\d+)?", str(entry.get("setting", "")))
        value = float(found.group()) if found else None
    return value


def attack_entries(run: Run, kind: str) -> list[dict]:
    return [
        e
        for e in run.attacks.get(kind, [])
        if isinstance(e, dict) and isinstance(e.get("metrics"), dict)
    ]


def attack_metric_keys(runs: list[Run], kinds: list[str]) -> list[str]:
    """The attack metrics present in any entry, in ATTACK_METRICS order (at most three)."""
    present = {
        k
        for r in runs
        for kind in kinds
        for e in attack_entries(r, kind)
        for k, v in e.get("metrics", {}).items()
        if number(v) is not None
    }
    return [k for k in ATTACK_METRICS if k in present][:3]


def before_value(run: Run, key: str) -> float | None:
    """The metric of the run as evaluated, before any attack."""
    for metrics in [run.evals.get(run.benchmark, {}), *run.evals.values()]:
        if number(metrics.get(key)) is not None:
            return number(metrics[key])
    return None


def delta_cell(before: float | None, after: float | None, key: str) -> Cell:
    if before is None or after is None:
        return Cell(MISSING)
    delta = after - before
    signed = delta * ATTACK_METRICS[key]
    mark = "leak" if signed > LEAK_THRESHOLD else "gain" if signed < -LEAK_THRESHOLD else ""
    return Cell(fmt_delta(delta), delta, mark)


def attacks_table(runs: list[Run]) -> Table | None:
    """Before / after / change per attack setting, for every attack but relearning (plotted instead)."""
    kinds = sorted({k for r in runs for k in r.attacks if k != RELEARN and attack_entries(r, k)})
    keys = attack_metric_keys(runs, kinds)
    if not kinds or not keys:
        return None
    rows = []
    for run in runs:
        for kind in kinds:
            for entry in attack_entries(run, kind):
                cells = []
                for key in keys:
                    before, after = (
                        before_value(run, key),
                        number(entry.get("metrics", {}).get(key)),
                    )
                    cells += [
                        cell(before, fmt_fixed(3)),
                        cell(after, fmt_fixed(3)),
                        delta_cell(before, after, key),
                    ]
                rows.append(
                    Row([run.label, kind, str(entry.get("setting", MISSING))], cells, run.role)
                )
    if not rows:
        return None
    headers = ["before", "after", "Δ"] * len(keys)
    hints = [h for key in keys for h in ("", "", "↑ leak" if ATTACK_METRICS[key] > 0 else "↓ leak")]
    caption = (
        "Each attack is applied to the model and the forget metrics are measured again. before: the model as "
        "evaluated; after: under the attack; Δ = after − before. A red Δ means the attack brought forgotten knowledge "
        "back (forget_rouge up, or forget_truth_ratio down); a robust method keeps Δ near 0."
    )
    labels = ["model", "attack", "setting"]
    groups = [(key, 3) for key in keys]
    return Table("attacks", ATTACKS_TITLE, caption, labels, headers, hints, rows, groups)


def relearn_metric(runs: list[Run]) -> str | None:
    """The metric most relearning attacks measured (ties: ATTACK_METRICS order)."""
    keys = attack_metric_keys(runs, [RELEARN])
    counts = {k: sum(bool(relearn_curve(r, k)) for r in runs) for k in keys}
    return max(keys, key=lambda k: counts[k]) if keys else None


def relearn_curve(run: Run, key: str) -> list[tuple[float, float]]:
    """(steps, metric) points of a run's relearning attack, sorted by steps."""
    points = [
        (attack_value(e), number(e.get("metrics", {}).get(key)))
        for e in attack_entries(run, RELEARN)
    ]
    return sorted((s, v) for s, v in points if s is not None and v is not None)


def relearn_baseline(run: Run, key: str, curve: list[tuple[float, float]]) -> float | None:
    """The metric before relearning: the 0-step point if measured, else the run's own evaluation."""
    zero = [v for s, v in curve if s == 0]
    return zero[0] if zero else before_value(run, key)


def relearn_table(runs: list[Run]) -> Table | None:
    """Recovery (metric after relearning − before) per method and number of steps."""
    key = relearn_metric(runs)
    if key is None:
        return None
    curves = {r.label: (r, relearn_curve(r, key)) for r in runs}
    curves = {label: rc for label, rc in curves.items() if rc[1]}
    steps = sorted({s for _, curve in curves.values() for s, _ in curve if s != 0})
    if not curves or not steps:
        return None
    rows = []
    for label, (run, curve) in curves.items():
        base = relearn_baseline(run, key, curve)
        by_step = dict(curve)
        cells = [cell(base, fmt_fixed(3))] + [delta_cell(base, by_step.get(s), key) for s in steps]
        rows.append(Row([label], cells, run.role))
    headers = ["before"] + [f"after {s:g} steps" for s in steps]
    groups = [(key, 1), ("recovery", len(steps))]
    direction = "higher" if ATTACK_METRICS[key] > 0 else "lower"
    caption = (
        f"Recovery = {key} after relearning − before. A method that truly removed the knowledge stays near 0; "
        f"a {direction} {key} after a few steps means the knowledge was hidden, not removed."
    )
    hints = [""] + ["↑ leak" if ATTACK_METRICS[key] > 0 else "↓ leak"] * len(steps)
    return Table("relearn", RELEARN_TITLE, caption, ["model"], headers, hints, rows, groups)


@dataclass
class Finding:
    title: str
    value: str
    detail: str


def findings(runs: list[Run]) -> list[Finding]:
    """A few headline numbers for the top of the report."""
    unlearned = [r for r in runs if r.role == "unlearned"]
    found = [
        best_finding(unlearned, runs, "forget_quality", "Best forget quality", fmt_sci, "retain"),
        best_finding(
            unlearned, runs, "model_utility", "Best model utility", fmt_fixed(2), "target"
        ),
        relearn_finding(unlearned, relearn_metric(runs), runs),
        leak_finding(unlearned),
    ]
    return [f for f in found if f is not None]


def best_finding(
    unlearned: list[Run], runs: list[Run], key: str, title: str, fmt, ref_role: str
) -> Finding | None:
    """The unlearned model with the highest TOFU ``key``, next to a reference row's value."""
    scored = [(r, v) for r in unlearned if (v := r.metric("tofu", key)) is not None]
    if not scored:
        return None
    run, value = max(scored, key=lambda rv: rv[1])
    refs = [v for r in runs if r.role == ref_role and (v := r.metric("tofu", key)) is not None]
    ref_text = f" ({ref_role}: {fmt(refs[0])})" if refs else ""
    return Finding(title, run.label, f"{key} {fmt(value)}{ref_text}")


def reference_value(runs: list[Run], role: str, key: str) -> float | None:
    """The TOFU ``key`` of the first run with ``role`` (target or retain), if any."""
    return next(
        (v for r in runs if r.role == role and (v := r.metric("tofu", key)) is not None), None
    )


def relearn_finding(unlearned: list[Run], key: str | None, runs: list[Run]) -> Finding | None:
    """The model that gets back the smallest share of what it forgot by the last relearning step.

    What a method forgot is how far unlearning moved ``key`` from the target's value; a method
    that moved it less than :data:`MIN_FORGOTTEN` of the target-to-retain gap forgot too little to
    be judged (a small recovery then means nothing). Without a target row, the raw recovery ranks.
    """
    if key is None:
        return None
    sign = ATTACK_METRICS[key]
    target, retain = reference_value(runs, "target", key), reference_value(runs, "retain", key)
    gap = abs(target - retain) if target is not None and retain is not None else None
    final, too_little = [], []
    for run in unlearned:
        curve = relearn_curve(run, key)
        base = relearn_baseline(run, key, curve)
        if not curve or base is None or curve[-1][0] <= 0:
            continue
        delta, steps = curve[-1][1] - base, curve[-1][0]
        forgot = None if target is None else (target - base) * sign
        if forgot is not None and forgot < MIN_FORGOTTEN * (gap or 1.0):
            too_little.append(run.label)
            continue
        share = None if not forgot else delta * sign / forgot
        final.append((run, delta, steps, forgot, share))
    if not final:
        if too_little:
            return Finding(
                "Relearning", "not judged", f"no method moved {key} far enough from the target"
            )
        return None
    run, delta, steps, forgot, share = min(
        final, key=lambda x: x[4] if x[4] is not None else x[1] * sign
    )
    title = "Most resistant to relearning" if len(final) > 1 else "Relearning"
    detail = f"{key} recovers {delta:+.3f} after {steps:g} steps"
    if share is not None:
        detail += f", {share:.0%} of the {forgot:.3f} it forgot"
    if too_little:
        detail += f" (not judged, forgot too little: {', '.join(too_little)})"
    return Finding(title, run.label, detail)


def leak_finding(unlearned: list[Run]) -> Finding | None:
    """The attack setting that brought the most forgotten knowledge back (relearning aside)."""
    leaks = []
    for run in unlearned:
        for kind in run.attacks:
            for entry in attack_entries(run, kind) if kind != RELEARN else []:
                for key, sign in ATTACK_METRICS.items():
                    before, after = before_value(run, key), number(entry["metrics"].get(key))
                    if before is not None and after is not None:
                        leaks.append(
                            (
                                (after - before) * sign,
                                run.label,
                                entry.get("setting", kind),
                                key,
                                after - before,
                            )
                        )
    if not leaks:
        return None
    amount, label, setting, key, delta = max(leaks, key=lambda x: x[0])
    if amount <= LEAK_THRESHOLD:
        return Finding(
            "Attacks", "no leak", f"no attack moved a forget metric by more than {LEAK_THRESHOLD}"
        )
    return Finding("Largest attack leak", label, f"{setting}: {key} {delta:+.3f}")


def table_markdown(table: Table) -> str:
    """A pipe table; best cells in bold, leaks flagged with ▲."""
    headers = table.label_headers + [
        f"{h} ({hint})" if hint else h for h, hint in zip(table.flat_headers, table.hints)
    ]
    lines = ["| " + " | ".join(md_escape(h) for h in headers) + " |"]
    lines.append(
        "|" + "|".join([":---"] * len(table.label_headers) + ["---:"] * len(table.headers)) + "|"
    )
    for row in table.rows:
        cells = [md_escape(x) for x in row.labels] + [md_cell(c) for c in row.cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_legend(table: Table) -> str:
    marks = {c.mark for row in table.rows for c in row.cells}
    notes = []
    if "best" in marks:
        notes.append("**bold**: best unlearned model in the column")
    if "leak" in marks:
        notes.append("▲: the attack brought forgotten knowledge back")
    return "; ".join(notes) + "." if notes else ""


def md_cell(c: Cell) -> str:
    if c.mark == "best":
        return f"**{c.text}**"
    if c.mark == "leak":
        return f"{c.text} ▲"
    return c.text


def md_text(text: object) -> str:
    """Text from a run (a model, method or folder name) for Markdown: its HTML shown, never run."""
    return html.escape(str(text), quote=False)


def md_escape(text: str) -> str:
    """Text for a pipe-table cell."""
    return md_text(text).replace("|", "\\|")
