"""Logit lens (TOFU): the forget answer's probability read from the residual stream after each
decoder layer, through the model's final norm and unembedding.

Per item and layer l: p_l = exp(−mean NLL of the answer's tokens), teacher-forced as the eval
convention scores them, when the state after layer l is decoded as if it were the last; the last
layer's reading is the model's own answer probability (the eval's ``forget_probability``). A model that hides an answer in its
middle layers and suppresses it at the end shows ``lens_max_probability`` well above
``lens_last_probability``. The entry's ``curve`` is the mean p_l per layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from unlearnkit.attacks.context import AttackContext, AttackResult
from unlearnkit.attacks.forget import eval_mode
from unlearnkit.attacks.hidden import forget_batches, layer_states, lens_probability


@dataclass
class LensParams:
    """No settings: ``--max-items`` (eval settings) caps the forget questions read."""


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


def lens_attack(model, tok, ctx: AttackContext, p: LensParams) -> list[AttackResult]:
    rows = lens_rows(model, tok, ctx)
    curve = np.mean([r["lens_probability"] for r in rows], 0)
    metrics = {
        "lens_max_probability": float(curve.max()),  # the best single layer for the whole set
        "lens_last_probability": float(curve[-1]),
        "lens_max_layer": float(curve.argmax()),
    }
    extra = {"items": len(rows), "curve": [round(float(v), 6) for v in curve]}
    return [AttackResult("lens", 0, metrics, {"forget": rows}, extra)]
