"""A model's results: the ``metrics.json`` schema that eval writes, attacks extend and the report
reads (``RunResult``, ``AttackEntry``), and an eval folder's ``items/<set>.jsonl`` rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from unlearnkit.errors import UserError
from unlearnkit.io import read_json, read_jsonl, write_json, write_jsonl

ITEMS = "items"
METRICS = "metrics.json"


def write_rows(out: Path, rows_by_set: dict[str, list[dict]]) -> None:
    for name, rows in rows_by_set.items():
        write_jsonl(out / ITEMS / f"{name}.jsonl", rows)


def read_rows(eval_dir: str | Path) -> dict[str, list[dict]]:
    folder = Path(eval_dir) / ITEMS
    if not folder.is_dir():
        raise UserError(f"{eval_dir} is not an eval folder: it has no {ITEMS}/ of per-item scores")
    return {p.stem: read_jsonl(p) for p in sorted(folder.glob("*.jsonl"))}


def read_metrics(eval_dir: str | Path) -> dict:
    path = Path(eval_dir) / METRICS
    if not path.is_file():
        raise UserError(f"{eval_dir} has no {METRICS}; point at a folder written by `unlearn eval`")
    return read_json(path)


# The keys of an attack entry that ``AttackEntry`` names; any other key is kept in ``extra``.
ENTRY_KEYS = ("setting", "value", "metrics")
# The keys of metrics.json that ``RunResult`` names; any other key is kept in ``fields``.
RESULT_KEYS = ("benchmark", "split", "role", "method", "model", "train", "metrics", "attacks")


@dataclass
class AttackEntry:
    """One setting of one attack: an element of metrics.json's ``attacks[kind]`` list."""

    setting: str | None  # e.g. "steps=5", "int4-group128", "k=3"
    value: object  # the attack's strength (steps, bits, k, shots); a number when written here
    metrics: dict[str, float]
    extra: dict = field(default_factory=dict)  # e.g. relearn's "recovery", quantize's "backend"

    def to_json(self) -> dict:
        entry = {"setting": self.setting, "value": self.value, "metrics": self.metrics}
        return {**entry, **self.extra}

    @classmethod
    def from_json(cls, entry: object) -> AttackEntry | None:
        """The entry as stored; None when it has no ``metrics`` object (nothing to show)."""
        if not isinstance(entry, dict) or not isinstance(entry.get("metrics"), dict):
            return None
        extra = {k: v for k, v in entry.items() if k not in ENTRY_KEYS}
        setting = entry.get("setting")
        return cls(
            None if setting is None else str(setting), entry.get("value"), entry["metrics"], extra
        )


@dataclass
class RunResult:
    """One model's metrics.json: its benchmark and metrics, how it was made, what attacks did.

    ``fields`` keeps every other key as stored (data, retain_eval, counts, guard, …), so a file
    read and written again keeps them; old files that lack a key read with the defaults.
    """

    benchmark: str | None  # None in old files that do not name it (the report guesses it)
    metrics: dict[str, float]
    split: str | None = None
    role: str = "unlearned"
    method: str | None = None
    model: str | None = None
    train: dict = field(default_factory=dict)
    attacks: dict[str, list[AttackEntry]] = field(default_factory=dict)
    fields: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: object) -> RunResult | None:
        """A parsed metrics.json; None when it is not one (no ``metrics`` object)."""
        if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
            return None
        attacks = data.get("attacks")
        train = data.get("train")
        return cls(
            benchmark=str(data["benchmark"]) if data.get("benchmark") else None,
            metrics=data["metrics"],
            split=_text(data.get("split")),
            role=str(data.get("role") or "unlearned"),
            method=str(data["method"]) if data.get("method") else None,
            model=_text(data.get("model")),
            train=train if isinstance(train, dict) else {},
            attacks={
                kind: [e for e in map(AttackEntry.from_json, entries) if e is not None]
                for kind, entries in attacks.items()
                if isinstance(entries, list)
            }
            if isinstance(attacks, dict)
            else {},
            fields={k: v for k, v in data.items() if k not in RESULT_KEYS},
        )


def write_metrics(folder: str | Path, result: dict) -> Path:
    """The one writer of a folder's metrics.json (eval, recompute, run, attack, demo): ``result``
    as given, key for key, once ``RunResult.from_json`` reads it (a ``metrics`` object, every
    attack entry with its own); atomic, as every results file (``io.write_json``)."""
    read = RunResult.from_json(result)
    if read is None:
        raise ValueError(f"not a metrics.json result (no metrics object): keys {sorted(result)}")
    attacks = result.get("attacks") or {}
    stored = sum(len(entries) for entries in attacks.values())
    if stored != sum(len(entries) for entries in read.attacks.values()):
        raise ValueError("an attack entry of this result has no metrics object")
    path = Path(folder) / METRICS
    write_json(path, result)
    return path


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
