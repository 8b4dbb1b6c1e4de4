"""Orthogonalization (TOFU): project the direction that unlearning moved the forget prompts along
out of the attacked model's residual stream, then measure the forget set again.

At each chosen layer l, μ_T(l) and μ_A(l) are the mean states after layer l of the target and the
attacked model over every prompt token of the forget questions (answers excluded); the direction
is d(l) = μ_T(l) − μ_A(l), normalised. A forward hook on layer l then replaces each state h by
h − (h·d̂) d̂ while the usual forget evaluation runs (the same rows and metrics as ``unlearn
eval``); the hooks are removed afterwards. A layer whose direction is (numerically) zero, as on
the target itself, is left alone. The directions come from the forget items that are then scored
(``--max-items`` caps both), as in the field's version of this attack.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearnkit.attacks.context import AttackContext, AttackResult
from unlearnkit.attacks.copying import free_memory
from unlearnkit.attacks.forget import eval_mode, evaluate_forget
from unlearnkit.attacks.hidden import forget_batches, layer_hooks, layer_states
from unlearnkit.attacks.params import int_list
from unlearnkit.attacks.references import load_reference, reference_path, required
from unlearnkit.errors import UserError
from unlearnkit.logprobs import IGNORE_INDEX
from unlearnkit.model_layers import num_layers
from unlearnkit.models import check_model_path

ZERO = 1e-6  # a direction shorter than this share of the target's mean state is no direction


@dataclass
class OrthogonalizeParams:
    target: str | None = None  # target model folder (default: the run's or the world's)
    layers: list[int] | None = None  # decoder layers to project at (default: every layer)

    def __post_init__(self):
        if self.layers is not None:
            self.layers = int_list(self.layers, "layers", 0)
        if self.target:
            check_model_path(self.target)


@torch.no_grad()
def prompt_means(model, batches) -> torch.Tensor:
    """Mean state after each layer over the prompt tokens of ``batches``: (layers, hidden)."""
    total, count = None, 0
    for batch in batches:
        t = batch.tensors
        prompt = (t["attention_mask"] == 1) & (t["labels"] == IGNORE_INDEX)
        states = torch.stack([h[prompt].float().sum(0) for h in layer_states(model, batch)])
        total = states if total is None else total + states
        count += int(prompt.sum())
    return total / max(count, 1)


def directions(target, model, batches, layers: list[int]) -> dict[int, torch.Tensor]:
    """Unit d̂(l) per layer with a direction (layers where the two means agree are left out)."""
    mu_t, mu_a = prompt_means(target, batches), prompt_means(model, batches)
    found = {}
    for layer in layers:
        d = mu_t[layer] - mu_a[layer]
        if d.norm() > ZERO * mu_t[layer].norm():
            found[layer] = d / d.norm()
    return found


def projection(direction: torch.Tensor):
    def remove(hidden: torch.Tensor) -> torch.Tensor:
        d = direction.to(hidden.dtype)
        return hidden - (hidden @ d).unsqueeze(-1) * d

    return remove


def chosen_layers(model, layers: list[int] | None) -> list[int]:
    n = num_layers(model)
    if layers is None:
        return list(range(n))
    if layers[-1] >= n:
        raise UserError(f"layer {layers[-1]} does not exist: this model has layers 0..{n - 1}")
    return layers


def orthogonalize_attack(model, tok, ctx: AttackContext, p: OrthogonalizeParams):
    layers = chosen_layers(model, p.layers)
    target_path = required(reference_path(ctx, "target", p.target), "target", "orthogonalize")
    target = load_reference(target_path, model, "target")
    with eval_mode(model):
        batches = forget_batches(tok, ctx, next(model.parameters()).device)
        found = directions(target, model, batches, layers)
    del target
    free_memory()
    with layer_hooks(model, {layer: projection(d) for layer, d in found.items()}):
        metrics, rows = evaluate_forget(model, tok, ctx)
    setting = "layers=" + ("all" if p.layers is None else ",".join(map(str, layers)))
    extra = {"layers": layers, "projected": sorted(found), "target": target_path}
    return [AttackResult(setting, len(layers), metrics, rows, extra)]
