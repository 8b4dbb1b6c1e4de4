"""RMU: steer layer-l activations of forget inputs to c·u, keep retain activations; train few layers.

h_l is the output of decoder layer ``layer`` (``hidden_states[layer + 1]``); the reference hidden
states of retain inputs come from a live frozen model. Both terms average over response tokens
(labels ≠ −100). Only ``module`` of ``train_layers`` trains: by default the MLP's output projection
(``mlp_out``: ``mlp.down_proj`` on Llama, ``mlp.c_proj`` on GPT-2, found by inspection) of layers
l−2..l, as the reference WMDP code (``layer_ids`` 5, 6, 7 with ``param_ids`` [6]); ``module: mlp``
(gate/up/down), ``self_attn`` or ``all`` widen it. ``c_mode: relative`` makes c a multiple of the
mean token norm of h_l on the forget rows, measured before training.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

from unlearnkit.errors import UserError
from unlearnkit.logprobs import IGNORE_INDEX
from unlearnkit.methods.base import Method, MethodNeeds, forward
from unlearnkit.methods.losses import random_control_vector, rmu_forget_loss, rmu_retain_loss
from unlearnkit.model_layers import MLP_OUT, hidden_size, layer_parameter_prefixes, num_layers

log = logging.getLogger(__name__)

C_MODES = ("absolute", "relative")
FAR_OFF = 10.0  # warn when an absolute c is this many times above or below the activation norm


@dataclass
class RMUParams:
    steering_coeff: float = 2.0  # c (absolute) or c as a multiple of the activation norm (relative)
    c_mode: str = "absolute"  # absolute | relative
    c_samples: int = 64  # forget rows that measure the activation norm
    alpha: float = 1.0
    layer: int | None = None  # None: the middle layer
    train_layers: list[int] | None = None  # None: layer-2 .. layer
    module: str = MLP_OUT  # trained part of each layer: mlp_out (found by inspection), a path, all
    seed: int = 0  # of the random direction u


def response_token_mask(labels: torch.Tensor) -> torch.Tensor:
    """1 on response tokens (labels ≠ −100), 0 on prompt and padding; same shape as labels."""
    return (labels != IGNORE_INDEX).to(torch.float32)


class RMU(Method):
    name = "rmu"
    Params = RMUParams

    def __init__(self, params=None):
        super().__init__(params)
        if self.params.c_mode not in C_MODES:
            raise UserError(
                f"params.c_mode must be one of {', '.join(C_MODES)}, got {self.params.c_mode!r}"
            )
        self.layer: int | None = None
        self.control: torch.Tensor | None = None
        self.activation_norm: float | None = None
        self.prefixes: list[str] | None = None

    def needs(self) -> MethodNeeds:
        return MethodNeeds(retain=True, reference="live", frozen_base=True)

    def prepare(self, model, data) -> None:
        self.layer = layer = self.pick_layer(model)
        rows = list(data.forget)[: max(1, self.params.c_samples)]
        self.activation_norm = activation_norm(
            model, rows, layer, data.pad_id, data.device, data.batch_size, data.autocast
        )
        c = self.steering_coeff()
        u = random_control_vector(hidden_size(model), self.params.seed, device=data.device)
        self.control = c * u
        self.locate(model)

    def pick_layer(self, model) -> int:
        """The steered layer: ``params.layer``, else the middle one."""
        n_layers = num_layers(model)
        layer = n_layers // 2 if self.params.layer is None else self.params.layer
        if not 0 <= layer < n_layers:
            raise UserError(f"rmu layer must be in 0..{n_layers - 1} for this model, got {layer}")
        return layer

    def trainable_on(self, model):
        probe = copy.copy(self)  # this method's own layer and prefixes stay prepare's to set
        probe.layer = self.pick_layer(model)
        probe.locate(model)
        return probe.trainable()

    def locate(self, model) -> None:
        """Find the parameters that train (the ``module`` of each train layer) in ``model``."""
        self.prefixes = layer_parameter_prefixes(model, self.train_layers(), self.params.module)

    def steering_coeff(self) -> float:
        """The c that multiplies u: as configured, or times the measured norm (relative)."""
        c, scale = self.params.steering_coeff, self.activation_norm
        if self.params.c_mode == "relative":
            if not scale:
                raise UserError("rmu c_mode: relative needs the activation norm (run prepare)")
            return c * scale
        warn_if_far_off(c, scale, self.layer)
        return c

    def report(self) -> dict:
        """The steering scale of the run (for the run summary)."""
        return {
            "rmu_c": float(self.control.norm()) if self.control is not None else None,
            "rmu_activation_norm": self.activation_norm,
        }

    def train_layers(self) -> list[int]:
        if self.params.train_layers is not None:
            return list(self.params.train_layers)
        return list(range(max(0, self.layer - 2), self.layer + 1))

    def trainable(self):
        """Parameters under the trained modules (also inside LoRA's wrapper, whose names add a
        prefix and adapter suffixes)."""
        if self.prefixes is None:
            raise UserError("rmu: call prepare(model, data) before asking what trains")
        pattern = re.compile("(^|\\.)(" + "|".join(map(re.escape, self.prefixes)) + ")")
        return lambda name: bool(pattern.search(name))

    def _hidden(self, outputs) -> torch.Tensor:
        return outputs.hidden_states[self.layer + 1]

    def forget_loss(self, model, batch, ctx):
        part = batch["forget"]
        hidden = self._hidden(forward(model, part, output_hidden_states=True))
        loss = rmu_forget_loss(hidden, response_token_mask(part["labels"]), self.control)
        return loss, {"rmu_forget": loss.detach()}

    def retain_loss(self, model, batch, ctx):
        part = batch["retain"]
        hidden = self._hidden(forward(model, part, output_hidden_states=True))
        ref = self._hidden(ctx.reference.outputs(part, output_hidden_states=True))
        loss = rmu_retain_loss(hidden, ref, response_token_mask(part["labels"]))
        return self.params.alpha * loss, {"rmu_retain": loss.detach()}


@torch.no_grad()
def activation_norm(
    model,
    examples: Sequence,
    layer: int,
    pad_id: int,
    device,
    batch_size: int = 16,
    autocast: Callable[[], AbstractContextManager] = nullcontext,
) -> float:
    """Mean L2 norm of the layer-``layer`` output over the response tokens of ``examples``, under
    ``autocast`` (the run's forward precision)."""
    from unlearnkit.data.collate import pad_batch

    was_training = model.training
    model.eval()
    total, count = 0.0, 0.0
    try:
        for start in range(0, len(examples), batch_size):
            batch = {
                k: v.to(device)
                for k, v in pad_batch(examples[start : start + batch_size], pad_id).items()
            }
            with autocast():
                out = forward(model, batch, output_hidden_states=True)
            norms = out.hidden_states[layer + 1].float().norm(dim=-1)
            mask = response_token_mask(batch["labels"])
            total += float((norms * mask).sum())
            count += float(mask.sum())
    finally:
        model.train(was_training)
    return total / count if count else 0.0


def warn_if_far_off(c: float, scale: float | None, layer: int | None) -> None:
    """Warn when ‖c·u‖ = c is more than FAR_OFF times above or below the activation norm."""
    if not scale or c <= 0:
        return
    ratio = c / scale
    if ratio > FAR_OFF or ratio < 1 / FAR_OFF:
        log.warning(
            "RMU steering_coeff c = %g is %.3gx the mean activation norm %.3g at layer %s; the "
            "forget term then mostly rescales activations (use c_mode: relative, or c near %.3g)",
            c,
            ratio,
            scale,
            layer,
            scale,
        )
