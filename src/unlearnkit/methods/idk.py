"""IDK fine-tuning: ℓ(x_f, y_idk) + α ℓ(D_r), y_idk a refusal."""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.logprobs import batch_nll
from unlearnkit.methods.base import Method, MethodNeeds, forward, retain_nll


@dataclass
class IDKParams:
    alpha: float = 1.0


class IDK(Method):
    name = "idk"
    Params = IDKParams

    def needs(self) -> MethodNeeds:
        return MethodNeeds(forget=False, idk=True, retain=self.params.alpha != 0)

    def forget_loss(self, model, batch, ctx):
        part = batch["idk"]
        nll = batch_nll(forward(model, part).logits, part["labels"])
        return nll, {"idk_nll": nll.detach()}

    def retain_loss(self, model, batch, ctx):
        return retain_nll(model, batch, self.params.alpha)
