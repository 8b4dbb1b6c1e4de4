"""Test-session kernel variants (``UNLEARNKIT_TEST_KERNELS``; ``make test-kernels``, docs/quality.md)."""

from __future__ import annotations

import os

import torch

VARIANTS = ("threads2", "nomkldnn")
ENV = "UNLEARNKIT_TEST_KERNELS"


def variant() -> str:
    """The kernel variant named by ``UNLEARNKIT_TEST_KERNELS`` ("" = the defaults)."""
    name = os.environ.get(ENV, "").strip()
    if name and name not in VARIANTS:
        raise ValueError(
            f"{ENV}={name!r}: unknown kernel variant; use one of {', '.join(VARIANTS)}"
        )
    return name


def threads() -> int:
    """Threads a test runs on: 1 (tiny models are fastest so), 2 under ``threads2``."""
    return 2 if variant() == "threads2" else 1


def apply() -> str:
    """Switch torch to the variant's kernels for the whole session; returns the variant."""
    name = variant()
    if name == "threads2":
        torch.set_num_threads(2)
    elif name == "nomkldnn":
        torch.backends.mkldnn.enabled = False
    return name
