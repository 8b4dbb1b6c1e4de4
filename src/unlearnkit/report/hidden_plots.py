"""'Gone or hidden?' plots: the logit-lens curve per layer and the prefill KL over k, per model."""

from __future__ import annotations

from matplotlib.ticker import MaxNLocator

from unlearnkit.report.collect import Run, number
from unlearnkit.report.hidden_tables import entry, kl_curve
from unlearnkit.report.plots import RETAIN_COLOR, WIDTH, Image, colors, new_figure, render, styled


def lens_curve(run: Run, key: str = "curve") -> list[float]:
    """A run's lens probability per layer (``key`` 'retain_curve' for the retain model's read)."""
    e = entry(run, "lens")
    values = e.extra.get(key) if e else None
    if not isinstance(values, list):
        return []
    points = [number(v) for v in values]
    return [] if any(v is None for v in points) else points


def lens_lines(runs: list[Run]) -> list[tuple[str, str, list[float], bool]]:
    """(label, colour, curve, dashed) per model, plus the attack's retain read if no retain run has one."""
    palette = colors(runs)
    lines = [(r.label, palette[r.label], lens_curve(r), r.is_reference) for r in runs]
    lines = [line for line in lines if line[2]]
    if not any(r.role == "retain" and lens_curve(r) for r in runs):
        read = [c for r in runs if (c := lens_curve(r, "retain_curve"))]
        if read:
            lines.append(("retain (read by the lens attack)", RETAIN_COLOR, read[0], True))
    return lines


@styled
def lens_plot(runs: list[Run]) -> Image | None:
    """Lens probability of the forget answers against layer, one line per model."""
    lines = lens_lines(runs)
    if not lines:
        return None
    fig = new_figure(WIDTH, 3.6)
    ax = fig.add_subplot()
    for label, color, curve, dashed in lines:
        style = "--" if dashed else "-"
        ax.plot(range(len(curve)), curve, style, marker="o", color=color, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer")
    ax.set_ylabel("answer probability (lens)")
    ax.set_title("Logit lens: forget answers read from each layer")
    ax.legend(loc="best")
    caption = (
        "Each line is a model's mean probability of the forget answers read from each layer's hidden state "
        "through its output head. A line that rises inside and falls at the last layer means the answer is "
        "still computed and hidden at the end; a method that removed it stays near the retain model (dashed) throughout."
    )
    return Image("hidden_lens", "Logit lens", caption, render(fig))


@styled
def prefill_kl_plot(runs: list[Run]) -> Image | None:
    """forget_kl to the target against the number of answer tokens given, one line per model."""
    curves = [(r, kl_curve(r)) for r in runs]
    curves = [(r, c) for r, c in curves if c]
    if not curves:
        return None
    palette = colors(runs)
    fig = new_figure(WIDTH, 3.6)
    ax = fig.add_subplot()
    for run, curve in curves:
        ks, values = zip(*curve)
        style = "--" if run.is_reference else "-"
        ax.plot(ks, values, style, marker="o", color=palette[run.label], label=run.label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("answer tokens given (k)")
    ax.set_ylabel("forget_kl to the target")
    ax.set_title("Prefill KL: distance to the target after k answer tokens")
    ax.legend(loc="best")
    caption = (
        "KL(target ‖ model) over the rest of the forget answers once the first k answer tokens are given. "
        "A method that removed the answers stays as far from the target as the retain model at every k; a line "
        "that falls towards 0 as k grows hid the answers behind their first tokens."
    )
    return Image("hidden_prefill_kl", "Prefill KL", caption, render(fig))


def hidden_plots(runs: list[Run]) -> list[Image]:
    found = [prefill_kl_plot(runs), lens_plot(runs)]
    return [img for img in found if img is not None]
