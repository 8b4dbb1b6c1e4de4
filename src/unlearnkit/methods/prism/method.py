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
    global_dot,
    project_out,
    project_out_per_tensor,
    retain_gradient,
    sam_gradient,
)
from unlearnkit.methods.losses import npo_loss
from unlearnkit.methods.prism.probe import (
    epoch_steps,
    pool_hidden,
    pooled_states,
    probe_loss,
    train_probe_cv,
)
from unlearnkit.model_layers import num_layers

log = logging.getLogger(__name__)


def probe_weight(progress: float, lambda_max: float) -> float:
    """λ(p) = λ_max·exp(−5(1 − p)²), p ∈ [0, 1] the training progress (clamped)."""
    p = min(max(progress, 0.0), 1.0)
    return lambda_max * math.exp(-5.0 * (1.0 - p) ** 2)


GCD_MODES = {True: "global", "global": "global", "per_tensor": "per_tensor", False: "off"}
CHANCE_WARNING = 0.6  # held-out probe accuracy below this is reported as near chance
PROBE_STEPS = 200  # Adam steps of the probe when neither probe_steps nor probe_epochs is set
HOLDOUT_GONE = (
    "params.probe_holdout is replaced by params.probe_folds (k-fold cross-validation, default 5)"
)


@dataclass
class PRISMParams:
    beta: float = 0.1
    lambda_max: float | str = 0.05  # or "auto": probe_share of NPO's gradient norm at step 0
    probe_share: float = 0.1  # lambda_max: auto: λ_max·‖∇L_probe‖ = probe_share·‖∇L_NPO‖
    rho: float = 0.01
    w_f: float = 1.0
    w_r: float = 1.0
    layer: int | None = None  # None: 3/4 of the depth
    probe: bool = True
    sam: bool = True
    gcd: bool | str = True  # true / global: over all parameters; per_tensor; false: off
    gcd_eps: float = 1e-8  # per_tensor: added to ‖g_r,i‖²
    probe_steps: int | None = None  # Adam steps (batch 64); None: PROBE_STEPS or probe_epochs
    probe_epochs: int | None = None  # older form: full passes, steps = epochs·⌈rows/64⌉
    probe_lr: float = 1e-3
    probe_samples: int = 512  # at most this many forget and as many retain rows train the probe
    probe_folds: int = 5  # k-fold held-out score; k = min(probe_folds, rows of a class)
    probe_holdout: float | None = None  # replaced by probe_folds: setting it is an error
    probe_layers: list[int] | None = None  # candidate layers; the best held-out probe wins


