"""The forget and retain samples of an unlearning run, read by the benchmark's ``samples``.

``split``: the benchmark's forget split (default: its ``default_split``); ``retain`` (a JSON / JSON
Lines file of texts or {question, answer} records) replaces the benchmark's retain set;
``UnlearningCorpus.retain_source`` says which was used. No benchmark trains on its own eval sets.
"""

from __future__ import annotations

import os
from pathlib import Path

from unlearnkit.data.samples import UnlearningCorpus, check_disjoint
from unlearnkit.errors import UserError


def load_unlearning_corpus(
    benchmark: str,
    data: str | os.PathLike | None,
    split: str | None = None,
    retain: str | os.PathLike | None = None,
) -> UnlearningCorpus:
    """Forget and retain samples of ``benchmark`` read from ``data`` (world, folder or hub id).

    ``retain``: a file of retain samples that replaces the benchmark's retain set.
    """
    from unlearnkit.benchmarks import get_benchmark  # benchmarks read with data.samples

    bench = get_benchmark(benchmark)
    split = split or bench.default_split
    retain_file = Path(retain) if retain else None
    forget, retain_samples, source, split = bench.samples(data, split, retain_file)
    if not forget:
        raise UserError(f"the {benchmark} forget split '{split}' is empty; nothing to unlearn")
    check_disjoint(forget, retain_samples, benchmark)
    return UnlearningCorpus(benchmark, split, forget, retain_samples, source)
