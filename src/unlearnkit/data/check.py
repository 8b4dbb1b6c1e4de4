"""Read every file an evaluation will read, up front, so bad data fails before any training."""

from __future__ import annotations

import os


def check_eval_data(benchmark: str, data: str | os.PathLike | None, split: str | None) -> None:
    """Load (and schema-check) the evaluation files of ``benchmark``; hub data is left to load later."""
    from unlearnkit.benchmarks import get_benchmark

    get_benchmark(benchmark).check_data(data, split)
