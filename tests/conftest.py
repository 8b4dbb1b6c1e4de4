"""Shared fixtures: the real benchmark files beside the project, and the tiny world."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "tofu" / "full.json").is_file():
        pytest.skip(f"real benchmark files not found at {SHARED_DATA} (they live beside the project, not in it)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> Path:
    """The tiny world, built once per test session (data, tokenizer, target and retain models)."""
    from unlearnkit.world.build import build_world

    cache = os.environ.get("UNLEARNKIT_TEST_WORLD")
    out = Path(cache) if cache else tmp_path_factory.mktemp("world") / "tiny"
    return build_world("tiny", out, seed=0, progress=False)
