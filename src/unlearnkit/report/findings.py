"""The report's headline findings: best forget quality and utility, relearning resistance, leaks.

Every verdict is among the models that forgot: a model whose forget metric moved less than
:data:`~unlearnkit.forgetting.MIN_FORGOTTEN` of the target-to-retain gap is not ranked but listed
as "did not forget" (its utility is the target's, and no attack can bring back what it kept).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from unlearnkit.forgetting import MIN_FORGOTTEN, forget_metric, forgot_enough, moved
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

__all__ = ["MIN_FORGOTTEN", "Finding", "findings"]

NOT_FORGOT = "did not forget"
NONE_FORGOT = "none forgot"


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
        leak_finding(unlearned, runs),
    ]
    return [f for f in found if f is not None]


def reference_value(runs: list[Run], role: str, key: str) -> float | None:
    """``key`` of the first run with ``role`` (target or retain) that has it, if any."""
    return next(
        (v for r in runs if r.role == role and (v := before_value(r, key)) is not None), None
    )


def run_forgot(run: Run, runs: list[Run]) -> bool | None:
    """Whether ``run`` moved its benchmark's forget metric far enough from the target's value
    (:func:`~unlearnkit.forgetting.forgot_enough`); None where that cannot be told (no target row,
    or the metric is not stored)."""
    key = forget_metric(run.benchmark)
    if key is None or (value := before_value(run, key)) is None:
        return None
    target = reference_value(runs, "target", key)
    if target is None:
        return None
    return forgot_enough(value, target, reference_value(runs, "retain", key), key)


def split_forgot(unlearned: list[Run], runs: list[Run]) -> tuple[list[Run], list[str]]:
    """(the models that forgot or cannot be told not to have, labels of those that did not)."""
    judged = [(r, run_forgot(r, runs)) for r in unlearned]
    return [r for r, ok in judged if ok is not False], [r.label for r, ok in judged if ok is False]


def not_forgot_text(labels: list[str]) -> str:
    return f"{NOT_FORGOT}: {', '.join(labels)}"


def none_forgot(title: str, labels: list[str]) -> Finding:
    """The card when every candidate failed the forgetting rule: no best is named."""
    return Finding(
        title,
        NONE_FORGOT,
        f"no model moved its forget metric {MIN_FORGOTTEN:.0%} of the target-to-retain gap "
        f"({not_forgot_text(labels)})",
    )


def best_finding(
    unlearned: list[Run],
    runs: list[Run],
    key: str,
    title: str,
    fmt: Callable[[float], str],
    ref_role: str,
) -> Finding | None:
    """Among the models that forgot, the one with the highest TOFU ``key``, next to a reference."""
    candidates = [r for r in unlearned if r.metric("tofu", key) is not None]
    if not candidates:
        return None
    forgot, dropped = split_forgot(candidates, runs)
    if not forgot:
        return none_forgot(title, dropped)
    run = max(forgot, key=lambda r: r.metric("tofu", key) or 0.0)
    refs = [v for r in runs if r.role == ref_role and (v := r.metric("tofu", key)) is not None]
    ref_text = f" ({ref_role}: {fmt(refs[0])})" if refs else ""
    detail = f"{key} {fmt(run.metric('tofu', key) or 0.0)}{ref_text}"
    if dropped:
        detail += f"; {not_forgot_text(dropped)}"
    return Finding(title, run.label, detail)


def relearn_finding(unlearned: list[Run], key: str | None, runs: list[Run]) -> Finding | None:
    """The model that gets back the smallest share of what it forgot by the last relearning step.

    What a method forgot is how far unlearning moved ``key`` from the target's value (measured at
    relearning's 0-step point); a method that did not forget enough
    (:func:`~unlearnkit.forgetting.forgot_enough`) is not judged (a small recovery then means
    nothing). Without a target row, the raw recovery ranks.
    """
    if key is None:
        return None
    sign = ATTACK_METRICS[key]
    target, retain = reference_value(runs, "target", key), reference_value(runs, "retain", key)
    final, too_little = [], []
    for run in unlearned:
        curve = relearn_curve(run, key)
        base = relearn_baseline(run, key, curve)
        if not curve or base is None or curve[-1][0] <= 0:
            continue
        delta, steps = curve[-1][1] - base, curve[-1][0]
        if target is not None and not forgot_enough(base, target, retain, key):
            too_little.append(run.label)
            continue
        forgot = None if target is None else moved(base, target, key)
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
        detail += f" (not judged, {not_forgot_text(too_little)})"
    return Finding(title, run.label, detail)


def attack_leaks(run: Run) -> list[tuple[float, str, str, str, float]]:
    """(signed leak, model, setting, metric, change) for each attack setting but relearning."""
    leaks = []
    for kind in run.attacks:
        for entry in attack_entries(run, kind) if kind != RELEARN else []:
            setting = kind if entry.setting is None else entry.setting
            for key, sign in ATTACK_METRICS.items():
                before, after = before_value(run, key), number(entry.metrics.get(key))
                if before is not None and after is not None:
                    leaks.append(((after - before) * sign, run.label, setting, key, after - before))
    return leaks


def leak_finding(unlearned: list[Run], runs: list[Run]) -> Finding | None:
    """Among the models that forgot, the attack setting that brought the most knowledge back."""
    attacked = [r for r in unlearned if attack_leaks(r)]
    if not attacked:
        return None
    forgot, dropped = split_forgot(attacked, runs)
    if not forgot:
        return none_forgot("Attacks", dropped)
    amount, label, setting, key, delta = max(
        (leak for r in forgot for leak in attack_leaks(r)), key=lambda x: x[0]
    )
    suffix = f"; {not_forgot_text(dropped)}" if dropped else ""
    if amount <= LEAK_THRESHOLD:
        return Finding(
            "Attacks",
            "no leak",
            f"no attack moved a forget metric by more than {LEAK_THRESHOLD}{suffix}",
        )
    return Finding("Largest attack leak", label, f"{setting}: {key} {delta:+.3f}{suffix}")
