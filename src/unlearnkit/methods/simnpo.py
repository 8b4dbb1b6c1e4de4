"""SimNPO: γ·(−(2/β) E_f log σ(−(β/|y|) log π_θ − δ)) + α ℓ(D_r); no reference model."""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.logprobs import response_lengths, sequence_logprob
from unlearnkit.methods.base import Method, MethodNeeds, forward, retain_nll
from unlearnkit.methods.checks import positive
from unlearnkit.methods.losses import simnpo_loss


@dataclass
class SimNPOParams:
    beta: float = 4.5
    delta: float = 0.0
    gamma: float = 0.125
    alpha: float = 1.0


class SimNPO(Method):
    name = "simnpo"
    Params = SimNPOParams

    def __init__(self, params=None):
        super().__init__(params)
        positive(self.params, "beta")  # the loss divides by β: −(2/β) log σ(...)

    def needs(self) -> MethodNeeds:
        return MethodNeeds(retain=self.params.alpha != 0)

    def forget_loss(self, model, batch, ctx):
        part = batch["forget"]
        logp = sequence_logprob(forward(model, part).logits, part["labels"])
        lengths = response_lengths(part["labels"])
        loss = simnpo_loss(logp, lengths, self.params.beta, self.params.delta)
        return self.params.gamma * loss, {
            "forget_mean_logp": (logp / lengths.clamp(min=1)).mean().detach()
        }

    def retain_loss(self, model, batch, ctx):
        return retain_nll(model, batch, self.params.alpha)
