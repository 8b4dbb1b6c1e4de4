"""Tolerances for "the same formula computed two ways" in floating point (docs/quality.md)."""

from __future__ import annotations

import math

import torch


def sum_atol(dtype: torch.dtype, n_terms: int, magnitude: float, c: float = 8.0) -> float:
    """Rounding bound of a sum of ``n_terms`` terms of size ``magnitude``: c·eps(dtype)·√n·|term|."""
    return c * torch.finfo(dtype).eps * math.sqrt(max(n_terms, 1)) * float(magnitude)


def assert_close_sums(
    actual: torch.Tensor,
    expected: torch.Tensor,
    *,
    dtype: torch.dtype,
    n_terms: int,
    magnitude: float | None = None,
    rtol: float = 0.0,
    c: float = 8.0,
) -> None:
    """assert_close, atol = sum_atol(dtype the sums ran in, not the compared one; max|expected|)."""
    scale = expected.abs().max().item() if magnitude is None else magnitude
    atol = sum_atol(dtype, n_terms, scale, c)
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)


def batch_terms(batch: dict) -> int:
    """Token positions over every part of a collated batch: the length of the sums in its loss."""
    parts = [part for part in batch.values() if isinstance(part, dict) and "input_ids" in part]
    return sum(part["input_ids"].numel() for part in parts)
