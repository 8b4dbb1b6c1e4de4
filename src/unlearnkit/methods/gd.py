"""Gradient Difference: −γ ℓ(D_f) + α ℓ(D_r).

The forget term is the mean over sequences of each one's mean token NLL, the retain term the mean
over the batch's response tokens (``losses.gd_loss``; docs/methods.md, "Normalisation").
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.methods.base import Method, MethodNeeds, part_nll, retain_nll
from unlearnkit.methods.losses import ga_loss


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
        return self.params.gamma * ga_loss(nll), {"forget_nll": nll.mean().detach()}

    def retain_loss(self, model, batch, ctx):
        return retain_nll(model, batch, self.params.alpha)
