"""GA + KL: −ℓ(D_f) + α KL(π_ref ‖ π_θ) on retain response tokens (a live frozen reference).

The forget term averages per sequence, the KL over the batch's response tokens (docs/methods.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.methods.base import Method, MethodNeeds, forward, part_nll
from unlearnkit.methods.losses import ga_loss, kl_retain


@dataclass
class KLParams:
    alpha: float = 1.0


class KL(Method):
    name = "kl"
    Params = KLParams

    def needs(self) -> MethodNeeds:
        return MethodNeeds(retain=True, reference="live")

    def forget_loss(self, model, batch, ctx):
        nll = part_nll(model, batch["forget"])
        return ga_loss(nll), {"forget_nll": nll.mean().detach()}

    def retain_loss(self, model, batch, ctx):
        part = batch["retain"]
        ref_logits = ctx.reference.outputs(part).logits
        kl = kl_retain(forward(model, part).logits, ref_logits, part["labels"])
        return self.params.alpha * kl, {"retain_kl": kl.detach()}
