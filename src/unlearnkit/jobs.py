"""Independent jobs side by side: one spawned process per job, as many as there are free cores.

The world's target and retain trainings and the demo's method runs are independent and each seeds
itself, so on a machine with two cores and one torch thread per process, running them at once
halves the wall time and leaves every number as it is.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import torch

from unlearnkit.threads import parse_threads

JOBS_ENV = "UNLEARNKIT_JOBS"
PR_SET_PDEATHSIG = 1  # prctl(2) option: the signal a process gets when its parent dies


def free_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def job_count(n_jobs: int, threads: int) -> int:
    """Processes to run in: ``$UNLEARNKIT_JOBS``, else the cores each thread count fits."""
    env = os.environ.get(JOBS_ENV, "").strip()
    wanted = parse_threads(env, JOBS_ENV) if env else max(1, free_cores() // max(1, threads))
    return max(1, min(n_jobs, wanted))


def _die_with_parent() -> None:
    """In a worker: be killed when the process that started it dies (Linux), so that a killed
    parent leaves no job running on (a sweep run again would meet it in its cell's folder)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _call(fn: Callable[..., Any], args: tuple, threads: int, log: str | None) -> Any:
    torch.set_num_threads(threads)
    if log is None:
        return fn(*args)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f, contextlib.redirect_stderr(f), contextlib.redirect_stdout(f):
        return fn(*args)


def run_jobs(
    fn: Callable[..., Any],
    calls: Sequence[tuple],
    processes: int,
    logs: Sequence[Path | None] | None = None,
    done: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """``[fn(*args) for args in calls]``, in ``processes`` spawned processes when more than one.

    A job whose ``logs`` entry is a path writes its stdout and stderr there (its progress bars
    would otherwise interleave with the others'); None leaves them on the terminal. ``done(i,
    result)`` is called here as each job ends, in the order they end.
    """
    threads = torch.get_num_threads()
    logs = list(logs) if logs is not None else [None] * len(calls)
    results: list[Any] = [None] * len(calls)
    if processes <= 1:
        for i, args in enumerate(calls):
            results[i] = fn(*args)
            if done is not None:
                done(i, results[i])
        return results
    context = multiprocessing.get_context("spawn")  # no forked torch/OpenMP state
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_die_with_parent) as pool:
        futures = {
            pool.submit(_call, fn, args, threads, None if log is None else str(log)): i
            for i, (args, log) in enumerate(zip(calls, logs, strict=True))
        }
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if done is not None:
                done(futures[future], results[futures[future]])
        return results
