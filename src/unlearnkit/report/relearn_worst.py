"""The relearning grid's worst case per model, beside the target and retain models relearned alike."""

from __future__ import annotations

from unlearnkit.report.collect import Run
from unlearnkit.report.table_model import Cell, Row, Table, cell, fmt_fixed

KEYS = ("forget_rouge", "forget_probability")
TITLE = "Relearning: worst case over the attack budget (unseen forget items)"


def worst_of(run: Run) -> dict | None:
    """The ``worst`` entry of a run's relearning grid as stored (setting, metrics, extra)."""
    for e in run.attacks.get("relearn", []):
        if e.setting == "worst":
            return {"metrics": e.metrics, **e.extra}
    return None


def level_cells(entry: dict | None) -> list[Cell]:
    """Unseen (else all) forget ROUGE-L and probability of an entry."""
    scores = (entry or {}).get("unseen") or (entry or {}).get("metrics") or {}
    return [cell(scores.get(k), fmt_fixed(3)) for k in KEYS]


def relearn_worst_table(runs: list[Run]) -> Table | None:
    """One row per model with a grid: its worst level, setting, and the references' worst."""
    rows = []
    for run in runs:
        worst = worst_of(run)
        if worst is None:
            continue
        refs = worst.get("reference_rows", {})
        cells = (
            level_cells(worst) + level_cells(refs.get("retain")) + level_cells(refs.get("target"))
        )
        rows.append(Row([run.label, str(worst.get("worst_of", ""))], cells, run.role))
    if not rows:
        return None
    caption = (
        "The highest level after relearning over every rate × full/LoRA × steps cell, on the forget items the "
        "attacker did not train on. retain / target: those models relearned on the same samples with the same grid "
        "(their own worst; empty without references). Above the retain row means knowledge came back that the "
        "retain model never had."
    )
    headers = ["ROUGE-L", "prob"] * 3
    groups = [("after attack", 2), ("retain relearned", 2), ("target relearned", 2)]
    hints = ["↑ leak", "↑ leak", "", "", "", ""]
    return Table(
        "relearn_worst", TITLE, caption, ["model", "worst setting"], headers, hints, rows, groups
    )
