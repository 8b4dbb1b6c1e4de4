"""The report's plots, drawn with matplotlib's Agg canvas (no pyplot, no display) into PNG bytes."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from unlearnkit.report.collect import Run, number
from unlearnkit.report.tables import ATTACK_METRICS, relearn_baseline, relearn_curve, relearn_metric

TARGET_COLOR = "#6b7280"
RETAIN_COLOR = "#059669"
METHOD_COLORS = [
    "#2563eb",
    "#ea580c",
    "#7c3aed",
    "#db2777",
    "#0891b2",
    "#ca8a04",
    "#4f46e5",
    "#be123c",
    "#0d9488",
    "#92400e",
]
DPI = 144
WIDTH = 10.0  # inches: every plot as wide as the page, so text is the same size in all
FQ_FLOOR = 1e-300  # forget_quality 0 cannot go on a log axis
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 10.5,
    "axes.titlesize": 11.5,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelcolor": "#374151",
    "axes.edgecolor": "#9ca3af",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e7eb",
    "grid.linewidth": 0.8,
    "xtick.color": "#4b5563",
    "ytick.color": "#4b5563",
    "legend.frameon": False,
    "legend.fontsize": 9.5,
    "lines.linewidth": 2.0,
    "lines.markersize": 5,
}


@dataclass
class Image:
    """A rendered plot: ``name`` is its file stem in report_files/."""

    name: str
    title: str
    caption: str
    png: bytes


def colors(runs: list[Run]) -> dict[str, str]:
    """A fixed colour per row label, shared by every plot and the table swatches."""
    out: dict[str, str] = {}
    methods = 0
    for run in runs:
        if run.role == "target":
            out[run.label] = TARGET_COLOR
        elif run.role == "retain":
            out[run.label] = RETAIN_COLOR
        else:
            out[run.label] = METHOD_COLORS[methods % len(METHOD_COLORS)]
            methods += 1
    return out


def render(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(
        buf,
        format="png",
        dpi=DPI,
        bbox_inches="tight",
        facecolor="white",
        metadata={"Software": None},
    )
    return buf.getvalue()


def new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def styled(draw):
    """Run a plot function with the report style applied to the axes it creates."""

    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)

    wrapper.__name__ = draw.__name__
    wrapper.__doc__ = draw.__doc__
    return wrapper


@styled
def scatter_plot(runs: list[Run]) -> Image | None:
    """forget_quality (log x) against model_utility, one point per model."""
    points = [
        (r, r.metric("tofu", "forget_quality"), r.metric("tofu", "model_utility")) for r in runs
    ]
    points = [
        (r, max(fq, FQ_FLOOR), mu) for r, fq, mu in points if fq is not None and mu is not None
    ]
    if not points:
        return None
    palette = colors(runs)
    fig = Figure(figsize=(WIDTH, 4.6))
    # A fixed layout, so the label placement below sees the final data-to-pixel mapping.
    fig.subplots_adjust(left=0.08, right=0.97, bottom=0.13, top=0.92)
    ax = fig.add_subplot()
    for run, fq, mu in points:
        marker, size = {"target": ("s", 70), "retain": ("*", 190)}.get(run.role, ("o", 60))
        ax.scatter(
            fq,
            mu,
            s=size,
            marker=marker,
            color=palette[run.label],
            edgecolor="white",
            linewidth=1.0,
            zorder=3,
        )
    ax.set_xscale("log")
    lo = min(fq for _, fq, _ in points)
    ax.set_xlim(lo / 30, 30)
    ys = [mu for _, _, mu in points]
    pad = max(0.05, (max(ys) - min(ys)) * 0.15)
    ax.set_ylim(max(0.0, min(ys) - pad), min(1.0, max(ys) + pad) if max(ys) <= 1 else max(ys) + pad)
    ax.axvline(1.0, color=RETAIN_COLOR, linestyle=":", linewidth=1, zorder=1)
    ax.set_xlabel("forget quality (log scale; 1.0 = like the retain model)  →  better")
    ax.set_ylabel("model utility  →  better")
    ax.set_title("Forget quality vs. model utility")
    place_labels(fig, ax, [(fq, mu, run.label) for run, fq, mu in points])
    caption = (
        "Each point is a model. Right is better (forget quality is a p-value: 1.0 means its answers on the forget set "
        "are statistically indistinguishable from the retain model's); up is better (utility on retained and general "
        "knowledge). The ideal unlearned model sits next to the retain star; the target square shows where unlearning "
        "started."
    )
    return Image("tofu_scatter", "Forget quality vs. model utility", caption, render(fig))


# Label offsets from the point in points, nearest first; the far ones get a leader line.
LABEL_OFFSETS = [(6, 3), (6, -3), (-6, 3), (-6, -3), (6, 13), (6, -13), (-6, 13), (-6, -13)] + [
    (side * 8, sign * (26 + 12 * i)) for i in range(5) for sign in (1, -1) for side in (1, -1)
]


def place_labels(fig: Figure, ax, points: list[tuple[float, float, str]]) -> None:
    """Label points avoiding overlaps: coincident points share a label; each tries offsets in turn."""
    merged: dict[tuple[float, float], list[str]] = {}
    for x, y, text in points:
        merged.setdefault((x, y), []).append(text)
    order = sorted(merged, key=lambda xy: (-xy[1], xy[0]))
    renderer = FigureCanvasAgg(fig).get_renderer()
    frame = ax.get_window_extent(renderer)
    taken = [Bbox.from_bounds(*(ax.transData.transform(xy) - 5), 10, 10) for xy in order]
    for x, y in order:
        label = ", ".join(merged[(x, y)])
        best = None
        for dx, dy in LABEL_OFFSETS:
            ann = label_at(ax, label, x, y, dx, dy)
            box = ann.get_window_extent(renderer).padded(2)
            cost = sum(overlap(box, t) for t in taken) + 10 * (
                box.width * box.height - overlap(box, frame)
            )
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, ann, box)
            else:
                ann.remove()
            if cost == 0:
                break
        taken.append(best[2])


def overlap(a: Bbox, b: Bbox) -> float:
    """Area of the intersection of two boxes (0 when they do not touch)."""
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(width, 0.0) * max(height, 0.0)


def label_at(ax, label: str, x: float, y: float, dx: float, dy: float):
    leader = {"arrowstyle": "-", "color": "#9ca3af", "lw": 0.6} if abs(dy) > 20 else None
    return ax.annotate(
        label,
        (x, y),
        xytext=(dx, dy),
        textcoords="offset points",
        ha="left" if dx > 0 else "right",
        va="bottom" if dy > 0 else "top",
        fontsize=9.5,
        color="#1f2937",
        zorder=4,
        arrowprops=leader,
    )


@styled
def relearn_plot(runs: list[Run]) -> Image | None:
    """The attacked metric against relearning steps (left) and its recovery (right)."""
    key = relearn_metric(runs)
    if key is None:
        return None
    curves = [(r, relearn_curve(r, key)) for r in runs]
    curves = [(r, c) for r, c in curves if c and r.role == "unlearned"]
    if not curves:
        return None
    palette = colors(runs)
    fig = new_figure(WIDTH, 3.8)
    left, right = fig.subplots(1, 2)
    for run, curve in curves:
        steps, values = zip(*curve)
        left.plot(steps, values, marker="o", color=palette[run.label], label=run.label)
        base = relearn_baseline(run, key, curve)
        if base is not None:
            right.plot(
                steps,
                [v - base for v in values],
                marker="o",
                color=palette[run.label],
                label=run.label,
            )
    for run in runs:
        value = run.metric(run.benchmark, key)
        if run.is_reference and value is not None:
            left.axhline(value, color=palette[run.label], linestyle="--", linewidth=1.2)
            left.annotate(
                run.label,
                (1.0, value),
                xycoords=("axes fraction", "data"),
                xytext=(-4, 3),
                textcoords="offset points",
                ha="right",
                fontsize=9,
                color=palette[run.label],
            )
    right.axhline(0, color="#9ca3af", linewidth=1)
    left.set_title(f"{key} while relearning")
    left.set_xlabel("relearning steps")
    left.set_ylabel(key)
    right.set_title("Recovery (after − before)")
    right.set_xlabel("relearning steps")
    right.set_ylabel(f"Δ {key}")
    left.legend(loc="best")
    way = "up" if ATTACK_METRICS[key] > 0 else "down"
    caption = (
        f"Each unlearned model is fine-tuned for a few steps on a small part of its forget set, then {key} is measured "
        f"again. Flat lines near 0 on the right are better: a line that shoots {way} means the knowledge was only "
        "suppressed. Dashed lines: the target (before unlearning) and the retain model (never saw the forget set)."
    )
    return Image("relearn", "Relearning recovery", caption, render(fig))


def history_series(run: Run, key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of one key in a run's training log, in log order."""
    points = [(number(e.get("step")), number(e.get(key))) for e in run.log_history]
    points = [(s, v) for s, v in points if s is not None and v is not None]
    return [s for s, _ in points], [v for _, v in points]


