"""WGA, weighted gradient ascent (Wang et al., 2025): ascend each forget token's NLL weighted by the
model's own probability of it, p^β (detached), so tokens the model already forgot stop pushing.

ℓ_f = −mean over the forget response tokens of [p_θ(y_t)^β]_sg · NLL_t, plus α·ℓ(D_r) on retain
tokens (α = 0: forget data only). β = 0 is GA with a token mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearnkit.logprobs import token_logprobs
from unlearnkit.methods.base import Method, MethodNeeds, forward, retain_nll
from unlearnkit.methods.checks import non_negative


@dataclass
class WGAParams:
    beta: float = 1.0  # weight exponent: p^β
    alpha: float = 1.0  # retain NLL weight


def wga_loss(logp: torch.Tensor, mask: torch.Tensor, beta: float) -> torch.Tensor:
    """−Σ_t [exp(logp_t)^β]_sg · (−logp_t) / Σ_t mask_t over response tokens (mask 1/0)."""
    weight = torch.exp(beta * logp).detach()
    nll = -logp
    return -(weight * nll * mask).sum() / mask.sum().clamp(min=1)


class WGA(Method):
    name = "wga"
    Params = WGAParams

    def __init__(self, params=None):
        super().__init__(params)
        non_negative(self.params, "beta", "alpha")

    def needs(self) -> MethodNeeds:
        return MethodNeeds(retain=self.params.alpha > 0)

    def forget_loss(self, model, batch, ctx):
        part = batch["forget"]
        logp, mask = token_logprobs(forward(model, part).logits, part["labels"])
        loss = wga_loss(logp.float(), mask.float(), self.params.beta)
        return loss, {"forget_token_nll": (-(logp * mask).sum() / mask.sum()).detach()}

    def retain_loss(self, model, batch, ctx):
        return retain_nll(model, batch, self.params.alpha)
