"""SAM's θ + ε as the forward sees it, and applied so that a low-precision forward sees it.

Under bf16 autocast every matmul casts its weight to bf16, so a perturbation written into fp32
master weights reaches the forward as bf16(θ + ε) − bf16(θ): at ρ = 0.01 on a 135M model mostly
rounding (docs/precision.md). :func:`perturbation` therefore applies ε to the weights of linear maps
and embeddings through an *additive path*: the weight stays θ and a forward hook adds the map of ε
(``F.linear(x, ε)``, ``F.embedding(ids, ε)``) to the module's output, summed in fp32, so the matmul
sees bf16(ε) with ε's own exponent; a peft LoRA adapter's ε goes in as the exact change of its
layer's output, after peft casts that output back to bf16. Every other parameter (norm weights, biases of other modules,
parameters a hook cannot reach) gets θ + ε written into it and copied back after, as before. Under
FSDP2 ε is sharded like the weights: a hook gathers its module's ε whole for the pass (as FSDP2
gathers the weight), and the measures sum local slices over the processes (``methods.shards``). :func:`seen_perturbation`'s measure of what the forward sees is logged by the SAM step.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.casting import casts_weights, parameter_users
from unlearnkit.methods.shards import flat_local, full, tensor_sums

LOW = (torch.bfloat16, torch.float16)


@dataclass(frozen=True)
class Seen:
    """What the forward sees of ε: the fp32 norm of that perturbation and its cosine with ε."""

    norm: torch.Tensor
    cos: torch.Tensor


def _additive(module: nn.Module, name: str) -> bool:
    """Whether ε of ``module.<name>`` can go through the additive path of a hook on ``module``."""
    if isinstance(module, nn.Embedding):
        return name == "weight" and module.max_norm is None
    return casts_weights(module) and name in ("weight", "bias")


def _delta(module: nn.Module, args: tuple, eps: dict[str, torch.Tensor]) -> torch.Tensor:
    """The module's output for its ε alone (the map is linear in its parameters)."""
    x = args[0]
    eps = {k: full(v) for k, v in eps.items()}  # a sharded ε gathered whole, as FSDP2 gathers θ
    if isinstance(module, nn.Embedding):
        return F.embedding(x, eps["weight"], module.padding_idx)
    weight, bias = eps.get("weight"), eps.get("bias")
    if weight is None:
        return bias
    if isinstance(module, nn.Linear):
        return F.linear(x, weight, bias)
    out = torch.matmul(x, weight)  # GPT-2's Conv1D: weight (in, out)
    return out if bias is None else out + bias


def _lora_adapters(model: nn.Module) -> dict[int, tuple[nn.Module, str, str]]:
    """id of each parameter of a peft LoRA adapter (plain linear A and B, no A bias, no variant
    such as DoRA) → (its LoRA layer, adapter name, role "A", "B" or "b")."""
    found: dict[int, tuple[nn.Module, str, str]] = {}
    for layer in model.modules():
        a_maps, b_maps = getattr(layer, "lora_A", None), getattr(layer, "lora_B", None)
        if not (isinstance(a_maps, nn.ModuleDict) and isinstance(b_maps, nn.ModuleDict)):
            continue
        for name, a in a_maps.items():
            if name not in b_maps:
                continue
            b = b_maps[name]
            plain = isinstance(a, nn.Linear) and isinstance(b, nn.Linear) and a.bias is None
            if not plain or name in getattr(layer, "lora_variant", {}):
                continue
            for role, p in (("A", a.weight), ("B", b.weight), ("b", b.bias)):
                if p is not None:
                    found[id(p)] = (layer, name, role)
    return found


