"""FLAT: −E[g*(P_e) − f*(g*(P_f))] with a refusal template y_e; forget data only, no reference.

g* and f* apply per sequence, then the mean over the batch (the reference code averages over
padding and applies g* to the batch mean; this follows docs/methods.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.errors import UserError
from unlearnkit.logprobs import mean_token_prob
from unlearnkit.methods.base import Method, MethodNeeds, concat_parts, forward
from unlearnkit.methods.flat_math import DIVERGENCES, flat_loss


@dataclass
class FLATParams:
    divergence: str = "kl"  # kl | js | pearson | tv


class FLAT(Method):
    name = "flat"
    Params = FLATParams

    def __init__(self, params=None):
        super().__init__(params)
        if self.params.divergence not in DIVERGENCES:
            raise UserError(
                f"params.divergence must be one of {', '.join(DIVERGENCES)}, got {self.params.divergence!r}"
            )

    def needs(self) -> MethodNeeds:
        return MethodNeeds(idk=True)

    def forget_loss(self, model, batch, ctx):
        forget, template = batch["forget"], batch["idk"]
        both = concat_parts(forget, template)  # one forward for y_f and y_e
        p = mean_token_prob(forward(model, both).logits, both["labels"])
        B = forget["input_ids"].shape[0]
        p_f, p_e = p[:B], p[B:]
        loss = flat_loss(p_e, p_f, self.params.divergence)
        return loss, {"p_forget": p_f.mean().detach(), "p_template": p_e.mean().detach()}
