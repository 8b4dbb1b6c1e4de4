"""Refusal templates: the project's own list, used as y_idk (IDK, IDK-DPO) and FLAT's template y_e."""

from __future__ import annotations

import random
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def _refusals() -> tuple[str, ...]:
    text = resources.files("unlearnkit").joinpath("resources/refusals.txt").read_text("utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def load_refusals() -> list[str]:
    """All refusal / "I don't know" answers, in file order."""
    return list(_refusals())


@lru_cache(maxsize=16)
def _order(seed: int) -> tuple[int, ...]:
    order = list(range(len(_refusals())))
    random.Random(seed).shuffle(order)
    return tuple(order)


def pick_refusal(index: int, seed: int = 0) -> str:
    """The refusal for item ``index``: a seeded permutation, so consecutive items differ."""
    refusals = _refusals()
    return refusals[_order(seed)[index % len(refusals)]]