def _lora_hooks(layer: nn.Module, name: str, eps: dict[str, torch.Tensor]) -> list:
    """Hooks that add the exact change of a LoRA layer's output to it, after peft's own sum.

    peft computes base(x) + s·B(A(z)) and casts it back to the base output's dtype (bf16 under
    autocast), which would round a small change away; so the change s·[(B+ε_B)(A+ε_A) − BA]z =
    s·[ε_B·u + (B+ε_B)·ε_A·z] (u = A z as the layer computed it, ε_b added with ε_B) is added in
    fp32 to the layer's output. z and u come from a hook on A, so dropout's mask is the layer's."""
    a, b = layer.lora_A[name], layer.lora_B[name]
    seen: dict[str, torch.Tensor] = {}

    def keep(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        seen["z"], seen["u"] = args[0], output

    def add(module: nn.Module, args: tuple, output: torch.Tensor):
        if "u" not in seen:  # the adapter did not run (disabled, merged, not active)
            return None
        z, u = seen.pop("z"), seen.pop("u")
        e_a, e_b, e_bias = eps.get("A"), eps.get("B"), eps.get("b")
        delta = torch.zeros((), device=output.device)
        if e_b is not None:
            delta = delta + F.linear(u, e_b, e_bias).float()
        elif e_bias is not None:
            delta = delta + e_bias.float()
        if e_a is not None:
            weight = b.weight if e_b is None else b.weight + e_b
            delta = delta + F.linear(F.linear(z, e_a), weight).float()
        return output.float() + layer.scaling[name] * delta

    return [a.register_forward_hook(keep), layer.register_forward_hook(add)]


def _hook(eps: dict[str, torch.Tensor]):
    def add(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        # In fp32: a bf16 sum would round the small δ away again against the bf16 output.
        return output.float() + _delta(module, args, eps).float()

    return add


class _Plan:
    """Which parameters take ε through a hook (``hooked``: module → {name: ε}; ``lora``: (LoRA
    layer, adapter) → {role: ε}) and which in place."""

    def __init__(self, model: nn.Module, params: Sequence[torch.Tensor], eps, additive: bool):
        users = parameter_users(model)
        adapters = _lora_adapters(model) if additive else {}
        self.hooked: dict[nn.Module, dict[str, torch.Tensor]] = {}
        self.lora: dict[tuple[nn.Module, str], dict[str, torch.Tensor]] = {}
        self.in_place: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.through_hooks: list[tuple[torch.Tensor, torch.Tensor]] = []
        for p, e in zip(params, eps, strict=True):
            if e is None:
                continue
            where = users.get(id(p), [])
            if id(p) in adapters and len(where) == 1 and _plain(p):
                layer, name, role = adapters[id(p)]
                self.lora.setdefault((layer, name), {})[role] = e
                self.through_hooks.append((p, e))
            elif additive and where and all(_additive(m, n) for m, n in where):
                self.through_hooks.append((p, e))
                for module, name in where:
                    self.hooked.setdefault(module, {})[name] = e
            else:
                self.in_place.append((p, e))
        self.cast = {id(p) for p, _ in (*self.through_hooks, *self.in_place) if _cast(users, p)}


def _plain(p: torch.Tensor) -> bool:
    """A parameter held whole by this process (a sharded LoRA adapter is perturbed in place)."""
    return type(p.data) is torch.Tensor


def _cast(users: dict, p: torch.Tensor) -> bool:
    return any(casts_weights(m) for m, _ in users.get(id(p), []))


def seen_of(pairs: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> Seen:
    """:class:`Seen` from (what the forward sees, ε) per tensor: per-tensor fp32 dots, fp64 sums
    (FSDP2 shards: over local slices, then one all-reduce)."""
    terms = []
    for seen, e in pairs:
        s, v = flat_local(seen), flat_local(e)
        terms.append((torch.stack([torch.dot(s, v), torch.dot(s, s), torch.dot(v, v)]), e))
    totals = tensor_sums(terms, size=3)
    dot, ss, ee = (sum(totals) if totals else torch.zeros(3, dtype=torch.float64)).unbind()
    norm = ss.sqrt()
    denom = norm * ee.sqrt()
    cos = dot / denom if float(denom) > 0 else torch.zeros_like(dot)
    return Seen(norm.float(), cos.float())


def cast_difference(after: torch.Tensor, before: torch.Tensor, cast: torch.dtype | None):
    """after − before as a forward that casts both to ``cast`` sees it (None: no cast), in fp32."""
    if cast is None:
        return after.float() - before.float()
    return after.to(cast).float() - before.to(cast).float()


def seen_perturbation(
    before: Sequence[torch.Tensor],
    after: Sequence[torch.Tensor],
    eps: Sequence[torch.Tensor],
    cast: torch.dtype | None,
) -> Seen:
    """What a forward that casts the weights to ``cast`` (autocast's dtype; None: no cast) sees of
    ε when they move from ``before`` to ``after`` in place: cast(after) − cast(before) against ε."""
    return seen_of(
        (cast_difference(a, b, cast), e) for b, a, e in zip(before, after, eps, strict=True)
    )


@contextlib.contextmanager
def perturbation(
    model: nn.Module,
    params: Sequence[torch.Tensor],
    eps: Sequence[torch.Tensor | None],
    cast: torch.dtype | None,
    additive: bool = True,
) -> Iterator[Seen]:
    """θ + ε inside the block for a forward that autocasts to ``cast`` (None: no autocast); yields
    what that forward sees of ε (:class:`Seen`); every parameter is restored exactly after.

    Under a bf16/fp16 autocast the ε of linear maps and embeddings goes through the additive hooks
    (their output then stays fp32, as the rest of an autocast forward accepts); without autocast
    θ + ε is written in place, where the weights' own dtype is what the forward computes in.
    ``additive=False`` writes every ε in place (what SAM did before; the benchmarks compare it).
    """
    compute = cast if cast in LOW else None
    plan = _Plan(model, params, eps, additive=additive and compute is not None)
    handles = [m.register_forward_hook(_hook(e)) for m, e in plan.hooked.items()]
    for (layer, name), e in plan.lora.items():
        handles += _lora_hooks(layer, name, e)
    with torch.no_grad():
        saved = [p.detach().clone() for p, _ in plan.in_place]
        for (p, e), s in zip(plan.in_place, saved, strict=True):
            p.copy_(s.float() + e.float())
        seen = seen_of(
            itertools.chain(
                (
                    (cast_difference(p, s, compute if id(p) in plan.cast else None), e)
                    for (p, e), s in zip(plan.in_place, saved, strict=True)
                ),
                (
                    (e.to(compute) if compute is not None and id(p) in plan.cast else e, e)
                    for p, e in plan.through_hooks
                ),
            )
        )
    moved = [p for p, _ in plan.in_place]
    del eps, plan  # ε written into the weights is not needed past here: free it for the pass
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()
        with torch.no_grad():
            for p, s in zip(moved, saved, strict=True):
                p.copy_(s)
