"""The tiny world's target and retain models and an attack context on its TOFU forget10 split."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from unlearnkit.attacks.context import AttackContext
from unlearnkit.eval.tofu import EvalSettings

WORLD_SPLIT = "forget10"
WORLD_SETTINGS = EvalSettings(batch_size=16, gen_batch_size=16, max_new_tokens=32, progress=False)


@cache
def world_model(world: Path, name: str):
    """(model, tokenizer) of ``models/NAME`` of the world, loaded once per test session (fp32)."""
    from unlearnkit.models import load_model_and_tokenizer

    return load_model_and_tokenizer(
        world / "models" / name, world / "tokenizer", device="cpu", dtype="fp32"
    )


def world_context(world: Path, max_items: int | None = None, **kw) -> AttackContext:
    settings = type(WORLD_SETTINGS)(**{**WORLD_SETTINGS.__dict__, "max_items": max_items})
    return AttackContext(
        benchmark="tofu", data=str(world), split=WORLD_SPLIT, settings=settings, **kw
    )
