"""Gradient Ascent: −ℓ(D_f), the mean over forget sequences of each one's mean token NLL."""

from __future__ import annotations

from unlearnkit.methods.base import Method, part_nll
from unlearnkit.methods.losses import ga_loss


class GA(Method):
    name = "ga"

    def forget_loss(self, model, batch, ctx):
        nll = part_nll(model, batch["forget"])
        return ga_loss(nll), {"forget_nll": nll.mean().detach()}
