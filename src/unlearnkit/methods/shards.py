"""Gradients and weights held as FSDP2 shards (DTensors): reductions over local parts.

Under FSDP2 every parameter, and so every gradient, is a DTensor whose process holds one slice of
dimension 0 (the last slices shorter or empty when the size does not divide: uneven shards).
Element-wise algebra works on DTensors directly; a sum over all elements does not (``reshape`` of
an uneven shard fails), so it runs on the local slices and one all-reduce adds the processes'
partial sums. Replicated tensors (plain, or a DTensor without a ``Shard`` placement) are whole on
every process and are summed locally only.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch.distributed.fsdp import FSDPModule
from torch.distributed.tensor import DTensor, Shard


def is_sharded(t: torch.Tensor) -> bool:
    """A DTensor split over processes (each holds a slice)."""
    return isinstance(t, DTensor) and any(isinstance(p, Shard) for p in t.placements)


def local(t: torch.Tensor) -> torch.Tensor:
    """The part of ``t`` this process holds (``t`` itself when it is not a DTensor)."""
    return t.to_local() if isinstance(t, DTensor) else t


def group_of(tensors: Iterable[torch.Tensor | None]):
    """The process group of the first sharded tensor (None: nothing is sharded)."""
    for t in tensors:
        if t is not None and is_sharded(t):
            return t.device_mesh.get_group()
    return None


def sums(terms: Iterable[tuple[torch.Tensor, bool]], group, size: int = 1) -> torch.Tensor:
    """fp64 sums of per-tensor values, ``size`` of them per term (a vector of that length; a
    scalar for size 1): a term marked sharded is a local partial sum, added over ``group`` with
    one all-reduce; the others are whole already."""
    whole = part = None
    for value, sharded in terms:
        value = value.double().reshape(size)
        if sharded:
            part = value if part is None else part + value.to(part.device)
        else:
            whole = value if whole is None else whole + value.to(whole.device)
    if part is not None:
        if group is not None:
            dist.all_reduce(part, group=group)
        whole = part if whole is None else whole + part.to(whole.device)
    total = torch.zeros(size, dtype=torch.float64) if whole is None else whole
    return total[0] if size == 1 else total


def tensor_sums(terms: list[tuple[torch.Tensor, torch.Tensor]], size: int) -> list[torch.Tensor]:
    """Per tensor, ``size`` fp64 sums over all its elements, from (this process's partial sums, the
    tensor they come from): one all-reduce for every tensor when something is sharded, where a
    whole tensor's sums count on the group's first rank only."""
    group = group_of(t for _, t in terms)
    if group is None:
        return [v.double().reshape(size) for v, _ in terms]
    first = dist.get_rank(group) == 0
    parts = [v if is_sharded(t) or first else torch.zeros_like(v) for v, t in terms]
    if not parts:
        return []
    return list(
        sums([(torch.cat([p.reshape(size) for p in parts]), True)], group, size * len(parts)).view(
            -1, size
        )
    )


def flat_local(t: torch.Tensor) -> torch.Tensor:
    """This process's slice of ``t`` as one fp32 vector."""
    return local(t).float().reshape(-1)


def reshard(model: torch.nn.Module) -> None:
    """Every FSDP2 module of ``model`` back to its sharded parameters. After a forward, the root
    (which keeps its weights gathered) lists plain gathered tensors as its parameters: a setting
    made on those (``requires_grad``) would miss the DTensors that the optimizer and FSDP2 use."""
    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.reshard()


def full(t: torch.Tensor) -> torch.Tensor:
    """``t`` whole on this process (a collective for a sharded DTensor: every process calls it)."""
    return t.full_tensor() if isinstance(t, DTensor) else t
