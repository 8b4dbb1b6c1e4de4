"""TOFU metrics from per-item mean NLLs (ℓ: mean NLL over the answer tokens, EOS included)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import softmax
from scipy.stats import ks_2samp


def probability(nll: float) -> float:
    """p_norm = exp(−ℓ), the length-normalised probability of an answer."""
    return float(np.exp(-nll))


def option_probability(true_nll: float, wrong_nlls: Sequence[float]) -> float:
    """p_norm(true) / (p_norm(true) + Σ_k p_norm(wrong_k))."""
    # softmax over −ℓ: the same ratio without underflow when every ℓ is large.
    return float(softmax(-np.asarray([true_nll, *wrong_nlls], dtype=np.float64))[0])


def truth_ratio(para_nll: float, perturbed_nlls: Sequence[float]) -> float:
    """tr = p̄_pert / p_para, p̄_pert the geometric mean of p_norm over the perturbed answers."""
    if len(perturbed_nlls) == 0:
        raise ValueError("truth_ratio needs at least one perturbed answer")
    # exp(mean_k log p_k) / p_para = exp(ℓ_para − mean_k ℓ_k), computed in log space.
    with np.errstate(over="ignore"):
        return float(np.exp(para_nll - np.mean(np.asarray(perturbed_nlls, dtype=np.float64))))


def forget_truth_ratio(truth_ratios: Sequence[float]) -> float:
    """mean(min(tr, 1/tr)): 1 when true and false answers are equally likely."""
    tr = _nonempty(truth_ratios, "forget_truth_ratio")
    with np.errstate(divide="ignore"):
        return float(np.mean(np.minimum(tr, 1.0 / tr)))


def retain_truth_ratio(truth_ratios: Sequence[float]) -> float:
    """mean(max(0, 1 − tr)): 1 when the true answer is far more likely than the false ones."""
    tr = _nonempty(truth_ratios, "retain_truth_ratio")
    return float(np.mean(np.maximum(0.0, 1.0 - tr)))


def forget_quality(
    truth_ratios_model: Sequence[float], truth_ratios_retain: Sequence[float]
) -> float:
    """p-value of the two-sample KS test between the model's and the retain model's truth ratios."""
    a = _nonempty(truth_ratios_model, "forget_quality")
    b = _nonempty(truth_ratios_retain, "forget_quality")
    return float(ks_2samp(a, b).pvalue)


def model_utility(values: Sequence[float]) -> float:
    """Harmonic mean of the utility numbers; 0 as soon as one of them is 0."""
    v = _nonempty(values, "model_utility")
    if np.any(v < 0):
        raise ValueError(f"model_utility needs non-negative values, got {list(values)}")
    if np.any(v == 0):
        return 0.0
    return float(len(v) / np.sum(1.0 / v))


def _nonempty(values: Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError(f"{name} needs at least one value")
    return arr
