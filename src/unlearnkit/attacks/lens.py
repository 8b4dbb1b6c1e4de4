"""Logit lens (TOFU): the forget answer's probability read from the residual stream after each
decoder layer, through the model's final norm and unembedding.

Per item and layer l: p_l = exp(−mean NLL of the answer's tokens), teacher-forced as the eval
convention scores them, when the state after layer l is decoded as if it were the last; the last
layer's reading is the model's own answer probability (the eval's ``forget_probability``). A model that hides an answer in its
middle layers and suppresses it at the end shows ``lens_max_probability`` well above
``lens_last_probability``. The entry's ``curve`` is the mean p_l per layer.

With a retain model (the ``retain`` setting, ``--retain-model`` or the world's), its curve is read
too (``retain_curve``), and ``lens_excess`` = max over layers of (curve − retain curve): how much
more of the answer some layer holds than the retain model's same layer (0 for the retain model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from unlearnkit.attacks.context import AttackContext, AttackResult
from unlearnkit.attacks.copying import free_memory
from unlearnkit.attacks.forget import eval_mode
from unlearnkit.attacks.hidden import forget_batches, layer_states, lens_probability
from unlearnkit.attacks.references import load_reference, reference_path
from unlearnkit.models import check_model_path


@dataclass
class LensParams:
    """``--max-items`` (eval settings) caps the forget questions read."""

    retain: str | None = None  # retain model folder (default: --retain-model or the world's)

    def __post_init__(self):
        if self.retain:
            check_model_path(self.retain)


def lens_rows(model, tok, ctx: AttackContext) -> list[dict]:
    """One row per forget item: its lens probability at every layer."""
    rows = []
    with eval_mode(model):
        for batch in forget_batches(tok, ctx, next(model.parameters()).device):
            labels = batch.tensors["labels"]
            states = layer_states(model, batch)
            curve = torch.stack([lens_probability(model, h, labels) for h in states], 1)
            for index, question, probs in zip(batch.indices, batch.questions, curve.tolist()):
                rows.append(
                    {
                        "index": index,
                        "question": question,
                        "lens_probability": probs,
                        "max_layer": int(np.argmax(probs)),
                    }
                )
    return rows


def mean_curve(rows: list[dict]) -> np.ndarray:
    return np.mean([r["lens_probability"] for r in rows], 0)


def retain_rows(model, tok, ctx: AttackContext, path: str) -> list[dict]:
    retain = load_reference(path, model, "retain")
    try:
        return lens_rows(retain, tok, ctx)
    finally:
        del retain
        free_memory()


def lens_attack(model, tok, ctx: AttackContext, p: LensParams) -> list[AttackResult]:
    rows = lens_rows(model, tok, ctx)
    curve = mean_curve(rows)
    metrics = {
        "lens_max_probability": float(curve.max()),  # the best single layer for the whole set
        "lens_last_probability": float(curve[-1]),
        "lens_max_layer": float(curve.argmax()),
    }
    extra = {"items": len(rows), "curve": curve.round(6).tolist()}
    if path := reference_path(ctx, "retain", p.retain):
        reference = retain_rows(model, tok, ctx, path)
        for row, ref in zip(rows, reference):
            row["retain_lens_probability"] = ref["lens_probability"]
        retain_curve = mean_curve(reference)
        metrics["lens_excess"] = float((curve - retain_curve).max())
        extra |= {"retain_curve": retain_curve.round(6).tolist(), "retain": path}
    return [AttackResult("lens", 0, metrics, {"forget": rows}, extra)]
