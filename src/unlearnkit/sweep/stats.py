"""Numbers of a sweep summary: a mean with its Student-t interval, a level read off a curve."""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import stats


def t_interval(values: Sequence[float], confidence: float = 0.95) -> dict:
    """Mean, sample sd and the two-sided Student-t interval of the mean (n − 1 degrees of
    freedom); with one value there is no interval (``low``/``high`` None)."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = math.fsum(values) / n
    if n == 1:
        return {"n": 1, "mean": mean, "sd": None, "low": None, "high": None}
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "low": mean - half, "high": mean + half}


def at_level(points: Sequence[dict], forget: str, utility: str, level: float) -> float | None:
    """``utility`` where ``forget`` first reaches ``level`` along the curve (points in step
    order), linearly interpolated between the two points around it; None if it never does."""
    found = crossing(points, forget, utility, level)
    return None if found is None else found[0]


def crossing(
    points: Sequence[dict], forget: str, utility: str, level: float
) -> tuple[float, int] | None:
    """``at_level``'s utility and the index of the segment it was read on (0: between the first
    two points, i.e. interpolated from the starting model), or None."""
    pairs = [(p[forget], p[utility]) for p in points if forget in p and utility in p]
    for i, ((f0, u0), (f1, u1)) in enumerate(zip(pairs, pairs[1:])):
        if f0 == level:
            return u0, i
        if (f0 - level) * (f1 - level) < 0:
            return u0 + (level - f0) / (f1 - f0) * (u1 - u0), i
    if pairs and pairs[-1][0] == level:
        return pairs[-1][1], len(pairs) - 1
    return None
