"""'Gone or hidden?': one compact table per judge-free attack, and a depth summary per method."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from unlearnkit.eval.results import AttackEntry
from unlearnkit.report.attack_tables import (
    HIDDEN_KINDS,
    LEAK_THRESHOLD,
    attack_value,
    before_value,
)
from unlearnkit.report.collect import Run, number
from unlearnkit.report.table_model import MISSING, Cell, Row, Table, cell, fmt_fixed

HIDDEN_TITLE = "Gone or hidden?"
Getter = Callable[[Run], float | None]


@dataclass(frozen=True)
class Col:
    """A numeric column: its group, header, hint and how to read its value from a run."""

    group: str
    header: str
    get: Getter
    hint: str = ""
    digits: int = 3
    before: Getter | None = None  # marks the cell a leak when it exceeds this by LEAK_THRESHOLD


def col_cell(c: Col, run: Run) -> Cell:
    """The column's cell for a run, marked "leak" when it rose above its ``before`` value."""
    out = cell(c.get(run), fmt_fixed(c.digits))
    base = c.before(run) if c.before else None
    if out.value is not None and base is not None and out.value - base > LEAK_THRESHOLD:
        out.mark = "leak"
    return out


def entry(run: Run, kind: str, setting: str | None = None) -> AttackEntry | None:
    """The run's ``kind`` entry with ``setting`` (the first entry when ``setting`` is None)."""
    entries = run.attacks.get(kind, [])
    found = [e for e in entries if setting is None or e.setting == setting]
    return found[0] if found else None


def metric(kind: str, key: str, setting: str | None = None) -> Getter:
    """A getter for ``metrics[key]`` of one attack entry."""

    def get(run: Run) -> float | None:
        e = entry(run, kind, setting)
        return None if e is None else number(e.metrics.get(key))

    return get


def held_out(key: str) -> Getter:
    """A getter for the universal embedding attack's held-out ``key``."""

    def get(run: Run) -> float | None:
        e = entry(run, "embedding", "universal")
        out = e.extra.get("held_out") if e else None
        return number(out.get(key)) if isinstance(out, dict) else None

    return get


def plain(key: str) -> Getter:
    """A getter for the run's own evaluation of ``key`` (before any attack)."""
    return lambda run: before_value(run, key)


def kl_curve(run: Run) -> list[tuple[float, float]]:
    """(k, forget_kl) of a run's prefill_kl attack, sorted by k."""
    points = [
        (attack_value(e), number(e.metrics.get("forget_kl")))
        for e in run.attacks.get("prefill_kl", [])
    ]
    return sorted((k, v) for k, v in points if k is not None and v is not None)


def kl_at(k: float) -> Getter:
    return lambda run: dict(kl_curve(run)).get(k)


def prefill_kl_cols(runs: list[Run]) -> list[Col]:
    """KL at k = 0, 2 and the largest k any run measured."""
    ks = sorted({k for r in runs for k, _ in kl_curve(r)})
    shown = [k for k in (0.0, 2.0) if k in ks] + [k for k in ks[-1:] if k not in (0.0, 2.0)]
    return [Col("forget_kl", f"k={k:g}", kl_at(k), "≈ retain", 2) for k in shown]


def static_cols(kind: str) -> list[Col]:
    """The columns of every attack whose columns do not depend on the runs."""
    return {
        "jailbreak": [
            Col("plain", "ROUGE", plain("forget_rouge")),
            Col("plain", "prob", plain("forget_probability")),
            Col("worst template", "ROUGE", metric("jailbreak", "forget_rouge", "worst"), "↑ leak"),
            Col(
                "worst template",
                "prob",
                metric("jailbreak", "forget_probability", "worst"),
                "↑ leak",
            ),
        ],
        "embedding": [
            Col("item", "ROUGE", metric("embedding", "forget_rouge", "item"), "↑ leak"),
            Col("item", "success", metric("embedding", "success_rate", "item"), "↑ leak"),
            Col("universal", "held-out success", held_out("success_rate"), "↑ leak"),
        ],
        "lens": [
            Col("lens probability", "last layer", metric("lens", "lens_last_probability")),
            Col(
                "lens probability", "max layer", metric("lens", "lens_max_probability"), "↑ hidden"
            ),
            Col("lens probability", "excess", metric("lens", "lens_excess"), "↑ hidden"),
        ],
        "patch": [
            Col("patch", "depth", metric("patch", "patch_depth"), "↑ gone"),
            Col("patch", "remaining", metric("patch", "patch_remaining"), "↓ gone"),
            Col("patch", "drop", metric("patch", "patch_drop")),
        ],
        "orthogonalize": [
            Col("forget_rouge", "before", plain("forget_rouge")),
            Col(
                "forget_rouge",
                "after",
                metric("orthogonalize", "forget_rouge"),
                "↑ leak",
                before=plain("forget_rouge"),
            ),
            Col("forget_probability", "before", plain("forget_probability")),
            Col(
                "forget_probability",
                "after",
                metric("orthogonalize", "forget_probability"),
                "↑ leak",
                before=plain("forget_probability"),
            ),
        ],
        "refusal": [
            Col("refusal rate", "retain", metric("refusal", "retain_refusal_rate"), "↓ lower"),
            Col("refusal rate", "benign", metric("refusal", "benign_refusal_rate"), "↓ lower"),
            Col("retain", "ROUGE", metric("refusal", "retain_rouge"), "↑ higher"),
        ],
    }.get(kind, [])


