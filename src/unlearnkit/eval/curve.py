"""Trajectory evaluation: cheap TOFU metrics every k training steps, written to OUT/curve.json.

``eval.every_steps: k`` (0: off) scores ``eval.curve_items`` evenly spaced forget and retain items
at step 0 (the starting model), every k steps and at the last step: each answer's probability
exp(−ℓ) and the ROUGE-L recall of a greedy answer, the keys of metrics.json (``forget_rouge``,
``forget_probability``, ``retain_rouge``, ``retain_probability``; with ``eval.curve_utility``,
``model_utility`` on as many items of each of its three sets). One run gives a curve, which
``unlearn sweep`` reads for its equal-forgetting comparison (docs/sweeps.md).
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import TrainerCallback

from unlearnkit import launch
from unlearnkit.data.tofu import forget_split_names, load_tofu, tofu_source
from unlearnkit.eval.metrics import aggregate as agg
from unlearnkit.eval.metrics.tofu import probability
from unlearnkit.eval.tofu import (
    EvalSettings,
    option_rows,
    perturbed_rows,
    pick_items,
    scored_answers,
)
from unlearnkit.io import read_json, write_json

CURVE = "curve.json"
UTILITY_SETS = {
    agg.REAL_AUTHORS: "real_authors_perturbed",
    agg.WORLD_FACTS: "world_facts_perturbed",
}


def curve_point(model, tok, sets: dict[str, list[dict]], s: EvalSettings) -> dict[str, float]:
    """``{set}_probability`` and ``{set}_rouge`` of each set's records, as metrics.json has them;
    with the real-authors and world-facts sets, the retain set's truth ratio, theirs and
    ``model_utility`` too (the retain set then scored with its perturbed answers)."""
    utility = agg.REAL_AUTHORS in sets
    point: dict[str, float] = {}
    for name in (agg.FORGET, agg.RETAIN)[: 1 if utility else 2]:
        records = sets[name]
        scores, gens = scored_answers(model, tok, records, lambda r: (r["answer"],), s, name)
        point[f"{name}_probability"] = _mean([probability(sc[0].nll) for sc in scores])
        point[f"{name}_rouge"] = _mean(
            [agg.rouge_fields(g, r["answer"])[agg.ROUGEL_RECALL] for g, r in zip(gens, records)]
        )
    if utility:
        rows = {agg.RETAIN: perturbed_rows(model, tok, sets[agg.RETAIN], s, agg.RETAIN)}
        for name in UTILITY_SETS:
            rows[name] = option_rows(model, tok, sets[name], s, name)
        point.update(agg.tofu_aggregate(rows))
    return point


def curve_sets(data: str | None, split: str, items: int, utility: bool) -> dict[str, list[dict]]:
    """``items`` evenly spaced forget and retain eval records of a TOFU split (and of the
    real-authors and world-facts sets, for ``utility``)."""
    source = tofu_source(data)
    names = forget_split_names(split)
    configs = {agg.FORGET: names["forget_eval"], agg.RETAIN: names["retain_eval"]}
    if utility:
        configs.update(UTILITY_SETS)
    sets = {}
    for name, config in configs.items():
        records = load_tofu(source, config)
        sets[name] = [records[i] for i in pick_items(len(records), items)]
    return sets


class CurveCallback(TrainerCallback):
    """Scores the model at step 0, every ``every`` steps and at the end; rewrites ``path`` each
    time (a killed run keeps its curve so far; a resumed one keeps the points up to its step)."""

    def __init__(self, path: Path, every: int, tok, sets: dict, settings: EvalSettings):
        self.path, self.every, self.tok, self.sets, self.settings = path, every, tok, sets, settings
        self.points: list[dict] = []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step > 0 and self.path.is_file():  # resumed: keep the curve so far
            old = read_json(self.path).get("points", [])
            self.points = [p for p in old if p["step"] <= state.global_step]
        if not any(p["step"] == state.global_step for p in self.points):
            self._score(model, state.global_step)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0:
            self._score(model, state.global_step)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if not self.points or self.points[-1]["step"] != state.global_step:
            self._score(model, state.global_step)

    def _score(self, model, step: int) -> None:
        if not launch.is_main() or model is None:
            return
        training = model.training
        model.eval()
        with torch.no_grad():
            point = {"step": step, **curve_point(model, self.tok, self.sets, self.settings)}
        model.train(training)
        self.points.append(point)
        write_json(self.path, self.record())

    def record(self) -> dict:
        items = {name: len(records) for name, records in self.sets.items()}
        return {"every_steps": self.every, "items": items, "points": self.points}


def _mean(values: list[float]) -> float:
    return float(sum(values) / len(values)) if values else float("nan")
