"""Membership-inference scores of one text and the AUC of members against non-members.

Each score keeps its natural sign; ``HIGHER_IS_MEMBER`` records which way it points and
:func:`auc` uses it, so a model that memorised the members gets AUC > 0.5 on every attack:

- ``loss``: mean NLL of the text's tokens. Lower = member.
- ``zlib``: mean NLL / zlib-compressed length of the text in bytes. Lower = member.
- ``mink``: mean of the lowest k fraction of token log-probs. Higher = member.
- ``minkpp``: the same on token log-probs standardised by the mean μ and std σ of log p under
  the model's next-token distribution at that position. Higher = member.
- ``ref``: NLL minus a reference model's NLL on the same text. Lower = member.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from unlearnkit.logprobs import IGNORE_INDEX, shift

# Attack names: also the row fields holding their scores and the ``mia_<name>`` metric keys.
LOSS, ZLIB, MINK, MINKPP, REF = "loss", "zlib", "mink", "minkpp", "ref"
HIGHER_IS_MEMBER: dict[str, bool] = {
    LOSS: False,
    ZLIB: False,
    MINK: True,
    MINKPP: True,
    REF: False,
}
DEFAULT_K = 0.4


def loss_score(token_logprobs: Sequence[float]) -> float:
    """Mean NLL of the text's tokens."""
    return -float(np.mean(_tokens(token_logprobs)))


def zlib_score(nll_mean: float, text: str) -> float:
    """Mean NLL divided by the length in bytes of the zlib-compressed UTF-8 text."""
    return nll_mean / len(zlib.compress(text.encode("utf-8")))


def min_k_score(token_logprobs: Sequence[float], k: float = DEFAULT_K) -> float:
    """Mean of the lowest ``max(1, int(k·n))`` of the n token log-probs."""
    lp = np.sort(_tokens(token_logprobs))
    return float(np.mean(lp[: _n_lowest(lp.size, k)]))


def min_k_plus_plus_score(
    token_logprobs: Sequence[float],
    mu: Sequence[float],
    sigma: Sequence[float],
    k: float = DEFAULT_K,
) -> float:
    """Min-K% of the standardised log-probs (log p(x_t) − μ_t) / σ_t."""
    lp = _tokens(token_logprobs)
    mu_arr, sigma_arr = np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
    if mu_arr.shape != lp.shape or sigma_arr.shape != lp.shape:
        raise ValueError("token_logprobs, mu and sigma need the same length")
    # σ = 0 only for a one-hot next-token distribution; the floor keeps the score finite.
    z = (lp - mu_arr) / np.maximum(sigma_arr, 1e-8)
    return min_k_score(z.tolist(), k)


def reference_score(nll: float, ref_nll: float) -> float:
    """NLL of the model minus NLL of a reference model on the same text."""
    return nll - ref_nll


def auc(
    member_scores: Sequence[float], nonmember_scores: Sequence[float], higher_is_member: bool
) -> float:
    """ROC AUC of telling members (positives) from non-members: 0.5 = chance, 1 = perfect."""
    if len(member_scores) == 0 or len(nonmember_scores) == 0:
        raise ValueError("auc needs at least one member and one non-member score")
    scores = np.asarray([*member_scores, *nonmember_scores], dtype=np.float64)
    labels = np.r_[np.ones(len(member_scores)), np.zeros(len(nonmember_scores))]
    return float(roc_auc_score(labels, scores if higher_is_member else -scores))


@torch.no_grad()
def token_stats(logits: torch.Tensor, labels: torch.Tensor) -> list[dict[str, list[float]]]:
    """Per sequence, on its response tokens only: ``token_logprobs``, ``mu`` and ``sigma``.

    ``mu`` = Σ_v p_v log p_v and ``sigma`` = sqrt(Σ_v p_v (log p_v)² − mu²) of the next-token
    distribution at each position (what Min-K%++ standardises by).
    """
    logits, labels = shift(logits, labels)
    logp = torch.log_softmax(logits.float(), dim=-1)
    token_lp = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    p = logp.exp()
    # −inf logits (masked vocabulary) have p = 0; zero them so 0·(−inf) does not give NaN.
    logp = torch.where(torch.isfinite(logp), logp, torch.zeros_like(logp))
    mu = (p * logp).sum(-1)
    sigma = ((p * logp.square()).sum(-1) - mu.square()).clamp(min=0).sqrt()
    valid = (labels != IGNORE_INDEX).cpu()
    token_lp, mu, sigma = token_lp.cpu(), mu.cpu(), sigma.cpu()
    return [
        {
            "token_logprobs": token_lp[i][m].tolist(),
            "mu": mu[i][m].tolist(),
            "sigma": sigma[i][m].tolist(),
        }
        for i, m in enumerate(valid)
    ]


def _tokens(token_logprobs: Sequence[float]) -> np.ndarray:
    lp = np.asarray(token_logprobs, dtype=np.float64)
    if lp.size == 0:
        raise ValueError("a membership-inference score needs at least one token")
    return lp


def _n_lowest(n: int, k: float) -> int:
    if not 0 < k <= 1:
        raise ValueError(f"k is a fraction in (0, 1], got {k}")
    return max(1, int(n * k))