class PRISM(Method):
    name = "prism"
    Params = PRISMParams

    def __init__(self, params=None):
        super().__init__(params)
        p = self.params
        if p.gcd not in GCD_MODES:
            raise UserError(f"params.gcd must be true, false, global or per_tensor, got {p.gcd!r}")
        if p.probe_holdout is not None:
            raise UserError(HOLDOUT_GONE)
        if p.probe_steps is not None and p.probe_epochs is not None:
            raise UserError("set params.probe_steps or params.probe_epochs, not both")
        positive(p, "beta", "gcd_eps", "probe_lr", "probe_share")
        non_negative(p, "rho")  # SAM's radius
        if p.lambda_max != "auto":
            non_negative(p, "lambda_max")  # the probe weight's peak
        for name in ("probe_steps", "probe_epochs"):
            if getattr(p, name) is not None:
                at_least(p, name, 1)
        at_least(p, "probe_samples", 1)
        at_least(p, "probe_folds", 1)
        self.gcd_mode = GCD_MODES[p.gcd]
        self.probe = None
        self.layer: int | None = None
        self.probe_report: dict = {}
        self.grad_report: dict = {}
        self.lambda_max: float | None = None if p.lambda_max == "auto" else float(p.lambda_max)

    @property
    def uses_probe(self) -> bool:
        return self.params.probe and (self.lambda_max is None or self.lambda_max > 0)

    def probe_steps(self, n_rows: int) -> int:
        """The probe's Adam steps: probe_steps, or probe_epochs full passes, or PROBE_STEPS."""
        p = self.params
        if p.probe_steps is not None:
            return p.probe_steps
        if p.probe_epochs is not None:
            return epoch_steps(n_rows, p.probe_epochs)
        return PROBE_STEPS

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
            steps = self.probe_steps(len(x))
            fit = train_probe_cv(x, y, p.probe_folds, data.seed, steps=steps, lr=p.probe_lr)
            scores[layer] = fit.accuracy
            key = -1.0 if fit.accuracy is None else fit.accuracy
            if best is None or key > best[0]:
                best = (key, layer, fit, len(x))
        _, self.layer, fit, n_rows = best
        self.probe = fit.probe
        self.probe_report = {
            "probe_layer": self.layer,
            "probe_steps": steps,
            "probe_train_accuracy": fit.train_accuracy,
            "probe_folds": fit.folds,
            "probe_heldout_accuracy": fit.accuracy,
            "probe_heldout_correct": fit.correct,
            "probe_heldout_rows": fit.rows,
            "probe_heldout_interval": fit.interval,
            "probe_rows": n_rows,
            "probe_layer_scores": {str(k): v for k, v in scores.items()},
        }
        _warn_if_chance(fit.accuracy, self.layer)

    def report(self) -> dict:
        """What a run summary should carry about this method (the probe's accuracies and the
        probe/NPO gradient ratio measured at the first step)."""
        return {**self.probe_report, **self.grad_report}

    def forget_terms(self, model, batch, ctx, hidden: bool):
        """(L_NPO, L_probe or None, logs) at the current parameters; ``hidden``: compute L_probe."""
        part = batch["forget"]
        out = forward(model, part, output_hidden_states=hidden)
        logp = sequence_logprob(out.logits, part["labels"])
        npo = npo_loss(logp, reference_logprob(ctx, "forget", batch), self.params.beta)
        logs = {"npo_loss": npo.detach()}
        if self.probe_report.get("probe_heldout_accuracy") is not None:
            logs["probe_heldout_acc"] = self.probe_report["probe_heldout_accuracy"]
        if not hidden:
            return npo, None, logs
        pooled = pool_hidden(out.hidden_states[self.layer + 1], part["attention_mask"])
        term = probe_loss(self.probe, pooled)
        logs["probe_loss"] = term.detach()
        return npo, term, logs

    def forget_loss(self, model, batch, ctx):
        """ℓ_f = L_NPO + λ(p)·L_probe at the current parameters."""
        if self.lambda_max is None:
            raise RuntimeError("lambda_max: auto is set by the first custom_step")
        lam = probe_weight(ctx.progress, self.lambda_max) if self.uses_probe else 0.0
        npo, term, logs = self.forget_terms(model, batch, ctx, hidden=lam > 0)
        logs["probe_weight"] = lam
        return (npo if term is None else npo + lam * term), logs

    def measure_ratio(self, model, batch, ctx, engine) -> dict:
        """‖∇L_probe‖/‖∇L_NPO‖ at θ on this batch; sets λ_max under ``lambda_max: auto``.

        Logged: prism_grad_ratio = ‖λ(p)·∇L_probe‖/‖∇L_NPO‖ (the weight in effect now) and
        prism_grad_ratio_at_max = the same with λ_max (the ramp's peak); norms by ``global_dot``.
        """
        with engine.autocast():
            npo, term, _ = self.forget_terms(model, batch, ctx, hidden=True)
        g_npo = engine.grad(npo, retain_graph=True)
        g_probe = engine.grad(term)
        n_npo = float(global_dot(g_npo, g_npo).sqrt())
        n_probe = float(global_dot(g_probe, g_probe).sqrt())
        del g_npo, g_probe
        raw = n_probe / n_npo if n_npo > 0 else math.inf
        if self.lambda_max is None:
            share = self.params.probe_share
            self.lambda_max = share / raw if 0 < raw < math.inf else 0.0
            if self.lambda_max == 0.0:
                engine.warn_once("prism_auto", "PRISM lambda_max: auto found a zero gradient norm")
        lam = probe_weight(ctx.progress, self.lambda_max)
        self.grad_report = {
            "prism_grad_ratio": lam * raw,
            "prism_grad_ratio_at_max": self.lambda_max * raw,
            "prism_grad_ratio_step": ctx.step,
            "prism_npo_grad_norm": n_npo,
            "prism_probe_grad_norm": n_probe,
            "lambda_max": self.lambda_max,
            "lambda_max_auto": self.params.lambda_max == "auto",
        }
        return {k: self.grad_report[k] for k in ("prism_grad_ratio", "prism_grad_ratio_at_max")}

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
        first = self.uses_probe and not self.grad_report
        ratio = self.measure_ratio(model, batch, ctx, engine) if first else {}
        forget, logs, g_f = sam_gradient(engine, lambda: self.forget_loss(model, batch, ctx), rho)
        logs.update(ratio)
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
