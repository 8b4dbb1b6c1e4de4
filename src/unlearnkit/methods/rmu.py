"""RMU: steer layer-l activations of forget inputs to c·u, keep retain activations; train few layers.

h_l is the output of decoder layer ``layer`` (``hidden_states[layer + 1]``); the reference hidden
states of retain inputs come from a live frozen model. Only the ``module`` of ``train_layers``
(default: the MLPs of layers l−2..l, as the reference code) is trained.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from unlearnkit.errors import UserError
from unlearnkit.methods.base import Method, MethodNeeds, forward
from unlearnkit.methods.losses import random_control_vector, rmu_forget_loss, rmu_retain_loss


@dataclass
class RMUParams:
    steering_coeff: float = 2.0  # c
    alpha: float = 1.0
    layer: int | None = None  # None: the middle layer
    train_layers: list[int] | None = None  # None: layer-2 .. layer
    module: str = "mlp"  # the trained part of each train layer: mlp, self_attn, or all
    seed: int = 0  # of the random direction u


class RMU(Method):
    name = "rmu"
    Params = RMUParams

    def __init__(self, params=None):
        super().__init__(params)
        self.layer: int | None = None
        self.control: torch.Tensor | None = None

    def needs(self) -> MethodNeeds:
        return MethodNeeds(retain=True, reference="live")

    def prepare(self, model, data) -> None:
        config = model.config
        n_layers, hidden = config.num_hidden_layers, config.hidden_size
        layer = n_layers // 2 if self.params.layer is None else self.params.layer
        if not 0 <= layer < n_layers:
            raise UserError(f"rmu layer must be in 0..{n_layers - 1} for this model, got {layer}")
        self.layer = layer
        u = random_control_vector(hidden, self.params.seed, device=data.device)
        self.control = self.params.steering_coeff * u

    def train_layers(self) -> list[int]:
        if self.params.train_layers is not None:
            return list(self.params.train_layers)
        return list(range(max(0, self.layer - 2), self.layer + 1))

    def trainable(self):
        module = "" if self.params.module == "all" else re.escape(self.params.module) + r"\."
        pattern = re.compile(
            rf"(^|\.)layers\.({'|'.join(map(str, self.train_layers()))})\.{module}"
        )
        return lambda name: bool(pattern.search(name))

    def _hidden(self, outputs) -> torch.Tensor:
        return outputs.hidden_states[self.layer + 1]

    def forget_loss(self, model, batch, ctx):
        part = batch["forget"]
        hidden = self._hidden(forward(model, part, output_hidden_states=True))
        loss = rmu_forget_loss(hidden, part["attention_mask"], self.control)
        return loss, {"rmu_forget": loss.detach()}

    def retain_loss(self, model, batch, ctx):
        part = batch["retain"]
        hidden = self._hidden(forward(model, part, output_hidden_states=True))
        ref = self._hidden(ctx.reference.outputs(part, output_hidden_states=True))
        loss = rmu_retain_loss(hidden, ref, part["attention_mask"])
        return self.params.alpha * loss, {"rmu_retain": loss.detach()}
