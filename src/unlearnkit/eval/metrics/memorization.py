"""Memorisation extras: exact memorisation and extraction strength from teacher-forced argmaxes.

Greedy decoding from the true prefix y_<k reproduces y_k… exactly iff the argmax at every later
position, given the true tokens before it, is the true token (by induction on the position). So one
teacher-forced forward pass gives both metrics without generating.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from unlearnkit.logprobs import IGNORE_INDEX, shift


def exact_memorization(greedy_tokens_match: Sequence[bool]) -> float:
    """Fraction of answer tokens the model predicts greedily given the true prefix."""
    if len(greedy_tokens_match) == 0:
        raise ValueError("exact_memorization needs at least one answer token")
    return sum(bool(m) for m in greedy_tokens_match) / len(greedy_tokens_match)


def min_prefix_len(greedy_tokens_match: Sequence[bool]) -> int:
    """Smallest k such that greedy decoding from y_<k reproduces y_k… exactly (|y| if none)."""
    k = len(greedy_tokens_match)
    while k > 0 and greedy_tokens_match[k - 1]:
        k -= 1
    return k


def extraction_strength(answer_len: int, min_prefix_len: int) -> float:
    """1 − k/|y|: 1.0 when the prompt alone yields the answer (k = 0), 0.0 when nothing does."""
    if answer_len <= 0:
        raise ValueError("extraction_strength needs a non-empty answer")
    if not 0 <= min_prefix_len <= answer_len:
        raise ValueError(f"min_prefix_len must be in [0, {answer_len}], got {min_prefix_len}")
    return 1.0 - min_prefix_len / answer_len


@torch.no_grad()
def teacher_forced_correct(logits: torch.Tensor, labels: torch.Tensor) -> list[list[bool]]:
    """Per sequence, on its response tokens only: whether argmax of the logits is the true token."""
    logits, labels = shift(logits, labels)
    correct = (logits.argmax(-1) == labels).cpu()
    valid = (labels != IGNORE_INDEX).cpu()
    return [c[m].tolist() for c, m in zip(correct, valid)]
