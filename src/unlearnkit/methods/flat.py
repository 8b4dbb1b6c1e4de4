"""FLAT: −E[g*(P_e) − f*(g*(P_f))] with a refusal template y_e; forget data only, no reference.

P_e, P_f are per-sequence mean token probabilities (``logprobs.mean_token_prob``); g* and f* (the
variational pair of an f-divergence) apply per sequence, then the mean over the batch (the
reference code averages over padding and applies g* to the batch mean; this follows
docs/methods.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from unlearnkit.errors import UserError
from unlearnkit.logprobs import mean_token_prob
from unlearnkit.methods.base import Method, MethodNeeds, concat_parts, forward

Fn = Callable[[torch.Tensor], torch.Tensor]


class Divergence(NamedTuple):
    """The variational pair of an f-divergence: activation g* and conjugate f*."""

    g_star: Fn
    f_star: Fn


def kl_g(v: torch.Tensor) -> torch.Tensor:
    return v


def kl_f(u: torch.Tensor) -> torch.Tensor:
    return torch.exp(u - 1)


def js_g(v: torch.Tensor) -> torch.Tensor:
    """log 2 − log(1 + e^{−v})."""
    return math.log(2.0) - F.softplus(-v)


def js_f(u: torch.Tensor) -> torch.Tensor:
    """−log(2 − e^u), defined for u < log 2 (which js_g guarantees)."""
    return -torch.log(2.0 - torch.exp(u))


def pearson_g(v: torch.Tensor) -> torch.Tensor:
    return v


def pearson_f(u: torch.Tensor) -> torch.Tensor:
    return u * u / 4 + u


def tv_g(v: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.tanh(v)


def tv_f(u: torch.Tensor) -> torch.Tensor:
    return u


DIVERGENCES: dict[str, Divergence] = {
    "kl": Divergence(kl_g, kl_f),
    "js": Divergence(js_g, js_f),
    "pearson": Divergence(pearson_g, pearson_f),
    "tv": Divergence(tv_g, tv_f),
}


def get_divergence(name: str) -> Divergence:
    """The (g*, f*) pair of a divergence name; ValueError naming the choices if unknown."""
    try:
        return DIVERGENCES[name]
    except KeyError:
        choices = ", ".join(sorted(DIVERGENCES))
        raise ValueError(f"unknown FLAT divergence {name!r}; choose one of: {choices}") from None


def flat_loss(p_e: torch.Tensor, p_f: torch.Tensor, divergence: str = "kl") -> torch.Tensor:
    """−mean[g*(P_e) − f*(g*(P_f))]; p_e, p_f of shape (B,) in (0, 1)."""
    div = get_divergence(divergence)
    return -(div.g_star(p_e) - div.f_star(div.g_star(p_f))).mean()


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
