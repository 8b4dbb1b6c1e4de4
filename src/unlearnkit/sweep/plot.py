"""summary.md's plot: each group's utility at each forget level, mean and t-interval over seeds."""

from __future__ import annotations

import matplotlib

from unlearnkit.report.plots import METHOD_COLORS, STYLE, WIDTH, new_figure, render

PLOT = "equal_forgetting.png"


def equal_forgetting_plot(summary: dict) -> bytes | None:
    """PNG of utility against the forget level, one line per group (None: no level reached)."""
    ef = summary["equal_forgetting"]
    series = []
    for g in summary["groups"]:
        at = g.get("equal_forgetting", {})
        points = [(x, at.get(f"{x:g}", {})) for x in ef["levels"]]
        points = [(x, s) for x, s in points if s.get("mean") is not None]
        if points:
            series.append((g["group"], points))
    if not series:
        return None
    with matplotlib.rc_context(STYLE):
        fig = new_figure(WIDTH, 4.6)
        ax = fig.add_subplot()
        levels = ef["levels"]
        dodge = (max(levels) - min(levels) or 1.0) * 0.008  # error bars side by side, not stacked
        for i, (name, points) in enumerate(series):
            xs = [x + (i - (len(series) - 1) / 2) * dodge for x, _ in points]
            ys = [s["mean"] for _, s in points]
            low = [s["mean"] - s["low"] if s["low"] is not None else 0 for _, s in points]
            high = [s["high"] - s["mean"] if s["high"] is not None else 0 for _, s in points]
            color = METHOD_COLORS[i % len(METHOD_COLORS)]
            ax.errorbar(xs, ys, yerr=[low, high], color=color, marker="o", capsize=3, label=name)
        ax.invert_xaxis()  # right: more forgotten
        ax.set_xlabel(f"{ef['forget']} level  →  more forgotten")
        ax.set_ylabel(f"{ef['utility']} at that level")
        ax.set_title("Utility at equal forgetting (mean, 95 % t-interval over seeds)")
        if len(series) <= 14:
            ax.legend(loc="best")
        return render(fig)
