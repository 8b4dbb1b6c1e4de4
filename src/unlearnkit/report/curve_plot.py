"""The report's utility-against-forgetting plot: each run's curve.json (``eval.every_steps``)."""

from __future__ import annotations

from unlearnkit.eval.curve import CURVE
from unlearnkit.io import read_json
from unlearnkit.report.collect import Run
from unlearnkit.report.plots import WIDTH, Image, colors, new_figure, render, styled

FORGET, UTILITY = "forget_rouge", "retain_rouge"


def curve_points(run: Run) -> list[dict]:
    """The run's curve points that have both metrics, in step order ([] without a curve)."""
    path = run.path / CURVE
    if not path.is_file():
        return []
    points = read_json(path).get("points", [])
    return [
        p for p in points if isinstance(p.get(FORGET), float) and isinstance(p.get(UTILITY), float)
    ]


@styled
def curve_plot(runs: list[Run]) -> Image | None:
    """Retain ROUGE-L against forget ROUGE-L along each run's training, step 0 marked."""
    series = [(r, curve_points(r)) for r in runs]
    series = [(r, p) for r, p in series if len(p) > 1]
    if not series:
        return None
    palette = colors(runs)
    fig = new_figure(WIDTH, 4.6)
    ax = fig.add_subplot()
    for run, points in series:
        xs, ys = [p[FORGET] for p in points], [p[UTILITY] for p in points]
        ax.plot(xs, ys, color=palette[run.label], marker="o", markersize=3, label=run.label)
        ax.scatter(xs[:1], ys[:1], color=palette[run.label], marker="s", s=40, zorder=3)
    ax.invert_xaxis()  # training moves right: less forget ROUGE-L
    ax.set_xlabel("forget ROUGE-L (curve items)  →  more forgotten")
    ax.set_ylabel("retain ROUGE-L  →  better")
    ax.set_title("Utility against forgetting during training")
    if len(series) <= 12:
        ax.legend(loc="best")
    caption = (
        "Each line is one run's training curve (eval.every_steps), from its starting model (square) to its last step. "
        "Compare methods at the same forget level (a vertical line), not at the same step: a method that forgets "
        "less keeps more utility for that reason alone. `unlearn sweep` reads these curves at stated levels "
        "(docs/sweeps.md, Equal forgetting)."
    )
    return Image("curves", "Utility against forgetting", caption, render(fig))
