"""PRISM parts: the adversarially trained probe, its loss and schedule, gradient-conflict
decoupling (GCD) and the SAM perturbation. Gradients are lists of tensors (``None`` = zero)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

GradList = Sequence[torch.Tensor | None]


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


def probe_weight(progress: float, lambda_max: float) -> float:
    """λ(p) = λ_max·exp(−5(1 − p)²), p ∈ [0, 1] the training progress (clamped)."""
    p = min(max(progress, 0.0), 1.0)
    return lambda_max * math.exp(-5.0 * (1.0 - p) ** 2)


def global_dot(a: GradList, b: GradList) -> torch.Tensor:
    """⟨a, b⟩ over all tensors of two matching lists, as a float32 scalar (None counts as zero)."""
    total = None
    for x, y in zip(a, b, strict=True):
        if x is None or y is None:
            continue
        term = torch.dot(x.reshape(-1).float(), y.reshape(-1).float())
        total = term if total is None else total + term.to(total.device)
    return torch.zeros(()) if total is None else total


def project_out(g_f: GradList, g_r: GradList) -> list[torch.Tensor | None]:
    """GCD: g_f − (⟨g_f, g_r⟩/‖g_r‖²)·g_r over the whole parameter list; g_f if ‖g_r‖ = 0."""
    rr = global_dot(g_r, g_r)
    if float(rr) == 0.0:
        return [None if g is None else g.clone() for g in g_f]
    coef = global_dot(g_f, g_r) / rr
    out: list[torch.Tensor | None] = []
    for f, r in zip(g_f, g_r, strict=True):
        if r is None:
            out.append(None if f is None else f.clone())
        elif f is None:
            out.append((-coef.to(r.device) * r.float()).to(r.dtype))
        else:
            out.append((f.float() - coef.to(f.device) * r.float()).to(f.dtype))
    return out


def project_out_per_tensor(
    g_f: GradList, g_r: GradList, eps: float = 1e-8
) -> list[torch.Tensor | None]:
    """GCD per parameter tensor: g_f,i − (⟨g_f,i, g_r,i⟩/(‖g_r,i‖² + eps))·g_r,i for each i."""
    out: list[torch.Tensor | None] = []
    for f, r in zip(g_f, g_r, strict=True):
        if f is None or r is None:
            out.append(None if f is None else f.clone())
            continue
        f32, r32 = f.float(), r.float()
        coef = torch.dot(f32.reshape(-1), r32.reshape(-1)) / (r32.pow(2).sum() + eps)
        out.append((f32 - coef * r32).to(f.dtype))
    return out


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


def sam_perturbation(
    grads: GradList, rho: float, norm: torch.Tensor | None = None
) -> list[torch.Tensor | None]:
    """ε = ρ·g/‖g‖₂ with the global norm over the list (``norm`` when given, e.g. already
    computed); zeros when ρ = 0 or ‖g‖ = 0."""
    norm = global_dot(grads, grads).sqrt() if norm is None else norm
    scale = 0.0 if rho == 0 or float(norm) == 0.0 else rho / norm
    out: list[torch.Tensor | None] = []
    for g in grads:
        if g is None:
            out.append(None)
        elif isinstance(scale, float):
            out.append(torch.zeros_like(g))
        else:
            out.append((g.float() * scale.to(g.device)).to(g.dtype))
    return out
