"""Train the world's models side by side (unlearnkit.jobs): one process per model.

The target and retain models are independent trainings from the same seed; each process seeds its
own Trainer, so the losses equal a sequential build's.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from unlearnkit.jobs import job_count, run_jobs
from unlearnkit.world.corpus import Corpus
from unlearnkit.world.presets import WorldPreset


@dataclass(frozen=True)
class ModelJob:
    name: str  # the folder under models/
    corpus: Corpus
    what: str  # for the progress line, e.g. "all but forget10"


def _train_one(
    preset: WorldPreset, seed: int, tokenizer_dir: str, job: ModelJob, out: str, progress: bool
) -> dict:
    from transformers import AutoTokenizer

    from unlearnkit.world.training import train_world_model

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    return train_world_model(preset, seed, tokenizer, job.corpus, Path(out), progress)


def train_world_models(
    preset: WorldPreset,
    seed: int,
    tokenizer_dir: Path,
    jobs: list[ModelJob],
    models_dir: Path,
    progress: bool,
) -> dict[str, dict]:
    """Train every job's model into ``models_dir/<name>``; return {name: training summary}."""
    n = job_count(len(jobs), torch.get_num_threads())
    if n == 1:
        summaries = {}
        for i, job in enumerate(jobs, 1):
            _say(f"[3/3] training '{job.name}' ({job.what}) {i}/{len(jobs)}", progress)
            summaries[job.name] = _train_one(
                preset, seed, str(tokenizer_dir), job, str(models_dir / job.name), progress
            )
        return summaries
    names = ", ".join(f"'{j.name}' ({j.what})" for j in jobs)
    _say(f"[3/3] training {names}: {n} processes, the first one's progress shown", progress)
    calls = [
        (preset, seed, str(tokenizer_dir), job, str(models_dir / job.name), progress and i == 0)
        for i, job in enumerate(jobs)
    ]
    summaries = run_jobs(_train_one, calls, n)
    return {job.name: summary for job, summary in zip(jobs, summaries, strict=True)}


def _say(message: str, progress: bool) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)
