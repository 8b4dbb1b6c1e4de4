"""What a bf16-autocast forward casts: the parameters of linear maps, which its matmuls round to the
autocast dtype (norm weights, embedding lookups and the residual stream stay in their own dtype)."""

from __future__ import annotations

import torch
from torch import nn


def is_conv1d(module: nn.Module) -> bool:
    """GPT-2's ``Conv1D`` (y = x·W + b, weight (in, out)), told by its attributes."""
    weight = getattr(module, "weight", None)
    return getattr(module, "nf", None) is not None and weight is not None and weight.dim() == 2


def casts_weights(module: nn.Module) -> bool:
    """Whether autocast casts this module's own parameters (a linear map's matmul)."""
    return isinstance(module, nn.Linear) or is_conv1d(module)


def parameter_users(model: nn.Module) -> dict[int, list[tuple[nn.Module, str]]]:
    """Every module that holds each parameter directly (tied weights have several), by id."""
    users: dict[int, list[tuple[nn.Module, str]]] = {}
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            users.setdefault(id(p), []).append((module, name))
    return users


def store_cast_weights(model: nn.Module, dtype: torch.dtype) -> None:
    """Store in ``dtype`` every parameter that only linear maps use: an autocast forward to
    ``dtype`` computes the same as before (it casts them anyway), in less memory. A weight tied to
    a module that does not cast it (an embedding) keeps its dtype."""
    for users in parameter_users(model).values():
        if all(casts_weights(m) for m, _ in users):
            module, name = users[0]
            p = getattr(module, name)
            if p.is_floating_point() and p.dtype != dtype:
                p.data = p.data.to(dtype)
