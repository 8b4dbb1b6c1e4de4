"""Did a model forget? How far unlearning moved a forget metric, as a share of the target-to-retain gap.

One rule for the report's verdicts and for the line `unlearn run` prints at its end: a model
moved a forget metric by ``(target − value) × sign`` (sign: the direction in which the metric
falls as knowledge goes, from the benchmarks' metric specs), judged against ``|target − retain|``.
"""

from __future__ import annotations

import math

from unlearnkit.benchmarks import BENCHMARKS

MIN_FORGOTTEN = 0.25  # share of the target-to-retain gap a model must forget to be judged
MIN_MOVED = 0.1  # below this share `unlearn run` says the model did not forget


def forget_metric(benchmark: str) -> str | None:
    """The benchmark's headline forget metric: the first one its attacks report."""
    bench = BENCHMARKS.get(benchmark)
    return bench.attacked[0] if bench is not None and bench.attacked else None


def recovery_sign(key: str) -> int:
    """+1 / −1: the sign of a change in ``key`` that means knowledge came back (0: unknown)."""
    for bench in BENCHMARKS.values():
        if (spec := bench.metric(key)) is not None and spec.recovery:
            return spec.recovery
    return 0


def moved(value: float, target: float, key: str) -> float:
    """How far ``value`` moved from the target's value towards forgetting (negative: the wrong way)."""
    return (target - value) * recovery_sign(key)


def forgot_enough(
    value: float,
    target: float,
    retain: float | None,
    key: str,
    minimum: float = MIN_FORGOTTEN,
) -> bool:
    """``value`` moved at least ``minimum`` of the target-to-retain gap (no retain value, or no
    gap: of 1.0, the metric's own scale)."""
    gap = abs(target - retain) if retain is not None else None
    return moved(value, target, key) >= minimum * (gap or 1.0)


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def forgetting_record(value: object, target: object, retain: object, key: str) -> dict | None:
    """What `unlearn run` writes to metrics.json as ``forgetting``: how far ``key`` moved, the
    target-to-retain gap and whether it moved at least :data:`MIN_MOVED` of it (None: a value is
    missing, or target and retain do not differ)."""
    value, target, retain = _finite(value), _finite(target), _finite(retain)
    if value is None or target is None or retain is None or target == retain:
        return None
    gap, distance = abs(target - retain), moved(value, target, key)
    return {
        "metric": key,
        "value": value,
        "target": target,
        "retain": retain,
        "moved": distance,
        "gap": gap,
        "share": distance / gap,
        "enough": distance >= MIN_MOVED * gap,
    }


def did_not_move(record: dict | None) -> str | None:
    """The line `unlearn run` ends with when the model did not forget; None when it did."""
    if record is None or record.get("enough", True):
        return None
    return (
        f"unlearn run: {record['metric']} moved {record['moved']:.3g} of the {record['gap']:.3g} "
        f"target-to-retain gap (< {MIN_MOVED:.0%}): the model did not forget; raise "
        "train.learning_rate or train.max_steps"
    )
