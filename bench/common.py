"""Timing helpers shared by the benchmarks.

The machines these run on are small and shared, so absolute times drift by tens of percent from
one minute to the next. Every figure the benchmarks report is therefore a *ratio* of variants
measured side by side in one process: the variants run in interleaved rounds (A B C, A B C, ...),
each round's ratio is taken against the baseline of the same round, and the median over the rounds
is reported. Absolute times (medians) are printed only as context.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

# One intra-op thread unless BENCH_THREADS says otherwise: on a 2-core machine shared with other
# jobs, two OpenMP threads that wait on each other at every barrier run a step 10-100x slower
# whenever another process holds one of the cores (measured: 50 ms steps became 0.2-5 s).
THREADS = int(os.environ.get("BENCH_THREADS", "1"))
torch.set_num_threads(THREADS)

ROOT = Path(__file__).resolve().parents[1]


def small_world() -> Path:
    """The prebuilt small world (read only): $UNLEARNKIT_BENCH_WORLD or the default world's cache."""
    from unlearnkit.world.location import world_dir

    env = os.environ.get("UNLEARNKIT_BENCH_WORLD")
    candidates = (env,) if env else (str(world_dir("small", 0)),)
    for c in candidates:
        if c and (Path(c) / "world.json").is_file():
            return Path(c)
    sys.exit(
        "no prebuilt small world found (tried "
        + ", ".join(c for c in candidates if c)
        + "); build one with `unlearn world --preset small --out DIR` and set UNLEARNKIT_BENCH_WORLD=DIR"
    )


class Times(dict):
    """Per-round wall seconds of each variant (the dict) and CPU seconds of this process (``.cpu``).

    CPU time is the work itself: on a shared machine other jobs stretch the wall time of whatever
    runs while they do, but not the CPU time this (single-threaded) process spends.
    """

    def __init__(self, names):
        super().__init__({n: [] for n in names})
        self.cpu: dict[str, list[float]] = {n: [] for n in names}


def interleaved(
    variants: dict[str, Callable[[], object]],
    rounds: int,
    warmup: int = 1,
) -> Times:
    """Run every variant once per round, in turn; return the per-round times (warm-up dropped).

    A variant returns its own time, a wall time (float) or a (wall, CPU) pair, or anything else
    (it is then timed here, wall and CPU). The order inside a round rotates so no variant always
    follows the same one.
    """
    names = list(variants)
    times = Times(names)
    for r in range(warmup + rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            wall, cpu = time.perf_counter(), time.process_time()
            measured = variants[name]()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if isinstance(measured, tuple) and len(measured) == 2:
                wall, cpu = measured
            elif isinstance(measured, float):
                wall, cpu = measured, float("nan")  # anything else the variant returns is ignored
            if r >= warmup:
                times[name].append(wall)
                times.cpu[name].append(cpu)
    return times


def ratio(times: dict[str, list[float]], name: str, base: str) -> float:
    """Median over rounds of time[name] / time[base] in the same round."""
    return statistics.median(a / b for a, b in zip(times[name], times[base], strict=True))


def cpu_ratio(times: Times, name: str, base: str) -> float:
    """The same ratio in CPU seconds."""
    return ratio(times.cpu, name, base)


def spread(times: dict[str, list[float]], name: str, base: str) -> tuple[float, float]:
    """(lowest, highest) per-round ratio: how much the rounds disagreed."""
    rs = [a / b for a, b in zip(times[name], times[base], strict=True)]
    return min(rs), max(rs)


def med(xs: list[float]) -> float:
    return statistics.median(xs)


class Clock:
    """Wall and CPU seconds of a block: ``with Clock() as c: ...; c.wall, c.cpu``."""

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), _cpu_seconds()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._wall
        self.cpu = _cpu_seconds() - self._cpu
        return False


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the world trains its models in
    child processes, whose time ``process_time`` would miss)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class StepTimer(TrainerCallback):
    """Per-step wall times inside ``Trainer.train``: from one step's end to the next one's.

    The first step of each ``train()`` call is left out (it pays for set-up: optimizer state,
    data loader, first-call allocations), so what remains is the steady-state cost of a step,
    data loading, logging and callbacks included.
    """

    def __init__(self):
        self.ends: list[float] = []
        self.cpu_ends: list[float] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.ends, self.cpu_ends = [], []

    def on_step_end(self, args, state, control, **kwargs):
        self.ends.append(time.perf_counter())
        self.cpu_ends.append(time.process_time())

    def step_times(self) -> list[float]:
        return [b - a for a, b in zip(self.ends, self.ends[1:])]

    def step_cpu_times(self) -> list[float]:
        """CPU seconds of the process per step: what the step costs, not how long it waited."""
        return [b - a for a, b in zip(self.cpu_ends, self.cpu_ends[1:])]

    def per_step(self) -> tuple[float, float]:
        """Median (wall, CPU) per-step time of the last ``train()`` call."""
        return statistics.median(self.step_times()), statistics.median(self.step_cpu_times())


def table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    """A Markdown table (what docs/performance.md holds), printed and returned."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def _fmt(c) -> str:
    if isinstance(c, float):
        if c == 0:
            return "0"
        if abs(c) >= 100:
            return f"{c:.0f}"
        if abs(c) >= 10:
            return f"{c:.1f}"
        return f"{c:.3g}" if abs(c) < 1 else f"{c:.2f}"
    return str(c)


def machine() -> str:
    """One line about the machine and the torch threads the figures were taken with."""
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        info = dict(
            (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in out.splitlines())
        )
        model = f"{info.get('Model name', model)}, {info.get('CPU(s)', '?')} CPUs"
    except (OSError, subprocess.CalledProcessError):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{model}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"load average {load:.2f} at start"
    )


def header(name: str) -> None:
    print(f"# {name}\n\nmachine: {machine()}\n", flush=True)


def quiet() -> None:
    """Silence the libraries' progress bars and info logs while benchmarking."""
    import logging
    import warnings

    import transformers

    transformers.logging.set_verbosity_error()
    logging.getLogger("unlearnkit").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TQDM_DISABLE", "1")
