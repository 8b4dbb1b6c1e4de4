"""Loss math shared by the unlearning methods, on per-sequence quantities of shape (B,) or on logits.

Per-sequence inputs come from ``unlearnkit.logprobs`` (``sequence_nll``, ``sequence_logprob``,
``response_lengths``); every loss returns a scalar to minimise. See docs/methods.md.

Normalisation, one convention per term (docs/methods.md, "Normalisation"):
- forget terms (GA, GD, KL, SGA, NPO, SimNPO, FLAT): per sequence, then the mean over sequences,
  so every forget sample weighs the same whatever its length (E_f ℓ);
- NLL descent terms (the retain term α ℓ(D_r), IDK's refusal term): the mean over all response
  tokens of the batch (``logprobs.batch_nll``), the usual causal-LM loss;
- token-level terms (KL on retain, RMU): the mean over all response tokens of the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from unlearnkit.logprobs import response_mask, shift


def ga_loss(nll: torch.Tensor) -> torch.Tensor:
    """Gradient ascent: −mean ℓ(D_f)."""
    return -nll.mean()


def gd_loss(
    forget_nll: torch.Tensor, retain_token_nll: torch.Tensor, gamma: float, alpha: float
) -> torch.Tensor:
    """Gradient difference: −γ·(mean of the per-sequence ℓ, shape (B,)) + α·(token-mean retain ℓ).

    ``retain_token_nll`` is the batch's token-mean NLL (``batch_nll``), a scalar.
    """
    return gamma * ga_loss(forget_nll) + alpha * retain_token_nll.mean()


def npo_loss(logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """NPO: −(2/β) mean log σ(−β(log π_θ − log π_ref)), on sequence log-probs."""
    return -(2.0 / beta) * F.logsigmoid(-beta * (logp - ref_logp)).mean()


def simnpo_loss(
    logp: torch.Tensor, lengths: torch.Tensor, beta: float, delta: float
) -> torch.Tensor:
    """SimNPO: −(2/β) mean log σ(−(β/|y|) log π_θ − δ); no reference model."""
    lengths = lengths.to(logp.dtype).clamp(min=1)
    return -(2.0 / beta) * F.logsigmoid(-(beta / lengths) * logp - delta).mean()


def idkdpo_loss(
    logp_idk: torch.Tensor,
    ref_logp_idk: torch.Tensor,
    logp_f: torch.Tensor,
    ref_logp_f: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """DPO with the refusal preferred over the forget answer: −(2/β) mean log σ(β(Δ_idk − Δ_f))."""
    margin = (logp_idk - ref_logp_idk) - (logp_f - ref_logp_f)
    return -(2.0 / beta) * F.logsigmoid(beta * margin).mean()


def kl_retain(logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """KL(π_ref ‖ π_θ) summed over the vocabulary, averaged over the batch's response tokens."""
    logits, shifted = shift(logits, labels)
    ref_logits, _ = shift(ref_logits.detach(), labels)
    mask = response_mask(shifted)
    logq = torch.log_softmax(logits.float(), dim=-1)
    logp_ref = torch.log_softmax(ref_logits.float(), dim=-1)
    kl = (logp_ref.exp() * (logp_ref - logq)).sum(-1)
    return (kl * mask).sum() / mask.sum().clamp(min=1)


def _masked_token_mse(diff: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # Mean over hidden dims (MSE, as the reference RMU code), then over the valid tokens.
    per_token = diff.float().pow(2).mean(-1)
    mask = mask.to(per_token.dtype)
    return (per_token * mask).sum() / mask.sum().clamp(min=1)


def rmu_forget_loss(
    hidden: torch.Tensor, mask: torch.Tensor, control: torch.Tensor
) -> torch.Tensor:
    """RMU forget term: mean over valid tokens of mean_d (h_t − c·u)²; ``control`` is c·u, (D,)."""
    return _masked_token_mse(hidden - control.to(hidden.dtype), mask)


def rmu_retain_loss(
    hidden: torch.Tensor, ref_hidden: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """RMU retain term: mean over valid tokens of mean_d (h_t − h_t^ref)²."""
    return _masked_token_mse(hidden - ref_hidden.detach().to(hidden.dtype), mask)


def random_control_vector(
    dim: int,
    seed: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Fixed random unit vector u of shape (dim,), uniform on [0,1)^dim then normalised."""
    # Uniform (all-positive) direction, as the reference RMU code draws it; same u for a seed.
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(dim, generator=gen, dtype=torch.float64)
    return (u / u.norm()).to(device=device, dtype=dtype)
