"""SAM over any method's forget loss: g_f = ∇ℓ_f(θ + ρ g¹/‖g¹‖), the retain term at θ.

The SAM step itself is ``methods.grads.sam_gradient`` (PRISM uses it too). The registry builds the
base method and hands it in (``wraps_base``), so SAM imports no registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from unlearnkit.errors import UserError
from unlearnkit.methods.base import Method, MethodNeeds
from unlearnkit.methods.grads import combine, retain_gradient, sam_gradient

NO_OWN_STEP = ("sam", "prism")  # methods SAM cannot wrap: they already have their own step


@dataclass
class SAMParams:
    base: str = "npo"
    rho: float = 0.01
    base_params: dict = field(default_factory=dict)


class SAM(Method):
    name = "sam"
    Params = SAMParams
    wraps_base = True  # the registry builds params.base and passes it as ``base``

    @classmethod
    def check_base(cls, params: SAMParams) -> None:
        """What the registry checks before it builds the base method."""
        if params.base in NO_OWN_STEP:
            raise UserError(f"sam cannot wrap '{params.base}' (it already has its own step)")
        if params.rho < 0:
            raise UserError(f"params.rho must be >= 0, got {params.rho}")

    def __init__(self, params: SAMParams, base: Method):
        super().__init__(params)
        self.check_base(self.params)
        self.base = base
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

    def trainable_on(self, model):
        return self.base.trainable_on(model)

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
