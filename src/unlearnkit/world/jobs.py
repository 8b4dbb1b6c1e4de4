"""Train the world's models side by side: one process per model, as many as there are free cores.

The target and retain models are independent trainings from the same seed, so on a machine with
two cores and one torch thread each, training them at once halves the build's wall time and leaves
every number as it is (each process seeds its own Trainer; the losses equal a sequential build's).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from unlearnkit.world.corpus import Corpus
from unlearnkit.world.presets import WorldPreset

JOBS_ENV = "UNLEARNKIT_WORLD_JOBS"


@dataclass(frozen=True)
class ModelJob:
    name: str  # the folder under models/
    corpus: Corpus
    what: str  # for the progress line, e.g. "all but forget10"


def free_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def world_jobs(n_models: int, threads: int) -> int:
    """Processes to train in: ``$UNLEARNKIT_WORLD_JOBS``, else the cores each thread count fits."""
    env = os.environ.get(JOBS_ENV, "").strip()
    if env:
        from unlearnkit.threads import parse_threads

        wanted = parse_threads(env, JOBS_ENV)
    else:
        wanted = max(1, free_cores() // max(1, threads))
    return max(1, min(n_models, wanted))


def _train_one(
    preset: WorldPreset,
    seed: int,
    tokenizer_dir: str,
    job: ModelJob,
    out: str,
    progress: bool,
    threads: int,
) -> dict:
    from transformers import AutoTokenizer

    from unlearnkit.world.training import train_world_model

    torch.set_num_threads(threads)
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
    threads = torch.get_num_threads()
    n = world_jobs(len(jobs), threads)
    if n == 1:
        summaries = {}
        for i, job in enumerate(jobs, 1):
            _say(f"[3/3] training '{job.name}' ({job.what}) {i}/{len(jobs)}", progress)
            summaries[job.name] = _train_one(
                preset, seed, str(tokenizer_dir), job, str(models_dir / job.name), progress, threads
            )
        return summaries
    names = ", ".join(f"'{j.name}' ({j.what})" for j in jobs)
    _say(f"[3/3] training {names}: {n} processes, the first one's progress shown", progress)
    context = multiprocessing.get_context("spawn")  # no forked torch/OpenMP state
    with ProcessPoolExecutor(max_workers=n, mp_context=context) as pool:
        futures = {
            job.name: pool.submit(
                _train_one,
                preset,
                seed,
                str(tokenizer_dir),
                job,
                str(models_dir / job.name),
                progress and i == 0,
                threads,
            )
            for i, job in enumerate(jobs)
        }
        return {name: future.result() for name, future in futures.items()}


def _say(message: str, progress: bool) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)
