"""Gradient Difference: −γ ℓ(D_f) + α ℓ(D_r)."""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.methods.base import Method, MethodNeeds, part_nll, retain_nll


@dataclass
class GDParams:
    gamma: float = 1.0
    alpha: float = 1.0


class GD(Method):
    name = "gd"
    Params = GDParams

    def needs(self) -> MethodNeeds:
        return MethodNeeds(retain=True)

    def forget_loss(self, model, batch, ctx):
        nll = part_nll(model, batch["forget"])
        return -self.params.gamma * nll.mean(), {"forget_nll": nll.mean().detach()}

    def retain_loss(self, model, batch, ctx):
        return retain_nll(model, batch, self.params.alpha)
