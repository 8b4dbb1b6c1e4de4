"""Pure metric functions: per-item scores from log-probs and texts, aggregates from per-item rows.

Modules: ``text`` (ROUGE, BLEU), ``tofu``, ``muse``, ``copyright``, ``mia`` (membership inference),
``memorization`` and ``aggregate`` (the row schema and the metrics.json numbers per benchmark).
"""

from .aggregate import (
    copyright_aggregate,
    mia_aggregate,
    mia_fields,
    muse_aggregate,
    rouge_fields,
    tofu_aggregate,
)

__all__ = [
    "copyright_aggregate",
    "mia_aggregate",
    "mia_fields",
    "muse_aggregate",
    "rouge_fields",
    "tofu_aggregate",
]
