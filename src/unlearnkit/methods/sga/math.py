"""Smoothed Gradient Ascent: label-smoothing weights, the loss, and the optimal smoothing rate.

Convention (docs/methods.md): r = 0 is plain GA; r < 0 is negative label smoothing, where the forget
sample is ascended with weight 1 + |r|(K−1)/K and each normal sample descended with weight |r|/K.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from unlearnkit.methods.grads import global_dot, squared_distance

Grad = torch.Tensor | Sequence[torch.Tensor]


def _as_list(g: Grad) -> Sequence[torch.Tensor]:
    return [g] if isinstance(g, torch.Tensor) else g


def sga_weights(r: float, K: int) -> tuple[float, float]:
    """(forget_weight, normal_weight) = (1 − r + r/K, r/K): the one place the weights live."""
    if K < 1:
        raise ValueError(f"SGA needs K >= 1 (one forget sample plus K-1 normal ones), got K={K}")
    return 1.0 - r + r / K, r / K


def sga_loss(forget_nll: torch.Tensor, normal_nll: torch.Tensor, r: float, K: int) -> torch.Tensor:
    """−mean[(1 − r + r/K) ℓ(x_f) + (r/K) Σ_k ℓ(x_{n,k})]; forget_nll (B,), normal_nll (B, K−1)."""
    if normal_nll.dim() != 2 or normal_nll.shape != (forget_nll.shape[0], K - 1):
        raise ValueError(
            f"normal_nll must have shape (B, K-1) = ({forget_nll.shape[0]}, {K - 1}), "
            f"got {tuple(normal_nll.shape)}"
        )
    w_f, w_n = sga_weights(r, K)
    return -(w_f * forget_nll + w_n * normal_nll.sum(-1)).mean()


def raw_rate(g_f: Grad, g_n_mean: Grad, K: int) -> float | None:
    """Unclipped r* = (K/(K−1))(‖g_f‖² − ⟨g_f, ḡ_n⟩)/‖g_f − ḡ_n‖²; None where it is undefined.

    r* minimises ‖g_f + r(K−1)/K (ḡ_n − g_f)‖, the norm of the SGA update. Undefined (None) where
    the norm does not depend on r (K = 1 or g_f = ḡ_n) or the gradients are not finite.
    """
    g_f, g_n_mean = _as_list(g_f), _as_list(g_n_mean)
    denom = float(squared_distance(g_f, g_n_mean))
    if K <= 1 or denom == 0.0:
        return None
    r = (K / (K - 1)) * float(global_dot(g_f, g_f) - global_dot(g_f, g_n_mean)) / denom
    return r if math.isfinite(r) else None


def optimal_rate(
    g_f: Grad,
    g_n_mean: Grad,
    K: int,
    r_min: float,
    r_max: float,
    *,
    fallback: float = 0.0,
) -> float:
    """r* (``raw_rate``) clipped to [r_min, r_max]; the clipped ``fallback`` where r* is undefined.

    The gradients are flat vectors or matching lists of tensors. Pass the current r as
    ``fallback`` to keep it.
    """
    if r_min > r_max:
        raise ValueError(f"r_min ({r_min}) must not exceed r_max ({r_max})")
    r = raw_rate(g_f, g_n_mean, K)
    return clip_rate(fallback if r is None else r, r_min, r_max)


def clip_rate(r: float, r_min: float, r_max: float) -> float:
    """r clipped to [r_min, r_max]."""
    return min(max(r, r_min), r_max)


AUTO_MODES = ("norm", "sign")


def auto_rate(
    r_star: float | None,
    mode: str,
    magnitude: float,
    r_min: float,
    r_max: float,
    fallback: float,
) -> float:
    """The rate ``r: auto`` uses: r* itself (``norm``) or sign(r*)·magnitude (``sign``), clipped.

    Where r* is undefined (None) or exactly 0 under ``sign``, the clipped ``fallback``.
    """
    if mode not in AUTO_MODES:
        raise ValueError(f"unknown r_auto mode {mode!r}; choose one of: {', '.join(AUTO_MODES)}")
    if r_min > r_max:
        raise ValueError(f"r_min ({r_min}) must not exceed r_max ({r_max})")
    if r_star is None or (mode == "sign" and r_star == 0.0):
        return clip_rate(fallback, r_min, r_max)
    r = r_star if mode == "norm" else math.copysign(magnitude, r_star)
    return clip_rate(r, r_min, r_max)
