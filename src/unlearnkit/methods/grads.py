"""Gradient-list algebra, in one place and one precision: a gradient is a list of tensors, one per
trainable parameter (``None`` = zero). Dot products run per tensor in fp32 and accumulate in fp64;
results are applied in each tensor's own dtype. The SAM step and the retain step live here too, for
every method with its own training step (SAM, PRISM, SGA ``r: auto``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch

from unlearnkit.methods.shards import flat_local, group_of, is_sharded, sums, tensor_sums

if TYPE_CHECKING:
    from unlearnkit.methods.base import GradEngine, Logs

Grads = list[torch.Tensor | None]
GradList = Sequence[torch.Tensor | None]


def combine(a: GradList, b: GradList, wa: float = 1.0, wb: float = 1.0) -> Grads:
    """wa·a + wb·b over two gradient lists (None counts as zero)."""
    out: Grads = []
    for x, y in zip(a, b, strict=True):
        if x is None and y is None:
            out.append(None)
        elif y is None:
            out.append(x * wa)
        elif x is None:
            out.append(y * wb)
        else:
            out.append(x * wa + y * wb)
    return out


def _pairs(a: GradList, b: GradList) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]


def global_dot(a: GradList, b: GradList) -> torch.Tensor:
    """⟨a, b⟩ over all tensors of two matching lists: an fp64 scalar (None counts as zero).

    Per-tensor fp32 dots, accumulated in fp64: no flattened copy of a large model's gradient.
    FSDP2 shards: local dots, then one all-reduce over the processes (``methods.shards``).
    """
    pairs = _pairs(a, b)
    return sums(
        ((torch.dot(flat_local(x), flat_local(y)), is_sharded(x)) for x, y in pairs),
        group_of(x for x, _ in pairs),
    )


def _difference(x: torch.Tensor | None, y: torch.Tensor | None) -> torch.Tensor:
    if y is None:
        return x.float()
    return -y.float() if x is None else x.float() - y.float()


def squared_distance(a: GradList, b: GradList) -> torch.Tensor:
    """‖a − b‖² over two matching lists, as :func:`global_dot` computes it."""
    diffs = [_difference(x, y) for x, y in zip(a, b, strict=True) if x is not None or y is not None]
    return sums(((flat_local(d).pow(2).sum(), is_sharded(d)) for d in diffs), group_of(diffs))


def project_out(g_f: GradList, g_r: GradList) -> Grads:
    """GCD: g_f − (⟨g_f, g_r⟩/‖g_r‖²)·g_r over the whole parameter list; g_f if ‖g_r‖ = 0."""
    rr = global_dot(g_r, g_r)
    if float(rr) == 0.0:
        return [None if g is None else g.clone() for g in g_f]
    coef = float((global_dot(g_f, g_r) / rr).float())  # a float: DTensors take no tensor factor
    out: Grads = []
    for f, r in zip(g_f, g_r, strict=True):
        if r is None:
            out.append(None if f is None else f.clone())
        elif f is None:
            out.append((-coef * r.float()).to(r.dtype))
        else:
            out.append((f.float() - coef * r.float()).to(f.dtype))
    return out


def project_out_per_tensor(g_f: GradList, g_r: GradList, eps: float = 1e-8) -> Grads:
    """GCD per parameter tensor: g_f,i − (⟨g_f,i, g_r,i⟩/(‖g_r,i‖² + eps))·g_r,i for each i."""
    pairs = _pairs(g_f, g_r)
    totals = tensor_sums(
        [(torch.stack([torch.dot(flat_local(f), flat_local(r)), flat_local(r).pow(2).sum()]), f)
         for f, r in pairs],
        size=2,
    )  # fmt: skip
    coefs = iter([float(fr / (rr + eps)) for fr, rr in totals])
    out: Grads = []
    for f, r in zip(g_f, g_r, strict=True):
        if f is None or r is None:
            out.append(None if f is None else f.clone())
            continue
        out.append((f.float() - next(coefs) * r.float()).to(f.dtype))
    return out


def sam_perturbation(grads: GradList, rho: float, norm: torch.Tensor | None = None) -> Grads:
    """ε = ρ·g/‖g‖₂ with the global norm over the list (``norm`` when given, e.g. already
    computed); zeros when ρ = 0 or ‖g‖ = 0."""
    norm = global_dot(grads, grads).sqrt().float() if norm is None else norm.float()
    zero = rho == 0 or float(norm) == 0.0
    scale = 0.0 if zero else float(rho / norm)  # a float: DTensors take no tensor factor
    out: Grads = []
    for g in grads:
        if g is None:
            out.append(None)
        elif zero:
            out.append(torch.zeros_like(g))
        else:
            out.append((g.float() * scale).to(g.dtype))
    return out


# ---- the steps of methods with their own training step (engine: methods.base.GradEngine)

SWALLOWED = 0.5  # warn when the forward sees less than this share of ‖ε‖ = ρ
SEEN_COS = 0.9  # or a perturbation whose cosine with ε is below this
NOT_FINITE = (
    "SAM: the first gradient is not finite; such steps skip the perturbation and the forget "
    "gradient (logged as sam_skipped = 1)"
)
SWALLOWED_NOTE = (
    "SAM: the forward sees a perturbation of norm {applied:.3g} (rho = {rho:g}) at cosine "
    "{cos:.3f} with ε: low-precision weights round most of it away (docs/precision.md)"
)


def sam_gradient(
    engine: GradEngine, closure: Callable[[], tuple[torch.Tensor, Logs]], rho: float
) -> tuple[torch.Tensor, Logs, Grads]:
    """(loss at θ, its logs, ∇loss at θ + ε) with ε = ρ·g¹/‖g¹‖; ρ = 0 is the plain gradient.

    With ρ > 0 it logs what the perturbed forward sees of ε (``methods.perturb``):
    ``sam_applied_norm`` (its fp32 norm, ρ when nothing is lost) and ``sam_seen_cos`` (its cosine
    with ε), and ``sam_skipped``: 1 when g¹ is not finite, where the step skips ε and returns no
    gradient (``None`` everywhere) instead of a non-finite one.
    """
    with engine.autocast():
        loss, logs = closure()
    grads = engine.grad(loss)
    if rho == 0:
        return loss, logs, grads
    norm = global_dot(grads, grads).sqrt()
    if not bool(torch.isfinite(norm)):
        engine.warn_once("sam_skipped", NOT_FINITE)
        skipped = {
            "sam_forget_loss": loss.detach(),
            "sam_applied_norm": 0.0,
            "sam_seen_cos": 0.0,
            "sam_skipped": 1.0,
        }
        return loss, {**logs, **skipped}, [None] * len(grads)
    eps = sam_perturbation(grads, rho, norm)
    del grads  # g¹ is not needed past ε: free it before the second backward
    with engine.perturbed(eps) as seen:
        del eps  # the engine frees ε once applied
        with engine.autocast():
            perturbed, _ = closure()
        grads = engine.grad(perturbed)
    applied, cos = float(seen.norm), float(seen.cos)
    if float(norm) > 0 and (applied < SWALLOWED * rho or cos < SEEN_COS):
        engine.warn_once("sam_swallowed", SWALLOWED_NOTE.format(applied=applied, rho=rho, cos=cos))
    extra = {
        "sam_forget_loss": perturbed.detach(),
        "sam_applied_norm": seen.norm,
        "sam_seen_cos": seen.cos,
        "sam_skipped": 0.0,
    }
    return loss, {**logs, **extra}, grads


def retain_gradient(
    engine: GradEngine, closure: Callable[[], tuple[torch.Tensor | None, Logs]]
) -> tuple[torch.Tensor | None, Logs, Grads | None]:
    """The retain term at θ and its gradient (None when the method has no retain term)."""
    with engine.autocast():
        loss, logs = closure()
    if loss is None:
        return None, logs, None
    return loss, logs, engine.grad(loss)
