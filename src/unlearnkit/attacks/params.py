"""Checks shared by the attacks' parameter dataclasses (values may come from YAML or the CLI)."""

from __future__ import annotations

from dataclasses import fields

from unlearnkit.errors import UserError


def int_list(value, name: str, minimum: int = 0) -> list[int]:
    """``[0, 5]``, ``5`` or ``"0,5"`` as a sorted list of distinct ints ≥ ``minimum``."""
    items = value.split(",") if isinstance(value, str) else value
    items = items if isinstance(items, (list, tuple)) else [items]
    try:
        numbers = sorted({int(str(v).strip()) for v in items if str(v).strip()})
    except ValueError:
        raise UserError(f"{name} must be whole numbers like 1,3,5; got {value!r}") from None
    if not numbers or numbers[0] < minimum:
        raise UserError(f"{name} must be a non-empty list of numbers ≥ {minimum}; got {value!r}")
    return numbers


def integer(value, name: str, minimum: int | None = None) -> int:
    """A whole number (``minimum`` or more, if given)."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise UserError(f"{name} must be a whole number; got {value!r}") from None
    if minimum is not None and number < minimum:
        raise UserError(f"{name} must be at least {minimum}; got {value!r}")
    return number


def positive(value, name: str, upper: float | None = None) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be a number; got {value!r}") from None
    if number <= 0 or (upper is not None and number > upper):
        bound = f" and at most {upper:g}" if upper is not None else ""
        raise UserError(f"{name} must be greater than 0{bound}; got {value!r}")
    return number


def build_params(cls, values: dict | None, kind: str):
    """``cls(**values)``, naming an unknown key and the keys ``kind`` accepts."""
    values = dict(values or {})
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise UserError(
            f"unknown {kind} attack setting(s) {', '.join(unknown)}; "
            f"{kind} takes: {', '.join(known) or 'no settings'}"
        )
    return cls(**values)


def name_list(value, name: str, choices) -> list[str]:
    """``"a,b"`` or ``["a", "b"]``: distinct names, each one of ``choices``, in the order given."""
    items = value.split(",") if isinstance(value, str) else value
    items = items if isinstance(items, (list, tuple)) else [items]
    names = list(dict.fromkeys(str(v).strip() for v in items if str(v).strip()))
    if not names or any(n not in choices for n in names):
        raise UserError(f"{name} must name some of {', '.join(choices)}; got {value!r}")
    return names


def flag(value) -> bool:
    """A bool from YAML / the CLI: true/false, 1/0, yes/no."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false", "1", "0", "yes", "no"):
        raise UserError(f"expected true or false; got {value!r}")
    return text in ("true", "1", "yes")
