"""SAM over any method's forget loss: g_f = ∇ℓ_f(θ + ρ g¹/‖g¹‖), the retain term at θ.

``sam_gradient`` is the SAM step itself; PRISM uses it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

from unlearnkit.errors import UserError
from unlearnkit.methods.base import GradEngine, Grads, Logs, Method, MethodNeeds, combine
from unlearnkit.methods.prism_math import global_dot, sam_perturbation

SWALLOWED = 0.5  # warn when the weights hold less than this share of ‖ε‖ = ρ
NOT_FINITE = (
    "SAM: the first gradient is not finite; such steps skip the perturbation and the forget "
    "gradient (logged as sam_skipped = 1)"
)
SWALLOWED_NOTE = (
    "SAM: the weights hold a perturbation of norm {applied:.3g}, not rho = {rho:g}: bf16 weights "
    "round most of it away; train with precision: mixed-bf16 (docs/precision.md)"
)


def sam_gradient(
    engine: GradEngine, closure: Callable[[], tuple[torch.Tensor, Logs]], rho: float
) -> tuple[torch.Tensor, Logs, Grads]:
    """(loss at θ, its logs, ∇loss at θ + ε) with ε = ρ·g¹/‖g¹‖; ρ = 0 is the plain gradient.

    With ρ > 0 it logs ``sam_applied_norm`` (‖θ + ε − θ‖ as the weights hold it, in fp32) and
    ``sam_skipped``: 1 when g¹ is not finite, where the step skips ε and returns no gradient
    (``None`` everywhere) instead of a non-finite one.
    """
    with engine.autocast():
        loss, logs = closure()
    grads = engine.grad(loss)
    if rho == 0:
        return loss, logs, grads
    norm = global_dot(grads, grads).sqrt()
    if not bool(torch.isfinite(norm)):
        engine.warn_once("sam_skipped", NOT_FINITE)
        skipped = {"sam_forget_loss": loss.detach(), "sam_applied_norm": 0.0, "sam_skipped": 1.0}
        return loss, {**logs, **skipped}, [None] * len(grads)
    eps = sam_perturbation(grads, rho, norm)
    del grads  # g¹ is not needed past ε: free it before the second backward
    with engine.perturbed(eps) as applied:
        del eps  # the engine frees ε once applied
        with engine.autocast():
            perturbed, _ = closure()
        grads = engine.grad(perturbed)
    if float(norm) > 0 and float(applied) < SWALLOWED * rho:
        engine.warn_once("sam_swallowed", SWALLOWED_NOTE.format(applied=float(applied), rho=rho))
    extra = {"sam_forget_loss": perturbed.detach(), "sam_applied_norm": applied, "sam_skipped": 0.0}
    return loss, {**logs, **extra}, grads


def retain_gradient(
    engine: GradEngine, closure: Callable[[], tuple[torch.Tensor | None, Logs]]
) -> tuple[torch.Tensor | None, Logs, Grads | None]:
    """The retain term at θ and its gradient (None when the method has no retain term)."""
    with engine.autocast():
        loss, logs = closure()
    if loss is None:
        return None, logs, None
    return loss, logs, engine.grad(loss)


@dataclass
class SAMParams:
    base: str = "npo"
    rho: float = 0.01
    base_params: dict = field(default_factory=dict)


class SAM(Method):
    name = "sam"
    Params = SAMParams

    def __init__(self, params=None):
        super().__init__(params)
        from unlearnkit.methods.registry import get_method

        if self.params.base in ("sam", "prism"):
            raise UserError(f"sam cannot wrap '{self.params.base}' (it already has its own step)")
        if self.params.rho < 0:
            raise UserError(f"params.rho must be >= 0, got {self.params.rho}")
        self.base = get_method(self.params.base, self.params.base_params)
        if self.base.needs().custom_step:
            raise UserError(
                f"sam cannot wrap {self.params.base} with these params: it needs its own step (e.g. sga r: auto)"
            )

    def needs(self) -> MethodNeeds:
        return replace(self.base.needs(), custom_step=True)

    def prepare(self, model, data) -> None:
        self.base.prepare(model, data)

    def trainable(self):
        return self.base.trainable()

    def forget_loss(self, model, batch, ctx):
        return self.base.forget_loss(model, batch, ctx)

    def retain_loss(self, model, batch, ctx):
        return self.base.retain_loss(model, batch, ctx)

    def custom_step(self, model, batch, ctx, engine):
        forget, logs, g_f = sam_gradient(
            engine, lambda: self.base.forget_loss(model, batch, ctx), self.params.rho
        )
        retain, retain_logs, g_r = retain_gradient(
            engine, lambda: self.base.retain_loss(model, batch, ctx)
        )
        logs = {**logs, **retain_logs, "forget_loss": forget.detach()}
        if retain is None:
            return forget.detach(), logs, g_f
        logs["retain_loss"] = retain.detach()
        return (forget + retain).detach(), logs, combine(g_f, g_r)

    def state_dict(self) -> dict:
        return self.base.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.base.load_state_dict(state)
