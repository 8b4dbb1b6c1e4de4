"""PRISM: NPO + λ(p)·probe term, SAM on that forget loss, retain gradient with GCD projection.

Step: g_f = ∇ℓ_f(θ + ε) (SAM), g_r = ∇ℓ(D_r)(θ), g_f ← g_f − (⟨g_f,g_r⟩/‖g_r‖²) g_r (GCD, over
all parameters or per tensor), then w_f·g_f + w_r·g_r. ``probe``, ``sam`` and ``gcd`` switch the
parts off for ablations. The probe reads the output of decoder layer ``layer`` (default: three
quarters of the depth), or of the ``probe_layers`` candidate whose probe scores best on held-out rows.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from unlearnkit.errors import UserError
from unlearnkit.eval.metrics.interval import wilson_interval
from unlearnkit.logprobs import sequence_logprob
from unlearnkit.methods.base import (
    Method,
    MethodNeeds,
    forward,
    reference_logprob,
    retain_nll,
)
from unlearnkit.methods.checks import at_least, non_negative, positive
from unlearnkit.methods.grads import (
    combine,
    project_out,
    project_out_per_tensor,
    retain_gradient,
    sam_gradient,
)
from unlearnkit.methods.losses import npo_loss
from unlearnkit.methods.prism.probe import (
    holdout_split,
    pool_hidden,
    pooled_states,
    probe_loss,
    train_probe_heldout,
)
from unlearnkit.model_layers import num_layers

log = logging.getLogger(__name__)


def probe_weight(progress: float, lambda_max: float) -> float:
    """λ(p) = λ_max·exp(−5(1 − p)²), p ∈ [0, 1] the training progress (clamped)."""
    p = min(max(progress, 0.0), 1.0)
    return lambda_max * math.exp(-5.0 * (1.0 - p) ** 2)


GCD_MODES = {True: "global", "global": "global", "per_tensor": "per_tensor", False: "off"}
CHANCE_WARNING = 0.6  # held-out probe accuracy below this is reported as near chance


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
    gcd: bool | str = True  # true / global: over all parameters; per_tensor; false: off
    gcd_eps: float = 1e-8  # per_tensor: added to ‖g_r,i‖²
    probe_epochs: int = 20
    probe_lr: float = 1e-3
    probe_samples: int = 512  # at most this many forget and as many retain rows train the probe
    probe_holdout: float = 0.2  # fraction of each class held out to score the probe
    probe_layers: list[int] | None = None  # candidate layers; the best held-out probe wins


class PRISM(Method):
    name = "prism"
    Params = PRISMParams

    def __init__(self, params=None):
        super().__init__(params)
        p = self.params
        if p.gcd not in GCD_MODES:
            raise UserError(f"params.gcd must be true, false, global or per_tensor, got {p.gcd!r}")
        if not 0 <= p.probe_holdout < 1:
            raise UserError(f"params.probe_holdout must be in [0, 1), got {p.probe_holdout}")
        positive(p, "beta", "gcd_eps", "probe_lr")  # NPO's 2/β; GCD's ‖g_r‖² + eps; Adam's rate
        non_negative(p, "rho", "lambda_max")  # SAM's radius, the probe weight's peak
        at_least(p, "probe_epochs", 1)
        at_least(p, "probe_samples", 1)
        self.gcd_mode = GCD_MODES[p.gcd]
        self.probe = None
        self.layer: int | None = None
        self.probe_report: dict = {}

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

    def _check_layer(self, layer: int, n_layers: int) -> int:
        if not 0 <= layer < n_layers:
            raise UserError(f"prism layer must be in 0..{n_layers - 1} for this model, got {layer}")
        return layer

    def prepare(self, model, data) -> None:
        n_layers = num_layers(model)
        default = min(3 * n_layers // 4, n_layers - 1)
        layer = default if self.params.layer is None else self.params.layer
        self.layer = self._check_layer(layer, n_layers)
        if self.uses_probe:
            layers = self.params.probe_layers or [self.layer]
            self._train_probe(model, data, [self._check_layer(x, n_layers) for x in layers])

    def _train_probe(self, model, data, layers: Sequence[int]) -> None:
        """Train one probe per candidate layer on pooled states; keep the best held-out one."""
        p = self.params
        if not data.forget or not data.retain:
            raise UserError("the PRISM probe needs both forget and retain examples")
        n = min(p.probe_samples, len(data.forget), len(data.retain))
        rows = _subset(data.forget, n, data.seed), _subset(data.retain, n, data.seed + 1)
        scores: dict[int, float | None] = {}
        best = None
        for layer in layers:
            f, r = (
                pooled_states(
                    model, x, layer, data.pad_id, data.device, data.batch_size, data.autocast
                )
                for x in rows
            )
            x = torch.cat([f, r])
            y = torch.cat([torch.ones(len(f)), torch.zeros(len(r))]).long().to(x.device)
            probe, train_acc, acc = train_probe_heldout(
                x, y, p.probe_holdout, data.seed, epochs=p.probe_epochs, lr=p.probe_lr
            )
            scores[layer] = acc
            key = -1.0 if acc is None else acc
            if best is None or key > best[0]:
                best = (key, layer, probe, train_acc, acc, len(x))
        _, self.layer, self.probe, train_acc, acc, n_rows = best
        n_held = len(holdout_split(y.cpu(), p.probe_holdout, data.seed)[1])
        self.probe_report = {
            "probe_layer": self.layer,
            "probe_train_accuracy": train_acc,
            "probe_heldout_accuracy": acc,
            "probe_heldout_rows": n_held,
            "probe_heldout_interval": (
                None if acc is None else list(wilson_interval(round(acc * n_held), n_held))
            ),
            "probe_rows": n_rows,
            "probe_layer_scores": {str(k): v for k, v in scores.items()},
        }
        _warn_if_chance(acc, self.layer)

    def report(self) -> dict:
        """What a run summary should carry about this method (the probe's accuracies)."""
        return dict(self.probe_report)

    def forget_loss(self, model, batch, ctx):
        """ℓ_f = L_NPO + λ(p)·L_probe at the current parameters."""
        part = batch["forget"]
        lam = probe_weight(ctx.progress, self.params.lambda_max) if self.uses_probe else 0.0
        out = forward(model, part, output_hidden_states=lam > 0)
        logp = sequence_logprob(out.logits, part["labels"])
        loss = npo_loss(logp, reference_logprob(ctx, "forget", batch), self.params.beta)
        logs = {"npo_loss": loss.detach(), "probe_weight": lam}
        if self.probe_report.get("probe_heldout_accuracy") is not None:
            logs["probe_heldout_acc"] = self.probe_report["probe_heldout_accuracy"]
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

    def decouple(self, g_f, g_r):
        """g_f with its g_r component removed (``gcd``: global, per_tensor) or as is (off)."""
        if self.gcd_mode == "global":
            return project_out(g_f, g_r)
        if self.gcd_mode == "per_tensor":
            return project_out_per_tensor(g_f, g_r, self.params.gcd_eps)
        return g_f

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
        g_f = self.decouple(g_f, g_r)
        return loss + p.w_r * retain.detach(), logs, combine(g_f, g_r, p.w_f, p.w_r)


def _subset(examples: Sequence, n: int, seed: int) -> list:
    """``n`` rows picked with a seeded permutation (all of them when there are at most ``n``)."""
    if len(examples) <= n:
        return list(examples)
    pick = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed))[:n]
    return [examples[i] for i in pick.tolist()]


def _warn_if_chance(accuracy: float | None, layer: int) -> None:
    if accuracy is None:
        log.warning("PRISM probe: too few rows to hold any out; its accuracy is unmeasured")
    elif accuracy < CHANCE_WARNING:
        log.warning(
            "PRISM probe at layer %d is near chance: held-out accuracy %.2f < %.1f; its term "
            "steers the forget states by noise (try probe_layers, more probe_samples or epochs)",
            layer,
            accuracy,
            CHANCE_WARNING,
        )
