"""A report table as data: columns with a direction, cells with text and a colour mark."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from unlearnkit.report.collect import number

MISSING = "–"


def fmt_fixed(digits: int) -> Callable[[float], str]:
    return lambda v: f"{v:.{digits}f}"


def fmt_sci(v: float) -> str:
    return f"{v:.1e}"


def fmt_delta(v: float) -> str:
    return f"{v:+.3f}"


@dataclass(frozen=True)
class Column:
    """A metric column: which way is better decides the best/worst colouring."""

    key: str
    label: str
    better: str = (
        ""  # "higher", "lower", "retain" (closest to the retain row), "zero", or "" (no colour)
    )
    fallback: str | float = (
        "lower"  # for "retain" when there is no retain row: a direction or a value
    )
    fmt: Callable[[float], str] = fmt_fixed(3)
    scale: float = 1.0

    @property
    def hint(self) -> str:
        return {"higher": "↑ higher", "lower": "↓ lower", "retain": "≈ retain", "zero": "≈ 0"}.get(
            self.better, ""
        )


@dataclass
class Cell:
    text: str
    value: float | None = None
    mark: str = ""  # "best", "worst", "leak", "gain" or ""


@dataclass
class Row:
    labels: list[str]
    cells: list[Cell]
    role: str = "unlearned"


@dataclass
class Table:
    key: str
    title: str
    caption: str
    label_headers: list[str]
    headers: list[str]
    hints: list[str]
    rows: list[Row]
    groups: list[tuple[str, int]] = field(default_factory=list)  # (name, span) over ``headers``

    @property
    def flat_headers(self) -> list[str]:
        """Numeric column headers with their group name in front (for Markdown)."""
        if not self.groups:
            return list(self.headers)
        names = [name for name, span in self.groups for _ in range(span)]
        return [f"{g} {h}" for g, h in zip(names, self.headers)]


def cell(value: float | None, fmt: Callable[[float], str], scale: float = 1.0) -> Cell:
    value = number(value)
    if value is None:
        return Cell(MISSING)
    return Cell(fmt(value * scale), value * scale)
