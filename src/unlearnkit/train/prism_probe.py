"""PRISM's probe, trained before unlearning: pooled layer-L states of forget (1) vs retain (0) rows."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from unlearnkit.data.collate import pad_batch
from unlearnkit.data.formatting import Encoded
from unlearnkit.errors import UserError
from unlearnkit.methods.prism_math import ProbeMLP, pool_hidden, train_probe


@torch.no_grad()
def pooled_states(
    model,
    examples: Sequence[Encoded],
    layer: int,
    pad_id: int,
    device: torch.device,
    batch_size: int = 16,
) -> torch.Tensor:
    """Mean over non-pad tokens of the output of decoder layer ``layer``: (N, D) float32."""
    was_training = model.training
    model.eval()
    rows = []
    try:
        for start in range(0, len(examples), batch_size):
            batch = {
                k: v.to(device)
                for k, v in pad_batch(examples[start : start + batch_size], pad_id).items()
            }
            out = model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                output_hidden_states=True,
            )
            rows.append(pool_hidden(out.hidden_states[layer + 1], batch["attention_mask"]))
    finally:
        model.train(was_training)
    return torch.cat(rows)


def _subset(examples: Sequence[Encoded], n: int, seed: int) -> list[Encoded]:
    if len(examples) <= n:
        return list(examples)
    pick = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed))[:n]
    return [examples[i] for i in pick.tolist()]


def train_prism_probe(
    model,
    forget: Sequence[Encoded],
    retain: Sequence[Encoded],
    layer: int,
    pad_id: int,
    device: torch.device,
    batch_size: int = 16,
    max_samples: int = 512,
    epochs: int = 20,
    lr: float = 1e-3,
    seed: int = 0,
) -> ProbeMLP:
    """Train and freeze the forget-vs-retain probe on up to ``max_samples`` rows of each class."""
    if not forget or not retain:
        raise UserError("the PRISM probe needs both forget and retain examples")
    n = min(max_samples, len(forget), len(retain))
    f = pooled_states(model, _subset(forget, n, seed), layer, pad_id, device, batch_size)
    r = pooled_states(model, _subset(retain, n, seed + 1), layer, pad_id, device, batch_size)
    features = torch.cat([f, r])
    targets = torch.cat([torch.ones(len(f)), torch.zeros(len(r))]).long().to(features.device)
    return train_probe(features, targets, epochs=epochs, lr=lr, seed=seed)
