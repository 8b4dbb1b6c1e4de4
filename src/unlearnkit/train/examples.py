"""Build tokenised training examples from QA pairs, completions and raw texts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from torch.utils.data import Dataset

from unlearnkit.data.formatting import Encoded, encode_completion, encode_qa, encode_text


class EncodedDataset(Dataset):
    """A list of :class:`Encoded` served as dicts (what ``Trainer`` and its samplers expect)."""

    def __init__(self, examples: Sequence[Encoded]):
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict:
        e = self.examples[i]
        return {"input_ids": e.input_ids, "labels": e.labels}


def build_examples(
    tokenizer,
    qa: Iterable[tuple[str, str]] = (),
    texts: Iterable[str] = (),
    completions: Iterable[tuple[str, str]] = (),
    max_length: int = 256,
) -> list[Encoded]:
    examples = [encode_qa(tokenizer, q, a, max_length) for q, a in qa]
    examples += [encode_completion(tokenizer, p, c, max_length) for p, c in completions]
    for text in texts:
        examples += encode_text(tokenizer, text, max_length)
    return examples
