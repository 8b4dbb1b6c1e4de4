"""SGA: smoothed gradient ascent over a forget sample and its K−1 normal samples.

Forget and normal rows go through the model in one forward. With ``r: auto`` the rate is set to
r* (``sga_math.optimal_rate``) from g_f and ḡ_n every ``r_every`` steps (averaged over processes),
which needs a custom step; r is logged every step as ``sga_r``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearnkit.errors import UserError
from unlearnkit.methods.base import Method, MethodNeeds, combine, concat_parts, part_nll
from unlearnkit.methods.normal_data import DEFAULT_PROMPT, NormalSource
from unlearnkit.methods.sga_math import optimal_rate, sga_loss, sga_weights


@dataclass
class SGAParams:
    K: int = 4
    r: float | str = -0.4  # a rate r <= 1, or "auto"
    r_every: int = 10
    r_min: float = -1.0
    r_max: float = 1.0
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
        if p.r_every < 1 or p.r_min > p.r_max:
            raise UserError("params.r_every must be >= 1 and params.r_min <= params.r_max")
        self.auto = p.r == "auto"
        self.r: float = 0.0 if self.auto else float(p.r)
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
            r = optimal_rate(g_f, g_n, p.K, p.r_min, p.r_max, fallback=self.r)
            self.r, self.r_step = engine.mean(r), ctx.step
            w_f, w_n = sga_weights(self.r, p.K)
            grads = combine(g_f, g_n, -w_f, -w_n * (p.K - 1))
        else:
            grads = engine.grad(sga_loss(f, n, self.r, p.K))
        loss = sga_loss(f.detach(), n.detach(), self.r, p.K)
        return loss, {**self._logs(f, n), "forget_loss": loss}, grads

    def state_dict(self) -> dict:
        return {"r": self.r, "r_step": self.r_step}

    def load_state_dict(self, state: dict) -> None:
        self.r, self.r_step = float(state["r"]), state.get("r_step")
