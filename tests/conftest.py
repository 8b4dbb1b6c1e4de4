"""Shared fixtures: the real benchmark files beside the project, and the tiny world."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import kernels

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_configure(config: pytest.Config) -> None:
    """Apply ``UNLEARNKIT_TEST_KERNELS`` (``make test-kernels``) before any test; unknown → error."""
    try:
        name = kernels.apply()
    except ValueError as err:
        raise pytest.UsageError(str(err)) from None
    if name:
        config.stash[KERNELS] = name


def pytest_report_header(config: pytest.Config) -> str | None:
    name = config.stash.get(KERNELS, "")
    return f"kernels: {name} ({kernels.ENV})" if name else None


KERNELS = pytest.StashKey[str]()

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "tofu" / "full.json").is_file():
        pytest.skip(
            f"real benchmark files not found at {SHARED_DATA} (they live beside the project, not in it)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> Path:
    """The tiny world, built once per test session (data, tokenizer, target and retain models)."""
    from unlearnkit.world.build import build_world

    cache = os.environ.get("UNLEARNKIT_TEST_WORLD")
    out = Path(cache) if cache else tmp_path_factory.mktemp("world") / "tiny"
    return build_world("tiny", out, seed=0, progress=False)


@pytest.fixture(scope="session")
def data(tmp_path_factory) -> Path:
    """A toy TOFU folder (forget01, retain99) of the tiny QA in ``test_methods_common``; read-only."""
    from test_methods_common import write_tofu

    return write_tofu(tmp_path_factory.mktemp("tofu"))


@pytest.fixture(scope="session")
def run_data(tmp_path_factory) -> Path:
    """A toy TOFU folder with every file a forget01 run and its evaluation read; read-only."""
    from test_reliability_common import write_data

    return write_data(tmp_path_factory.mktemp("tofu_eval"))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A tiny Llama that memorised the toy QA, saved with its tokenizer; read-only."""
    from test_reliability_common import save_model

    return save_model(tmp_path_factory.mktemp("model"), trained=True)


TOY_TEXTS = [
    "The author was born in Kelmport on 14 March 1962 and writes mystery novels.",
    "Question: Who wrote the book? Answer: Elara Voss wrote it in 1990.",
    "News: the council of Brindlemoor approved a new bridge costing 4 million crowns.",
] * 30


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random 2-layer Llama with a small BPE tokenizer (chat template included), saved to disk."""
    from unlearnkit.world.presets import ModelSize, get_preset
    from unlearnkit.world.tokenizer import train_tokenizer
    from unlearnkit.world.training import new_world_model

    out = tmp_path_factory.mktemp("tiny_model")
    tok = train_tokenizer(TOY_TEXTS, 400)
    preset = get_preset("tiny")
    preset = type(preset)(**{**preset.__dict__, "model": ModelSize(32, 2, 2, 64, 400)})
    model = new_world_model(preset, tok, seed=0)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
