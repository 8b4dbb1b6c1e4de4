"""An eval folder on disk: ``metrics.json`` plus ``items/<set>.jsonl``; aggregates recomputed from items."""

from __future__ import annotations

import json
from pathlib import Path

from unlearnkit.errors import UserError
from unlearnkit.eval.metrics import aggregate as agg
from unlearnkit.io import read_json, write_json, write_jsonl

ITEMS = "items"
METRICS = "metrics.json"
BENCHMARKS = ("tofu", "muse", "copyright")


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


def retain_reference(benchmark: str, retain_eval: str | Path | None) -> dict:
    """What a benchmark needs from the retain model's eval folder to compare against it."""
    if retain_eval is None:
        return {}
    if benchmark == "tofu":
        rows = read_rows(retain_eval)
        if agg.FORGET not in rows:
            raise UserError(
                f"{retain_eval} has no forget items; evaluate the retain model on the same TOFU split"
            )
        return {
            "retain_truth_ratios": agg.item_truth_ratios(rows[agg.FORGET]),
            "retain_indices": [r.get("index", i) for i, r in enumerate(rows[agg.FORGET])],
        }
    metrics = read_metrics(retain_eval)["metrics"]
    if benchmark == "muse":
        return {"retain_mia_mink": metrics.get("mia_mink")}
    return {
        "retain_bleu": metrics.get("copyright_bleu"),
        "retain_rougeL": metrics.get("copyright_rougeL"),
    }


def aggregate(
    benchmark: str, rows_by_set: dict[str, list[dict]], reference: dict
) -> dict[str, float]:
    """Every aggregate metric of ``benchmark`` from per-item rows (no model needed)."""
    if benchmark == "tofu":
        return agg.tofu_aggregate(rows_by_set, _same_items(rows_by_set, reference))
    if benchmark == "muse":
        return agg.muse_aggregate(rows_by_set, reference.get("retain_mia_mink"))
    if benchmark == "copyright":
        return agg.copyright_aggregate(
            rows_by_set, reference.get("retain_bleu"), reference.get("retain_rougeL")
        )
    raise UserError(f"unknown benchmark '{benchmark}'; choose one of: {', '.join(BENCHMARKS)}")


def _same_items(rows_by_set: dict[str, list[dict]], reference: dict) -> list[float] | None:
    """The retain model's forget truth ratios of the items these rows scored.

    An eval of a subset (``eval.max_items``) is compared with the retain model on the same items:
    forget quality's KS test then sets two samples of one set of questions side by side.
    """
    ratios = reference.get("retain_truth_ratios")
    indices = reference.get("retain_indices")
    forget = rows_by_set.get(agg.FORGET)
    if ratios is None or indices is None or forget is None:
        return ratios
    wanted = [r.get("index", i) for i, r in enumerate(forget)]
    if wanted == indices:
        return ratios
    by_index = dict(zip(indices, ratios, strict=True))
    missing = [i for i in wanted if i not in by_index]
    if missing:
        raise UserError(
            f"the retain model's eval lacks {len(missing)} of the forget items scored here "
            f"(e.g. item {missing[0]}); evaluate it on at least the same items"
        )
    return [by_index[i] for i in wanted]


def recompute(
    eval_dir: str | Path, retain_eval: str | Path | None = None, write: bool = True
) -> dict:
    """Recompute ``metrics.json`` of an eval folder from its items (and the retain model's)."""
    result = read_metrics(eval_dir)
    retain_eval = retain_eval or result.get("retain_eval")
    result["metrics"] = aggregate(
        result["benchmark"], read_rows(eval_dir), retain_reference(result["benchmark"], retain_eval)
    )
    if write:
        write_json(Path(eval_dir) / METRICS, result)
    return result
