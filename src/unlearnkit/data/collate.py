"""Pad encoded examples into tensors (right padding for training, left for generation)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from unlearnkit.data.formatting import Encoded
from unlearnkit.logprobs import IGNORE_INDEX


def pad_batch(
    examples: Sequence[Encoded], pad_id: int, side: str = "right"
) -> dict[str, torch.Tensor]:
    """Stack examples into input_ids / attention_mask / labels, padded to the longest one."""
    width = max(len(e) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e)
        span = slice(0, n) if side == "right" else slice(width - n, width)
        ids[row, span] = torch.tensor(e.input_ids)
        labels[row, span] = torch.tensor(e.labels)
        mask[row, span] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


class EncodedCollator:
    """A ``Trainer`` data collator for lists of :class:`Encoded` (or dicts holding them)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, examples: Sequence) -> dict[str, torch.Tensor]:
        encoded = [
            e if isinstance(e, Encoded) else Encoded(e["input_ids"], e["labels"]) for e in examples
        ]
        return pad_batch(encoded, self.pad_id)
