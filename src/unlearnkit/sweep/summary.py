"""A sweep's summary: per group (label + settings) over its seeds, each metric's mean and 95 %
Student-t interval, and the utility at equal forgetting read off each cell's curve.json;
written to OUT/summary.json and OUT/summary.md."""

from __future__ import annotations

from pathlib import Path

from unlearnkit.eval.curve import CURVE
from unlearnkit.io import atomic_path, read_json, write_json, write_text_atomic
from unlearnkit.sweep.grid import EqualForgetting
from unlearnkit.sweep.plot import PLOT, equal_forgetting_plot
from unlearnkit.sweep.stats import crossing, t_interval

FILES = "summary_files"
# The columns of summary.md's table, where the runs have them (summary.json has every metric).
HEADLINE = (
    "forget_quality",
    "model_utility",
    "forget_rouge",
    "forget_probability",
    "forget_truth_ratio",
    "retain_rouge",
    "privleak",
    "verbmem_f",
    "knowmem_f",
    "knowmem_r",
    "wmdp_acc",
    "mmlu_acc",
)


def groups_of(records: list[dict]) -> dict[str, list[dict]]:
    """The finished cells by group, in grid order."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        if r["metrics"] is not None:
            groups.setdefault(r["group"], []).append(r)
    return groups


def metric_stats(cells: list[dict]) -> dict[str, dict]:
    """Per numeric metric of the cells: t_interval over the cells that have it, and the values."""
    names = sorted({k for c in cells for k, v in c["metrics"].items() if _number(v)})
    out = {}
    for name in names:
        values = [c["metrics"][name] for c in cells if _number(c["metrics"].get(name))]
        out[name] = {**t_interval(values), "values": values}
    return out


def equal_forgetting(cells: list[dict], ef: EqualForgetting) -> dict[str, dict]:
    """Per level: the utility at that forget level over the cells whose curve reaches it."""
    curves = [_curve(c["folder"]) for c in cells]
    out = {}
    for level in ef.levels:
        read = [crossing(points, ef.forget, ef.utility, level) for points in curves if points]
        values = [r[0] for r in read if r is not None]
        first = sum(1 for r in read if r is not None and r[1] == 0)
        entry = {"curves": len(read), "reached": len(values), "first_segment": first}
        entry["values"] = values
        out[f"{level:g}"] = {**entry, **(t_interval(values) if values else {"mean": None})}
    return out


def summarise(records: list[dict], ef: EqualForgetting) -> dict:
    """summary.json's content."""
    groups = []
    for name, cells in groups_of(records).items():
        entry = {
            "group": name,
            "label": cells[0]["label"],
            "settings": cells[0]["settings"],
            "seeds": [c["seed"] for c in cells],
            "n": len(cells),
            "metrics": metric_stats(cells),
        }
        if ef.levels:
            entry["equal_forgetting"] = equal_forgetting(cells, ef)
        groups.append(entry)
    seconds = [r["seconds"] for r in records if r["seconds"] is not None]
    return {
        "cells": len(records),
        "finished": len(seconds),
        "not_finished": [r["name"] for r in records if r["seconds"] is None],
        "cell_seconds": round(sum(seconds), 2),
        "confidence": 0.95,
        "interval": "Student t over seeds, n-1 degrees of freedom; none for n = 1",
        "equal_forgetting": {"forget": ef.forget, "utility": ef.utility, "levels": ef.levels},
        "groups": groups,
    }


def markdown(summary: dict) -> str:
    """summary.md: the headline metrics per group, then utility at equal forgetting."""
    present = {m for g in summary["groups"] for m in g["metrics"]}
    columns = [m for m in HEADLINE if m in present] or sorted(present)
    lines = [
        "# Sweep summary",
        "",
        f"{summary['finished']} of {summary['cells']} cells finished "
        f"({summary['cell_seconds']:.0f} s of runs). Each entry: mean [95 % Student-t interval] "
        "over the group's seeds; n = 1 has no interval (one seed).",
        "",
        "| group | n | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for g in summary["groups"]:
        cells = [_cell(g["metrics"].get(m)) for m in columns]
        lines.append(f"| {g['group']} | {g['n']} | " + " | ".join(cells) + " |")
    ef = summary["equal_forgetting"]
    if ef["levels"]:
        levels = [f"{x:g}" for x in ef["levels"]]
        lines += [
            "",
            f"## Equal forgetting: {ef['utility']} where {ef['forget']} reaches each level",
            "",
            "Read off each run's curve.json, linearly interpolated; `—` where no curve reaches "
            "the level (reached/curves says how many did). 'k from step 0': k of them were read "
            "between the starting model and the first curve point (a coarse read-off: use a "
            "smaller eval.every_steps).",
            "",
            "| group | " + " | ".join(f"{ef['forget']} = {x}" for x in levels) + " |",
            "|---|" + "---|" * len(levels),
        ]
        for g in summary["groups"]:
            at = g.get("equal_forgetting", {})
            lines.append(
                f"| {g['group']} | " + " | ".join(_level(at.get(x)) for x in levels) + " |"
            )
    return "\n".join(lines) + "\n"


def write_summary(out: Path, records: list[dict], ef: EqualForgetting) -> dict:
    """summary.json, summary.md and, where a level was reached, its plot in summary_files/."""
    summary = summarise(records, ef)
    write_json(out / "summary.json", summary)
    text, png = markdown(summary), equal_forgetting_plot(summary)
    path = out / FILES / PLOT
    if png is not None:
        with atomic_path(path) as tmp:
            tmp.write_bytes(png)
        text += f"\n![utility at equal forgetting]({FILES}/{PLOT})\n"
    else:
        path.unlink(missing_ok=True)
    write_text_atomic(out / "summary.md", text)
    return summary


def _cell(s: dict | None) -> str:
    if s is None:
        return "—"
    if s["low"] is None:
        return f"{s['mean']:.3g} (n=1)"
    return f"{s['mean']:.3g} [{s['low']:.3g}, {s['high']:.3g}]"


def _level(s: dict | None) -> str:
    if s is None or s["mean"] is None:
        return f"— (0/{s['curves']})" if s else "—"
    first = f", {s['first_segment']} from step 0" if s.get("first_segment") else ""
    return f"{_cell(s)} ({s['reached']}/{s['curves']}{first})"


def _curve(folder: str) -> list[dict]:
    path = Path(folder) / CURVE
    return read_json(path).get("points", []) if path.is_file() else []


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
