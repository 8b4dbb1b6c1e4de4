"""SGA: smoothed gradient ascent over a forget sample and its K−1 normal samples.

Forget and normal rows go through the model in one forward. ``r: auto`` (opt-in) recomputes the rate
every ``r_every`` steps from g_f and ḡ_n with a custom step: r* (``sga.math.raw_rate``, averaged
over processes), then ``r_auto: norm`` uses r* and ``r_auto: sign`` uses sign(r*)·``r_magnitude``;
either is clipped to [r_min, r_max] (r_max = 0 by default: never positive smoothing, which would
ascend the normal rows too). r is logged every step as ``sga_r`` and the last r* as ``sga_r_star``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from unlearnkit.errors import UserError
from unlearnkit.methods.base import Method, MethodNeeds, concat_parts, part_nll
from unlearnkit.methods.grads import combine
from unlearnkit.methods.sga.math import AUTO_MODES, auto_rate, raw_rate, sga_loss, sga_weights
from unlearnkit.methods.sga.normal_data import DEFAULT_PROMPT, NormalSource


@dataclass
class SGAParams:
    K: int = 4
    r: float | str = -0.4  # a rate r <= 1, or "auto"
    r_every: int = 10
    r_auto: str = "norm"  # with r: auto; norm: r = r*, sign: r = sign(r*)·r_magnitude
    r_magnitude: float = 0.4
    r_min: float = -1.0
    r_max: float = 0.0  # r: auto stays on the negative side unless raised (at most 1)
    normal_source: str = "retain_nn"  # retain_nn | file | generate
    normal_file: str | None = None
    normal_model: str | None = None
    normal_prompt: str = DEFAULT_PROMPT


class SGA(Method):
    name = "sga"
    Params = SGAParams

    def __init__(self, params=None):
        super().__init__(params)
        p = self.params
        if p.K < 1:
            raise UserError(f"params.K must be >= 1, got {p.K}")
        if isinstance(p.r, str) and p.r != "auto":
            raise UserError(f"params.r must be a number <= 1 or 'auto', got {p.r!r}")
        if not isinstance(p.r, str) and p.r > 1:
            raise UserError(f"params.r must be <= 1, got {p.r}")
        if p.r_every < 1 or p.r_min > p.r_max or p.r_max > 1:
            raise UserError("params.r_every must be >= 1 and params.r_min <= params.r_max <= 1")
        if p.r_auto not in AUTO_MODES or p.r_magnitude < 0:
            raise UserError(
                f"params.r_auto must be one of {', '.join(AUTO_MODES)} and params.r_magnitude "
                f">= 0, got {p.r_auto!r} and {p.r_magnitude}"
            )
        self.auto = p.r == "auto"
        self.r: float = 0.0 if self.auto else float(p.r)
        self.r_star: float | None = None  # the last unclipped r* (r: auto)
        self.r_step: int | None = None  # the step r was last computed at

    def needs(self) -> MethodNeeds:
        p = self.params
        source = None
        if p.K > 1:
            source = NormalSource(p.normal_source, p.normal_file, p.normal_model, p.normal_prompt)
            source.check()
        return MethodNeeds(normal=p.K - 1, normal_source=source, custom_step=self.auto and p.K > 1)

    def _nll(self, model, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-row ℓ of the forget rows (B,) and normal rows (B, K−1), from one forward."""
        forget, K = batch["forget"], self.params.K
        B = forget["input_ids"].shape[0]
        if K == 1:
            nll = part_nll(model, forget)
            return nll, nll.new_zeros(B, 0)
        nll = part_nll(model, concat_parts(forget, batch["normal"]))
        return nll[:B], nll[B:].view(B, K - 1)

    def _logs(self, f: torch.Tensor, n: torch.Tensor) -> dict:
        logs = {"sga_r": self.r, "forget_nll": f.mean().detach()}
        if self.r_star is not None:
            logs["sga_r_star"] = self.r_star
        if n.numel():
            logs["normal_nll"] = n.mean().detach()
        return logs

    def forget_loss(self, model, batch, ctx):
        f, n = self._nll(model, batch)
        return sga_loss(f, n, self.r, self.params.K), self._logs(f, n)

    def custom_step(self, model, batch, ctx, engine):
        p = self.params
        with engine.autocast():
            f, n = self._nll(model, batch)
        if self.r_step is None or (ctx.step % p.r_every == 0 and self.r_step != ctx.step):
            # ∇L_SGA = −w_f g_f − w_n (K−1) ḡ_n: two backward passes give both r* and the update.
            g_f = engine.grad(f.mean(), retain_graph=True)
            g_n = engine.grad(n.mean())
            self.r, self.r_step = self._auto_rate(engine, raw_rate(g_f, g_n, p.K)), ctx.step
            w_f, w_n = sga_weights(self.r, p.K)
            grads = combine(g_f, g_n, -w_f, -w_n * (p.K - 1))
        else:
            grads = engine.grad(sga_loss(f, n, self.r, p.K))
        loss = sga_loss(f.detach(), n.detach(), self.r, p.K)
        return loss, {**self._logs(f, n), "forget_loss": loss}, grads

    def _auto_rate(self, engine, r_star: float | None) -> float:
        """r* averaged over processes (undefined on any: undefined), then ``r_auto`` and the clip."""
        mean = engine.mean(math.nan if r_star is None else r_star)
        if math.isfinite(mean):
            self.r_star = mean
        p = self.params
        star = mean if math.isfinite(mean) else None
        return auto_rate(star, p.r_auto, p.r_magnitude, p.r_min, p.r_max, fallback=self.r)

    def state_dict(self) -> dict:
        return {"r": self.r, "r_step": self.r_step}

    def load_state_dict(self, state: dict) -> None:
        self.r, self.r_step = float(state["r"]), state.get("r_step")
