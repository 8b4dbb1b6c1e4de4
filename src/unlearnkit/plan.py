"""A run checked once: what ``preflight.check_run`` hands to ``api.run``, and the paths it resolves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from unlearnkit.benchmarks.tofu import DEFAULT_SPLIT as TOFU_SPLIT
from unlearnkit.errors import UserError
from unlearnkit.eval.tofu import EvalSettings

if TYPE_CHECKING:
    from unlearnkit.api import RunConfig
    from unlearnkit.data.samples import UnlearningCorpus
    from unlearnkit.memory_estimate import MemoryEstimate
    from unlearnkit.train.validate import CheckedUnlearn


@dataclass(frozen=True)
class RunPlan:
    """A ``RunConfig`` that passed every check, with what the checks resolved and loaded."""

    unlearn: CheckedUnlearn  # the config, its method built, its reference kind, its corpus
    model_path: str  # the model to unlearn from: --model, else the world's target
    resume: bool = False
    memory: MemoryEstimate | None = None  # per GPU, from the model's config (None: not readable)

    @property
    def cfg(self) -> RunConfig:
        return self.unlearn.cfg  # type: ignore[return-value]

    @property
    def corpus(self) -> UnlearningCorpus:
        return self.unlearn.corpus

    @property
    def split(self) -> str:
        """The split the evaluation and attacks use (TOFU's default when none is given)."""
        return self.cfg.data.split or TOFU_SPLIT


def eval_settings(cfg: RunConfig, progress: bool = True) -> EvalSettings:
    """The settings a run evaluates under (its own benchmark, extra ones, its retain eval)."""
    return EvalSettings(
        batch_size=cfg.eval.batch_size,
        gen_batch_size=cfg.eval.batch_size,
        max_new_tokens=cfg.eval.max_new_tokens,
        max_length=cfg.train.max_length,
        progress=progress,
        max_items=cfg.eval.max_items,
        convention=cfg.eval.convention,
        system_prompt=cfg.eval.system_prompt,
        date_string=cfg.eval.date_string,
    )


def world_of(data_path: str | None) -> Path | None:
    """The world folder a data path points at, if it is one."""
    from unlearnkit.world.location import default_world_dir

    path = Path(data_path).expanduser() if data_path else default_world_dir()
    return path if (path / "world.json").is_file() else None


def resolve_model_path(cfg: RunConfig) -> str:
    """``cfg.model``, else the target model of the world ``cfg.data.path`` names."""
    if cfg.model:
        return cfg.model
    world = world_of(cfg.data.path)
    if world is None:
        raise UserError(
            "no --model given and --data is not a built world; pass --model PATH (or build one with `unlearn world`)"
        )
    return str(world / "models" / "target")
