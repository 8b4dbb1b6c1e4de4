"""Where worlds and other cached artefacts live (``$UNLEARNKIT_HOME``, default ~/.cache/unlearnkit)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_PRESET = "small"
DEFAULT_SEED = 0


def cache_home() -> Path:
    return Path(
        os.environ.get("UNLEARNKIT_HOME", Path.home() / ".cache" / "unlearnkit")
    ).expanduser()


def world_dir(preset: str = DEFAULT_PRESET, seed: int = DEFAULT_SEED) -> Path:
    return cache_home() / "worlds" / f"{preset}-seed{seed}"


def default_world_dir() -> Path:
    """The world that commands read when no ``--data`` is given (the demo's ``small`` world)."""
    return Path(os.environ.get("UNLEARNKIT_WORLD", world_dir()))
