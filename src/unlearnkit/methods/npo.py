"""NPO: −(2/β) E_f log σ(−β[log π_θ − log π_ref]) + α ℓ(D_r) (α = 0: no retain term)."""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.methods.base import (
    Method,
    MethodNeeds,
    part_logprob,
    reference_logprob,
    retain_nll,
)
from unlearnkit.methods.checks import positive
from unlearnkit.methods.losses import npo_loss


@dataclass
class NPOParams:
    beta: float = 0.1
    alpha: float = 1.0


class NPO(Method):
    name = "npo"
    Params = NPOParams

    def __init__(self, params=None):
        super().__init__(params)
        positive(self.params, "beta")  # the loss divides by β: −(2/β) log σ(...)

    def needs(self) -> MethodNeeds:
        return MethodNeeds(
            retain=self.params.alpha != 0, reference="precomputed", reference_parts=("forget",)
        )

    def forget_loss(self, model, batch, ctx):
        logp = part_logprob(model, batch["forget"])
        ref = reference_logprob(ctx, "forget", batch)
        loss = npo_loss(logp, ref, self.params.beta)
        return loss, {"forget_logratio": (logp - ref).mean().detach()}

    def retain_loss(self, model, batch, ctx):
        return retain_nll(model, batch, self.params.alpha)
