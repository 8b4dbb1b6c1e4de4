"""Loading the benchmark world's model and building trainers on it (shared by the benchmarks)."""

from __future__ import annotations

import atexit
import copy
import shutil
import tempfile
from pathlib import Path

import torch
from bench.common import StepTimer, small_world


def load_target(world: Path | None = None):
    """The small world's target model (fp32, CPU) and tokenizer."""
    from unlearnkit.models import load_model_and_tokenizer

    world = world or small_world()
    model, tok = load_model_and_tokenizer(
        world / "models" / "target", world / "tokenizer", device="cpu", dtype="fp32"
    )
    return model, tok


def world_config(method: str, overrides: list[str] | None = None, world: Path | None = None):
    """The packaged ``world/<method>`` config pointed at the benchmark world."""
    from unlearnkit.config import load_config
    from unlearnkit.train.unlearn import UnlearnConfig

    world = world or small_world()
    return load_config(UnlearnConfig, f"world/{method}", [f"data.path={world}", *(overrides or [])])


class BenchTrainer:
    """An ``UnlearnTrainer`` built once; ``steps()`` trains ``n`` steps from the same start weights.

    Every call restores the starting weights first and re-creates the optimizer, so each round
    does the same work; it returns the median steady-state step time (``StepTimer``).
    """

    def __init__(self, model, tok, cfg, n_steps: int, out: Path | None = None, method=None):
        from unlearnkit.train.unlearn import build_trainer

        if out is None:
            out = Path(tempfile.mkdtemp(prefix="bench-"))
            atexit.register(shutil.rmtree, out, ignore_errors=True)
        self.out = out
        cfg.train.max_steps = n_steps
        cfg.train.save_steps = 0
        self.timer = StepTimer()
        self.model = model
        self.start = copy.deepcopy(model.state_dict())
        self.run = build_trainer(
            cfg, model, tok, self.out, progress=False, method=method, callbacks=[self.timer]
        )
        self.trainer = self.run.trainer
        self.batches: list[list[int]] = []
        self.collate = collate = self.trainer.data_collator

        def recording(items):
            self.batches.append([int(it["index"]) for it in items])
            return collate(items)

        self.trainer.data_collator = recording

    def reset(self) -> None:
        with torch.no_grad():
            self.run.trainer.model.load_state_dict(self.start, strict=False)
        self.trainer.optimizer = None
        self.trainer.lr_scheduler = None
        self.trainer.state.global_step = 0

    def steps(self) -> tuple[float, float]:
        self.reset()
        self.batches = []
        self.trainer.train()
        return self.timer.per_step()
