"""Gradient engines for calling a method's ``custom_step`` without a trainer (test helpers)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from unlearnkit.methods.perturb import Seen, seen_perturbation


class AutogradEngine:
    """The ``GradEngine`` protocol on plain autograd over a model's trainable parameters."""

    def __init__(self, model):
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.perturbations: list[list] = []
        self.warnings: dict[str, str] = {}

    def autocast(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def grad(self, loss: torch.Tensor, retain_graph: bool = False) -> list:
        return list(
            torch.autograd.grad(loss, self.params, retain_graph=retain_graph, allow_unused=True)
        )

    @contextlib.contextmanager
    def perturbed(self, eps) -> Iterator[Seen]:
        """θ + ε inside the block (yields what the weights hold of ε), θ copied back after."""
        self.perturbations.append(eps)
        moved = [(p, e) for p, e in zip(self.params, eps, strict=True) if e is not None]
        with torch.no_grad():
            saved = [p.detach().clone() for p, _ in moved]
            for p, e in moved:
                p.add_(e.to(p.dtype))
            applied = seen_perturbation(saved, [p for p, _ in moved], [e for _, e in moved], None)
        try:
            yield applied
        finally:
            with torch.no_grad():
                for (p, _), s in zip(moved, saved, strict=True):
                    p.copy_(s)

    def mean(self, value: float) -> float:
        return float(value)

    def warn_once(self, key: str, message: str) -> None:
        self.warnings.setdefault(key, message)


class ScriptedEngine(AutogradEngine):
    """Returns given gradient lists in order instead of differentiating (hand-made gradients)."""

    def __init__(self, model, scripted: list[list[torch.Tensor]]):
        super().__init__(model)
        self.scripted = list(scripted)

    def grad(self, loss: torch.Tensor, retain_graph: bool = False) -> list:
        return self.scripted.pop(0)


def flat(grads) -> torch.Tensor:
    """One float64 vector from a gradient list (None counts as zero is not needed here)."""
    return torch.cat([g.reshape(-1).double() for g in grads])
