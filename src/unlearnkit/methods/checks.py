"""Checks a method runs on its params when it is built (config check time, before any model
loads): a value outside the domain of the maths is one ``UserError``, not a traceback mid-step."""

from __future__ import annotations

import math

from unlearnkit.errors import UserError


def positive(params, *names: str) -> None:
    """Each of ``names`` a finite number > 0 (a divisor, a learning rate, an epsilon)."""
    for name in names:
        value = getattr(params, name)
        if not (_is_number(value) and value > 0):
            raise UserError(f"params.{name} must be a finite number > 0, got {value!r}")


def non_negative(params, *names: str) -> None:
    """Each of ``names`` a finite number >= 0 (a radius, a weight that 0 switches off)."""
    for name in names:
        value = getattr(params, name)
        if not (_is_number(value) and value >= 0):
            raise UserError(f"params.{name} must be a finite number >= 0, got {value!r}")


def at_least(params, name: str, minimum: int) -> None:
    """``name`` a whole number >= ``minimum`` (a count)."""
    value = getattr(params, name)
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= minimum):
        raise UserError(f"params.{name} must be a whole number >= {minimum}, got {value!r}")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