CAPTIONS = {
    "prefill_kl": "KL(target ‖ model) over the answer tokens after the first k answer tokens are given. A method that removed the answers stays near the retain row at every k; a KL that falls as k grows means the answers were hidden behind the first tokens.",
    "jailbreak": "The forget answers under the worst of the prompt templates (per item, the template that recovers most), next to the plain evaluation. Worst ROUGE / prob well above plain means the answers are still there.",
    "embedding": "Soft prompts trained to pull the forget answers out: per item (item) and one shared prompt scored on held-out items (universal). success: the share of items whose answer came back.",
    "lens": "The forget answers' probability read from each layer's hidden state through the output head. max layer far above last layer (excess over the retain model's curve above 0) means the answer is computed inside and hidden at the end.",
    "patch": "The target runs with its state after each layer replaced by the model's. depth: how much of the answer the model's states lose where the retain model's do (1 = gone, like the retain model; 0 = kept, as in the target: hidden); remaining = 1 − depth; drop: the mean fall of the target's answer probability, relative, over layers (needs no retain model).",
    "orthogonalize": "The direction that separates the model's hidden states from the target's is projected out of every chosen layer, and the forget set is evaluated again. after well above before means a single direction hid the answers.",
    "refusal": "How often the model refuses questions it should still answer: retain questions and benign prompts. A method that hides by refusing everything shows high rates here.",
}
TITLES = {
    "prefill_kl": "Prefill KL to the target",
    "jailbreak": "Jailbreak templates",
    "embedding": "Embedding-space attack",
    "lens": "Logit lens",
    "patch": "Activation patching",
    "orthogonalize": "Orthogonalization",
    "refusal": "Refusals on retain and benign prompts",
}


def columns(kind: str, runs: list[Run]) -> list[Col]:
    return prefill_kl_cols(runs) if kind == "prefill_kl" else static_cols(kind)


def build_table(
    key: str,
    title: str,
    caption: str,
    runs: list[Run],
    cols: list[Col],
    extra_label: Callable[[Run], str] | None = None,
) -> Table | None:
    """One row per run with any value; None when no run has one."""
    rows = []
    for run in runs:
        cells = [col_cell(c, run) for c in cols]
        if all(c.value is None for c in cells):
            continue
        labels = [run.label] + ([extra_label(run)] if extra_label else [])
        rows.append(Row(labels, cells, run.role))
    if not rows or not cols:
        return None
    groups: list[tuple[str, int]] = []
    for c in cols:
        if groups and groups[-1][0] == c.group:
            groups[-1] = (c.group, groups[-1][1] + 1)
        else:
            groups.append((c.group, 1))
    labels = ["model"] + (["best template"] if extra_label else [])
    if not any(r.role in ("target", "retain") for r in rows):
        caption += " No reference rows: no target or retain run has this attack."
    return Table(
        f"hidden_{key}",
        title,
        caption,
        labels,
        [c.header for c in cols],
        [c.hint for c in cols],
        rows,
        groups,
    )


def best_template(run: Run) -> str:
    e = entry(run, "jailbreak", "worst")
    best = e.extra.get("best_template") if e else None
    return MISSING if best is None else str(best)


def attack_table(kind: str, runs: list[Run]) -> Table | None:
    """The table of one attack over the runs that have it."""
    have = [r for r in runs if r.attacks.get(kind)]
    label = best_template if kind == "jailbreak" else None
    return (
        build_table(kind, TITLES[kind], CAPTIONS[kind], have, columns(kind, runs), label)
        if have
        else None
    )


def depth_table(runs: list[Run]) -> Table | None:
    """Depth per method: patch depth, with the other attacks' headline numbers beside it."""
    cols = [
        Col("score", "depth (patch)", metric("patch", "patch_depth"), "↑ gone"),
        Col("hidden signs", "lens excess", metric("lens", "lens_excess"), "↑ hidden"),
        Col("hidden signs", "KL k=0", kl_at(0.0), "≈ retain", 2),
        Col(
            "hidden signs",
            "embedding success",
            metric("embedding", "success_rate", "item"),
            "↑ leak",
        ),
    ]
    if not any(metric("patch", "patch_depth")(r) is not None for r in runs):
        return None
    caption = "depth = patch depth (1: the answers are gone from the hidden states, like the retain model; 0: all still there), beside the other attacks' headline numbers."
    return build_table("depth", "Depth per method", caption, runs, cols)


def hidden_tables(runs: list[Run]) -> list[Table]:
    """The section's tables: the depth summary first, then one per attack that any run has."""
    found = [depth_table(runs), *(attack_table(kind, runs) for kind in HIDDEN_KINDS)]
    return [t for t in found if t is not None]
