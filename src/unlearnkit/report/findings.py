"""The report's headline findings: best forget quality and utility, relearning resistance, leaks."""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.report.attack_tables import (
    ATTACK_METRICS,
    LEAK_THRESHOLD,
    RELEARN,
    attack_entries,
    before_value,
    relearn_baseline,
    relearn_curve,
    relearn_metric,
)
from unlearnkit.report.collect import Run, number
from unlearnkit.report.table_model import fmt_fixed, fmt_sci

MIN_FORGOTTEN = 0.25  # share of the target-to-retain gap a method must forget to be judged


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
                    before, after = before_value(run, key), number(entry.metrics.get(key))
                    if before is not None and after is not None:
                        leaks.append(
                            (
                                (after - before) * sign,
                                run.label,
                                kind if entry.setting is None else entry.setting,
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
