"""How many CPU threads torch computes with: ``--threads N``, else ``$UNLEARNKIT_THREADS``, else
``$OMP_NUM_THREADS`` as torch reads it, else :data:`DEFAULT` (docs/performance.md, "Threads", gives
the measurement it is chosen from). The command line applies it; the Python API leaves torch's."""

from __future__ import annotations

import argparse
import os

from unlearnkit.errors import UserError

ENV = "UNLEARNKIT_THREADS"
# One: with a core held by another process, torch's OpenMP threads wait for each other at every
# barrier (2 threads: 36 × slower than 1 on this 2-core machine); docs/performance.md, "Threads".
DEFAULT = 1


def add_threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        help=f"CPU threads torch computes with (default: ${ENV}, else $OMP_NUM_THREADS, else "
        f"{DEFAULT}; docs/performance.md, Threads)",
    )


def parse_threads(value: str | int, where: str) -> int:
    """A positive whole number of threads, else a one-line error naming ``where`` it came from."""
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
    if n < 1:
        raise UserError(f"{where} must be a positive whole number of threads, got {value!r}")
    return n


def resolve_threads(cli_value: str | int | None) -> int | None:
    """The thread count asked for: the option, else ``$UNLEARNKIT_THREADS``, else None where
    ``$OMP_NUM_THREADS`` is set (torch has read it already), else the default."""
    if cli_value is not None:
        return parse_threads(cli_value, "--threads")
    env = os.environ.get(ENV)
    if env is not None and env.strip():
        return parse_threads(env, ENV)
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return None
    return DEFAULT


def apply_threads(cli_value: str | int | None) -> int | None:
    """Set torch's intra-op thread count from the option / environment; return what was set."""
    n = resolve_threads(cli_value)
    if n is not None:
        import torch

        torch.set_num_threads(n)
    return n
