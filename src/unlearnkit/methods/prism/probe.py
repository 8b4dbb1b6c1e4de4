"""PRISM's probe: an MLP that tells forget (1) from retain (0) representations, trained
adversarially (FGSM on the pooled states) for a stated number of Adam steps, with its k-fold
held-out accuracy."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.data.collate import pad_batch
from unlearnkit.data.formatting import Encoded
from unlearnkit.eval.metrics.interval import wilson_interval


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


def epoch_steps(n_rows: int, epochs: int, batch_size: int = 64) -> int:
    """The optimizer steps of ``epochs`` passes over ``n_rows`` in batches of ``batch_size``."""
    return epochs * math.ceil(n_rows / batch_size)


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
    steps: int | None = None,
) -> ProbeMLP:
    """Train the probe on pooled features (N, D) and targets (N,) in {0, 1}; return it frozen.

    Objective: CE(z) + adv_weight·CE(z + eps·sign(∇_z CE)) + l1·‖φ‖₁, Adam, seeded shuffles.
    ``steps`` Adam steps over reshuffled passes of batches; None: ``epochs`` full passes.
    """
    features = features.detach().float()
    targets = targets.detach().long().to(features.device)
    if features.dim() != 2 or targets.shape != (features.shape[0],):
        raise ValueError(
            f"features must be (N, D) and targets (N,), got {tuple(features.shape)} "
            f"and {tuple(targets.shape)}"
        )
    n = features.shape[0]
    steps = epoch_steps(n, epochs, batch_size) if steps is None else steps
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = ProbeMLP(features.shape[1]).to(features.device)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    probe.train()
    done = 0
    while done < steps:
        order = torch.randperm(n, generator=gen).to(features.device)
        for start in range(0, n, batch_size):
            if done == steps:
                break
            idx = order[start : start + batch_size]
            loss = _probe_objective(probe, features[idx], targets[idx], eps, adv_weight, l1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
    probe.eval()
    probe.requires_grad_(False)
    return probe


def probe_loss(probe: nn.Module, pooled: torch.Tensor) -> torch.Tensor:
    """mean −log p_φ(y = 0 | z): forget representations should look like retain ones."""
    dtype = next(probe.parameters()).dtype
    logits = probe(pooled.to(dtype))
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target)


def fold_count(targets: torch.Tensor, folds: int) -> int:
    """k = min(``folds``, rows of the smaller class): every fold holds out each class; < 2: none."""
    counts = torch.bincount(targets.long(), minlength=2)
    return min(folds, int(counts.min()))


def kfold_splits(targets: torch.Tensor, folds: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """(train, held-out) row indices for k-fold cross-validation, stratified by class.

    Each class's rows, in a seeded order, are dealt round-robin to the k folds (continuing the deal
    across classes), so each fold holds ⌊n_c/k⌋ or ⌈n_c/k⌉ rows of class c; the held-out parts are
    disjoint and cover every row once. k = :func:`fold_count`; below 2 there are no splits.
    """
    k = fold_count(targets, folds)
    if k < 2:
        return []
    gen = torch.Generator().manual_seed(seed)
    dealt: list[int] = []
    for label in sorted(set(targets.tolist())):
        rows = (targets == label).nonzero().flatten()
        dealt += rows[torch.randperm(len(rows), generator=gen)].tolist()
    held = [sorted(dealt[i::k]) for i in range(k)]
    every = range(len(targets))
    return [(sorted(set(every) - set(h)), h) for h in held]


@torch.no_grad()
def probe_accuracy(probe: nn.Module, features: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows whose argmax class is the target."""
    dtype = next(probe.parameters()).dtype
    predicted = probe(features.to(dtype)).argmax(-1)
    return float((predicted == targets.to(predicted.device)).float().mean())


@dataclass
class ProbeFit:
    """A probe trained on all rows, its train accuracy and its k-fold held-out score."""

    probe: ProbeMLP
    train_accuracy: float
    folds: int  # 0: too few rows to cross-validate
    correct: int  # held-out predictions that were right, over all folds
    rows: int  # held-out predictions, over all folds (each row once; 0 without folds)

    @property
    def accuracy(self) -> float | None:
        """Held-out accuracy over all folds' predictions (None without folds)."""
        return self.correct / self.rows if self.rows else None

    @property
    def interval(self) -> list[float] | None:
        """Wilson 95 % interval of the held-out accuracy (None without folds)."""
        return list(wilson_interval(self.correct, self.rows)) if self.rows else None


@torch.no_grad()
def _correct(probe: nn.Module, features: torch.Tensor, targets: torch.Tensor) -> int:
    dtype = next(probe.parameters()).dtype
    predicted = probe(features.to(dtype)).argmax(-1)
    return int((predicted == targets.to(predicted.device)).sum())


def train_probe_cv(
    features: torch.Tensor, targets: torch.Tensor, folds: int = 5, seed: int = 0, **train_kwargs
) -> ProbeFit:
    """k-fold held-out score (one probe per fold, scored on its held-out rows), then the probe
    trained on all rows with the same settings: the one the method uses."""
    targets = targets.long()
    splits = kfold_splits(targets.cpu(), folds, seed)
    correct = rows = 0
    for train, held in splits:
        probe = train_probe(features[train], targets[train], seed=seed, **train_kwargs)
        correct += _correct(probe, features[held], targets[held])
        rows += len(held)
    probe = train_probe(features, targets, seed=seed, **train_kwargs)
    train_acc = probe_accuracy(probe, features, targets)
    return ProbeFit(probe, train_acc, len(splits), correct, rows)


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
