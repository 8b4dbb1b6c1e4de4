"""IDK-DPO: −(2/β) log σ(β[Δ(y_idk) − Δ(y_f)]) + α ℓ(D_r), Δ = log π_θ − log π_ref."""

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
from unlearnkit.methods.losses import idkdpo_loss


@dataclass
class IDKDPOParams:
    beta: float = 0.1
    alpha: float = 1.0


class IDKDPO(Method):
    name = "idkdpo"
    Params = IDKDPOParams

    def __init__(self, params=None):
        super().__init__(params)
        positive(self.params, "beta")  # the loss divides by β: −(2/β) log σ(...)

    def needs(self) -> MethodNeeds:
        return MethodNeeds(
            idk=True,
            retain=self.params.alpha != 0,
            reference="precomputed",
            reference_parts=("forget", "idk"),
        )

    def forget_loss(self, model, batch, ctx):
        logp_f = part_logprob(model, batch["forget"])
        logp_idk = part_logprob(model, batch["idk"])
        ref_f = reference_logprob(ctx, "forget", batch)
        ref_idk = reference_logprob(ctx, "idk", batch)
        loss = idkdpo_loss(logp_idk, ref_idk, logp_f, ref_f, self.params.beta)
        margin = ((logp_idk - ref_idk) - (logp_f - ref_f)).mean().detach()
        return loss, {"dpo_margin": margin}

    def retain_loss(self, model, batch, ctx):
        return retain_nll(model, batch, self.params.alpha)
