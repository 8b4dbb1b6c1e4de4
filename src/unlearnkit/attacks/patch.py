"""Activation patching depth (TOFU), in the spirit of UDS: is the forget answer still in the
attacked model's hidden states, layer by layer, as the target model would read them?

For each forget item and each decoder layer l, the *target* model runs on question + answer with
the state after its layer l replaced by another model's state after layer l (same tokens), and
p_src(l) is the answer probability it then gives (p_norm = exp(−mean token NLL), the eval's
``forget_probability``). With p_T the target's own:

- drop_src(l) = max(0, p_T − p_src(l)), for src = the attacked model (A) and the retain model (R);
- the informative layers S are those where the retain model's states remove more than
  ``threshold`` · p_T (where they do not, the answer is not held apart at that depth);
- ``depth`` = clip(Σ_{l∈S} drop_A(l) / Σ_{l∈S} drop_R(l), 0, 1): 1 when the attacked model's
  states lose the answer as the retain model's do (removed), 0 when they keep it as the
  target's do (hidden or never unlearned); an item with S empty has no depth (left out of
  the mean, counted in ``depth_items``). ``patch_remaining`` = 1 − ``patch_depth``.

``patch_drop`` needs no retain model: the mean over layers of drop_A(l) / p_T.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from unlearnkit.attacks.context import AttackContext, AttackResult
from unlearnkit.attacks.copying import free_memory
from unlearnkit.attacks.forget import eval_mode
from unlearnkit.attacks.hidden import answer_probability, forget_batches, layer_hooks, layer_states
from unlearnkit.attacks.params import positive
from unlearnkit.attacks.references import load_reference, reference_path, required
from unlearnkit.models import check_model_path


@dataclass
class PatchParams:
    target: str | None = None  # target model folder (default: the run's or the world's)
    retain: str | None = None  # retain model folder (default: --retain-model or the world's)
    threshold: float = 0.05  # share of p_T a retain patch must remove for its layer to count

    def __post_init__(self):
        self.threshold = positive(self.threshold, "threshold", 1.0)
        for path in (self.target, self.retain):
            if path:
                check_model_path(path)


@torch.no_grad()
def patched_curve(target, source, batch) -> torch.Tensor:
    """p of the target with ``source``'s state after layer l patched in, (B, layers)."""
    curve = []
    for layer, state in enumerate(layer_states(source, batch)):
        with layer_hooks(target, {layer: lambda _, s=state: s}):
            curve.append(answer_probability(target, batch))
    return torch.stack(curve, 1)


def depth(p_target: float, attacked: np.ndarray, retain: np.ndarray, threshold: float):
    """(depth or None, informative layers) of one item; see the module docstring."""
    drop_a = np.maximum(0.0, p_target - attacked)
    drop_r = np.maximum(0.0, p_target - retain)
    informative = drop_r > threshold * p_target
    if not informative.any():
        return None, []
    score = drop_a[informative].sum() / drop_r[informative].sum()
    return float(np.clip(score, 0.0, 1.0)), np.flatnonzero(informative).tolist()


def item_row(index, question, p_t, attacked, retain, threshold: float) -> dict:
    row = {
        "index": index,
        "question": question,
        "target_probability": p_t,
        "attacked_probability": attacked.tolist(),
        "drop": float(np.mean(np.maximum(0.0, p_t - attacked)) / max(p_t, 1e-12)),
    }
    if retain is not None:
        row["retain_probability"] = retain.tolist()
        row["depth"], row["informative_layers"] = depth(p_t, attacked, retain, threshold)
    return row


def patch_rows(model, tok, ctx: AttackContext, target, retain, threshold: float) -> list[dict]:
    rows = []
    for batch in forget_batches(tok, ctx, next(model.parameters()).device):
        p_t = answer_probability(target, batch).cpu().numpy()
        a = patched_curve(target, model, batch).cpu().numpy()
        r = patched_curve(target, retain, batch).cpu().numpy() if retain is not None else None
        for i, (index, question) in enumerate(zip(batch.indices, batch.questions)):
            r_i = None if r is None else r[i]
            rows.append(item_row(index, question, float(p_t[i]), a[i], r_i, threshold))
    return rows


def patch_metrics(rows: list[dict]) -> tuple[dict[str, float], dict]:
    metrics = {"patch_drop": float(np.mean([r["drop"] for r in rows]))}
    extra = {
        "items": len(rows),
        "target_probability": float(np.mean([r["target_probability"] for r in rows])),
        "attacked_curve": np.mean([r["attacked_probability"] for r in rows], 0).round(6).tolist(),
    }
    if rows and "depth" in rows[0]:
        scored = [r["depth"] for r in rows if r["depth"] is not None]
        mean = float(np.mean(scored)) if scored else float("nan")
        metrics |= {"patch_depth": mean, "patch_remaining": 1.0 - mean}
        extra["depth_items"] = len(scored)
        extra["retain_curve"] = (
            np.mean([r["retain_probability"] for r in rows], 0).round(6).tolist()
        )
    return metrics, extra


def patch_attack(model, tok, ctx: AttackContext, p: PatchParams) -> list[AttackResult]:
    target_path = required(reference_path(ctx, "target", p.target), "target", "patch")
    retain_path = reference_path(ctx, "retain", p.retain)
    target = load_reference(target_path, model, "target")
    retain = load_reference(retain_path, model, "retain") if retain_path else None
    try:
        with eval_mode(model):
            rows = patch_rows(model, tok, ctx, target, retain, p.threshold)
    finally:
        del target, retain
        free_memory()
    metrics, extra = patch_metrics(rows)
    extra |= {"target": target_path, "retain": retain_path}
    return [AttackResult("patch", 0, metrics, {"forget": rows}, extra)]