@styled
def sga_r_plot(runs: list[Run]) -> Image | None:
    """SGA's r over training steps, one line per run that logged it."""
    series = [(r, *history_series(r, "sga_r")) for r in runs]
    series = [(r, s, v) for r, s, v in series if s]
    if not series:
        return None
    palette = colors(runs)
    fig = new_figure(WIDTH, 3.3)
    ax = fig.add_subplot()
    for run, steps, values in series:
        ax.plot(
            steps,
            values,
            color=palette[run.label],
            label=run.label,
            marker="o" if len(steps) < 30 else None,
            markersize=3,
        )
    ax.axhline(0, color="#9ca3af", linewidth=1)
    ax.set_xlabel("training step")
    ax.set_ylabel("r")
    ax.set_title("SGA: r over training steps")
    ax.legend(loc="best")
    caption = (
        "SGA's label-smoothing rate r as logged during training (with r: auto it is recomputed every few steps as the "
        "rate that minimises the update norm, clipped to [r_min, r_max]). r = 0 is plain gradient ascent; negative r "
        "also descends on the normal samples, which keeps the model from diverging. A line pinned at a clip bound "
        "means the bound, not the optimum, set the rate."
    )
    return Image("sga_r", "SGA's r over steps", caption, render(fig))


@styled
def loss_plot(runs: list[Run]) -> Image | None:
    """Training loss per run as small multiples (methods' losses live on different scales)."""
    series = [(r, *history_series(r, "loss")) for r in runs]
    series = [(r, s, v) for r, s, v in series if s]
    if not series:
        return None
    palette = colors(runs)
    cols = min(3, len(series))
    rows = math.ceil(len(series) / cols)
    fig = new_figure(WIDTH, 2.7 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (run, steps, values) in zip(axes.flat, series):
        ax.plot(steps, values, color=palette[run.label], linewidth=1.6)
        ax.set_title(run.label, color=palette[run.label])
        ax.set_xlabel("step")
        seconds = run.train_seconds
        if seconds is not None:
            ax.text(
                0.98,
                0.95,
                f"{seconds:.1f} s",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=9,
                color="#6b7280",
            )
    for ax in list(axes.flat)[len(series) :]:
        ax.set_visible(False)
    caption = (
        "Training loss per step for each run, each on its own y-axis (the methods' losses are on different scales and "
        "gradient-ascent-style losses go negative). Look for smooth convergence; a loss that runs off without bound "
        "usually comes with collapsed model utility."
    )
    return Image("loss", "Training loss", caption, render(fig))


@styled
def accuracy_plot(bench, runs: list[Run]) -> Image | None:
    """The benchmark's ``plot_metrics`` as bars per model: the target (before) beside each run (after)."""
    keys = [k for k in bench.plot_metrics if any(r.metric(bench.name, k) is not None for r in runs)]
    chosen = [r for r in runs if any(r.metric(bench.name, k) is not None for k in keys)]
    if not keys or not chosen:
        return None
    palette = colors(runs)
    fig = new_figure(WIDTH, 3.6)
    ax = fig.add_subplot()
    width = 0.8 / len(chosen)
    for i, run in enumerate(chosen):
        xs = [j - 0.4 + width * (i + 0.5) for j in range(len(keys))]
        ys = [run.metric(bench.name, k) or 0.0 for k in keys]
        ax.bar(xs, ys, width * 0.92, color=palette[run.label], label=run.label, zorder=2)
    if bench.chance is not None:
        ax.axhline(bench.chance, color="#9ca3af", linestyle=":", linewidth=1.2, zorder=1)
    ax.set_xticks(range(len(keys)), [f"{k} ({bench.metric(k).better})" for k in keys])
    ax.set_ylim(0, 1.0)
    ax.set_ylabel("accuracy")
    ax.set_title(f"{bench.name}: accuracy before and after unlearning")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    chance = "" if bench.chance is None else f" The dotted line is chance ({bench.chance:g})."
    caption = (
        "One bar per model: the target is the model before unlearning, the retain model one that never saw "
        f"the forget data; every other bar is an unlearned model.{chance}"
    )
    return Image(f"{bench.name}_accuracy", f"{bench.name} accuracy", caption, render(fig))
