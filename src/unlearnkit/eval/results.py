"""An eval folder on disk: ``metrics.json`` plus ``items/<set>.jsonl``; aggregates recomputed from items."""

from __future__ import annotations

import json
from pathlib import Path

from unlearnkit.errors import UserError
from unlearnkit.io import read_json, write_jsonl

ITEMS = "items"
METRICS = "metrics.json"


def write_rows(out: Path, rows_by_set: dict[str, list[dict]]) -> None:
    for name, rows in rows_by_set.items():
        write_jsonl(out / ITEMS / f"{name}.jsonl", rows)


def read_rows(eval_dir: str | Path) -> dict[str, list[dict]]:
    folder = Path(eval_dir) / ITEMS
    if not folder.is_dir():
        raise UserError(f"{eval_dir} is not an eval folder: it has no {ITEMS}/ of per-item scores")
    return {
        p.stem: [
            json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        for p in sorted(folder.glob("*.jsonl"))
    }


def read_metrics(eval_dir: str | Path) -> dict:
    path = Path(eval_dir) / METRICS
    if not path.is_file():
        raise UserError(f"{eval_dir} has no {METRICS}; point at a folder written by `unlearn eval`")
    return read_json(path)
