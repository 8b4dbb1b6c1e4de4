"""Benchmark names → objects. Adding a benchmark is one file plus one line here."""

from __future__ import annotations

from unlearnkit.benchmarks.base import Benchmark, MetricSpec
from unlearnkit.benchmarks.copyright import Copyright
from unlearnkit.benchmarks.muse import MUSE
from unlearnkit.benchmarks.tofu import TOFU
from unlearnkit.benchmarks.wmdp import WMDP
from unlearnkit.errors import UserError

BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (TOFU(), MUSE(), Copyright(), WMDP())}

__all__ = ["BENCHMARKS", "Benchmark", "MetricSpec", "benchmark_names", "get_benchmark"]


def benchmark_names() -> list[str]:
    return list(BENCHMARKS)


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called ``name``; the one place an unknown name is reported."""
    if name not in BENCHMARKS:
        raise UserError(f"unknown benchmark '{name}'; choose one of: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]
