"""PRISM's probe: an MLP that tells forget (1) from retain (0) representations, trained
adversarially (FGSM on the pooled states) on a stratified split, with its held-out accuracy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.data.collate import pad_batch
from unlearnkit.data.formatting import Encoded


class ProbeMLP(nn.Module):
    """d → 64 → 32 → 2 with ReLU; class 1 = forget, class 0 = retain (harmless)."""

    def __init__(self, d: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 2)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def pool_hidden(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of hidden states (B, T, D) over non-pad tokens, in float32: (B, D)."""
    mask = attention_mask.to(torch.float32).unsqueeze(-1)
    return (hidden.float() * mask).sum(1) / mask.sum(1).clamp(min=1)


def _probe_objective(
    probe: ProbeMLP, z: torch.Tensor, y: torch.Tensor, eps: float, adv_weight: float, l1: float
) -> torch.Tensor:
    z = z.detach().requires_grad_(True)
    ce = F.cross_entropy(probe(z), y)
    (grad_z,) = torch.autograd.grad(ce, z, retain_graph=True)
    z_adv = (z + eps * grad_z.sign()).detach()  # FGSM: one signed step that raises the CE
    adv = F.cross_entropy(probe(z_adv), y)
    l1_norm = sum(p.abs().sum() for p in probe.parameters())
    return ce + adv_weight * adv + l1 * l1_norm


def train_probe(
    features: torch.Tensor,
    targets: torch.Tensor,
    epochs: int = 20,
    lr: float = 1e-3,
    eps: float = 0.01,
    adv_weight: float = 0.4,
    l1: float = 1e-4,
    seed: int = 0,
    batch_size: int = 64,
) -> ProbeMLP:
    """Train the probe on pooled features (N, D) and targets (N,) in {0, 1}; return it frozen.

    Objective: CE(z) + adv_weight·CE(z + eps·sign(∇_z CE)) + l1·‖φ‖₁, Adam, seeded shuffles.
    """
    features = features.detach().float()
    targets = targets.detach().long().to(features.device)
    if features.dim() != 2 or targets.shape != (features.shape[0],):
        raise ValueError(
            f"features must be (N, D) and targets (N,), got {tuple(features.shape)} "
            f"and {tuple(targets.shape)}"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = ProbeMLP(features.shape[1]).to(features.device)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    n = features.shape[0]
    probe.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).to(features.device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            loss = _probe_objective(probe, features[idx], targets[idx], eps, adv_weight, l1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    probe.eval()
    probe.requires_grad_(False)
    return probe


def probe_loss(probe: nn.Module, pooled: torch.Tensor) -> torch.Tensor:
    """mean −log p_φ(y = 0 | z): forget representations should look like retain ones."""
    dtype = next(probe.parameters()).dtype
    logits = probe(pooled.to(dtype))
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target)


def holdout_split(targets: torch.Tensor, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, held-out) row indices, stratified per class; a class of one row stays in train."""
    gen = torch.Generator().manual_seed(seed)
    train: list[int] = []
    held: list[int] = []
    for label in sorted(set(targets.tolist())):
        rows = (targets == label).nonzero().flatten()
        rows = rows[torch.randperm(len(rows), generator=gen)].tolist()
        n_held = min(max(1, round(fraction * len(rows))), len(rows) - 1) if fraction > 0 else 0
        held += rows[:n_held]
        train += rows[n_held:]
    return sorted(train), sorted(held)


@torch.no_grad()
def probe_accuracy(probe: nn.Module, features: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows whose argmax class is the target."""
    dtype = next(probe.parameters()).dtype
    predicted = probe(features.to(dtype)).argmax(-1)
    return float((predicted == targets.to(predicted.device)).float().mean())


def train_probe_heldout(
    features: torch.Tensor,
    targets: torch.Tensor,
    holdout: float = 0.2,
    seed: int = 0,
    **train_kwargs,
) -> tuple[ProbeMLP, float, float | None]:
    """(probe trained on the train rows, its train accuracy, its held-out accuracy or None)."""
    targets = targets.long()
    train, held = holdout_split(targets.cpu(), holdout, seed)
    probe = train_probe(features[train], targets[train], seed=seed, **train_kwargs)
    train_acc = probe_accuracy(probe, features[train], targets[train])
    held_acc = probe_accuracy(probe, features[held], targets[held]) if held else None
    return probe, train_acc, held_acc


@torch.no_grad()
def pooled_states(
    model,
    examples: Sequence[Encoded],
    layer: int,
    pad_id: int,
    device: torch.device,
    batch_size: int = 16,
    autocast: Callable[[], AbstractContextManager] = nullcontext,
) -> torch.Tensor:
    """Mean over non-pad tokens of the output of decoder layer ``layer``: (N, D) float32, under
    ``autocast`` (the run's forward precision)."""
    was_training = model.training
    model.eval()
    rows = []
    try:
        for start in range(0, len(examples), batch_size):
            batch = {
                k: v.to(device)
                for k, v in pad_batch(examples[start : start + batch_size], pad_id).items()
            }
            with autocast():
                out = model(
                    input_ids=batch["input_ids"],
                    attention_mask=batch["attention_mask"],
                    output_hidden_states=True,
                )
            rows.append(pool_hidden(out.hidden_states[layer + 1], batch["attention_mask"]))
    finally:
        model.train(was_training)
    return torch.cat(rows)
