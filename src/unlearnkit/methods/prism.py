"""PRISM: NPO + λ(p)·probe term, SAM on that forget loss, retain gradient with GCD projection.

Step: g_f = ∇ℓ_f(θ + ε) (SAM), g_r = ∇ℓ(D_r)(θ), g_f ← g_f − (⟨g_f,g_r⟩/‖g_r‖²) g_r (GCD), then
w_f·g_f + w_r·g_r. ``probe``, ``sam`` and ``gcd`` switch the parts off for ablations. The probe
reads the output of decoder layer ``layer`` (default: three quarters of the depth).
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.errors import UserError
from unlearnkit.logprobs import sequence_logprob
from unlearnkit.methods.base import (
    Method,
    MethodNeeds,
    combine,
    forward,
    reference_logprob,
    retain_nll,
)
from unlearnkit.methods.losses import npo_loss
from unlearnkit.methods.prism_math import pool_hidden, probe_loss, probe_weight, project_out
from unlearnkit.methods.sam import retain_gradient, sam_gradient


@dataclass
class PRISMParams:
    beta: float = 0.1
    lambda_max: float = 0.05
    rho: float = 0.01
    w_f: float = 1.0
    w_r: float = 1.0
    layer: int | None = None  # None: 3/4 of the depth
    probe: bool = True
    sam: bool = True
    gcd: bool = True
    probe_epochs: int = 20
    probe_lr: float = 1e-3
    probe_samples: int = 512  # at most this many forget and as many retain rows train the probe


class PRISM(Method):
    name = "prism"
    Params = PRISMParams

    def __init__(self, params=None):
        super().__init__(params)
        self.probe = None
        self.layer: int | None = None

    @property
    def uses_probe(self) -> bool:
        return self.params.probe and self.params.lambda_max > 0

    def needs(self) -> MethodNeeds:
        return MethodNeeds(
            retain=self.params.w_r != 0 or self.uses_probe,  # the probe trains on retain rows too
            reference="precomputed",
            reference_parts=("forget",),
            custom_step=True,
        )

    def prepare(self, model, data) -> None:
        n_layers = model.config.num_hidden_layers
        layer = (
            min(3 * n_layers // 4, n_layers - 1) if self.params.layer is None else self.params.layer
        )
        if not 0 <= layer < n_layers:
            raise UserError(f"prism layer must be in 0..{n_layers - 1} for this model, got {layer}")
        self.layer = layer
        if self.uses_probe:
            from unlearnkit.train.prism_probe import train_prism_probe

            self.probe = train_prism_probe(
                model,
                data.forget,
                data.retain,
                layer,
                pad_id=data.pad_id,
                device=data.device,
                batch_size=data.batch_size,
                max_samples=self.params.probe_samples,
                epochs=self.params.probe_epochs,
                lr=self.params.probe_lr,
                seed=data.seed,
            )

    def forget_loss(self, model, batch, ctx):
        """ℓ_f = L_NPO + λ(p)·L_probe at the current parameters."""
        part = batch["forget"]
        lam = probe_weight(ctx.progress, self.params.lambda_max) if self.uses_probe else 0.0
        out = forward(model, part, output_hidden_states=lam > 0)
        logp = sequence_logprob(out.logits, part["labels"])
        loss = npo_loss(logp, reference_logprob(ctx, "forget", batch), self.params.beta)
        logs = {"npo_loss": loss.detach(), "probe_weight": lam}
        if lam > 0:
            pooled = pool_hidden(out.hidden_states[self.layer + 1], part["attention_mask"])
            term = probe_loss(self.probe, pooled)
            logs["probe_loss"] = term.detach()
            loss = loss + lam * term
        return loss, logs

    def retain_loss(self, model, batch, ctx):
        loss, logs = retain_nll(model, batch, 1.0)
        return (None if loss is None else self.params.w_r * loss), logs

    def compute_loss(self, model, batch, ctx):
        forget, logs = self.forget_loss(model, batch, ctx)
        retain, retain_logs = self.retain_loss(model, batch, ctx)
        loss = self.params.w_f * forget + (0 if retain is None else retain)
        return loss, {**logs, **retain_logs, "forget_loss": forget.detach()}

    def custom_step(self, model, batch, ctx, engine):
        p = self.params
        rho = p.rho if p.sam else 0.0
        forget, logs, g_f = sam_gradient(engine, lambda: self.forget_loss(model, batch, ctx), rho)
        loss = p.w_f * forget.detach()
        logs["forget_loss"] = forget.detach()
        if p.w_r == 0:
            return loss, logs, [None if g is None else g * p.w_f for g in g_f]
        retain, retain_logs, g_r = retain_gradient(engine, lambda: retain_nll(model, batch, 1.0))
        logs.update(retain_logs)
        if p.gcd:
            g_f = project_out(g_f, g_r)
        return loss + p.w_r * retain.detach(), logs, combine(g_f, g_r, p.w_f, p.w_r)
