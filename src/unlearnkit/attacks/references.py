"""The target and retain models a hidden-state attack compares with, and their loading.

Each is found in this order: the attack's own setting (``target`` / ``retain``, a model folder),
the run's (``AttackContext.target_model`` / ``retain_model``: ``unlearn run``'s starting model,
``--retain-model``), else the world's ``models/target`` and ``models/retain`` when the data is a
world. A reference must share the attacked model's vocabulary, depth and width.
"""

from __future__ import annotations

from pathlib import Path

from unlearnkit.attacks.context import AttackContext
from unlearnkit.errors import UserError
from unlearnkit.model_layers import hidden_size, num_layers
from unlearnkit.plan import world_of


def reference_path(ctx: AttackContext, which: str, given: str | None) -> str | None:
    """The ``target`` or ``retain`` model folder of this attack, or None when there is none."""
    if given:
        return str(given)
    if from_run := getattr(ctx, f"{which}_model"):
        return str(from_run)
    world = world_of(ctx.data)
    if world is None:
        return None
    from unlearnkit.benchmarks import get_benchmark

    name = "target" if which == "target" else get_benchmark(ctx.benchmark).world_retain
    path = Path(world) / "models" / name
    return str(path) if path.is_dir() else None


def shape(model) -> tuple[int, int, int]:
    """(vocabulary, layers, width): what must match for states to move between two models."""
    return model.get_output_embeddings().weight.shape[0], num_layers(model), hidden_size(model)


def load_reference(path: str, like, which: str):
    """The model at ``path`` on the attacked model's device and dtype, in eval mode."""
    from unlearnkit.models import load_model

    weight = next(like.parameters())
    ref = load_model(path, device=weight.device).to(weight.dtype).eval()
    if shape(ref) != shape(like):
        raise UserError(
            f"the {which} model {path} does not match the attacked model "
            f"(vocabulary, layers, width {shape(ref)} vs {shape(like)})"
        )
    return ref


def required(path: str | None, which: str, kind: str) -> str:
    if path is None:
        raise UserError(
            f"the {kind} attack needs the {which} model: give --{which}-model "
            f"(or attack_params.{kind}.{which}), or run on a world, which has one"
        )
    return path
