"""The samples an unlearning run trains on: forget and retain, and the rules every benchmark's
reader follows (a count selects the first N forget texts, a retain file replaces the retain set,
no sample is in both)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from unlearnkit.errors import UserError


@dataclass(frozen=True)
class Sample:
    """A QA pair (``question`` set, ``text`` the answer) or a raw text (``question`` None)."""

    text: str
    question: str | None = None

    @property
    def is_qa(self) -> bool:
        return self.question is not None

    @classmethod
    def from_record(cls, record: dict | str) -> Sample:
        if isinstance(record, str):
            return cls(record)
        if "question" in record:
            return cls(record["answer"], record["question"])
        return cls(record["text"])


@dataclass
class UnlearningCorpus:
    benchmark: str
    split: str
    forget: list[Sample]
    retain: list[Sample]
    retain_source: str = ""  # where the retain samples came from (for the run summary)


def take_forget(
    forget: list[Sample], split: str | None, benchmark: str
) -> tuple[list[Sample], str]:
    if split in (None, "", "forget", "all"):
        return forget, "forget"
    if not str(split).isdigit():
        raise UserError(
            f"{benchmark} split must be 'forget' or a number of forget samples, got '{split}'"
        )
    n = int(split)
    if n <= 0 or n > len(forget):
        raise UserError(
            f"{benchmark} split asks for {n} forget samples but the data has {len(forget)}"
        )
    return forget[:n], str(n)


def text_corpus(
    forget_texts: Iterable[str],
    split: str | None,
    benchmark: str,
    retain_file: Path | None,
    retain: Callable[[], tuple[list[str], str]],
) -> tuple[list[Sample], list[Sample], str, str]:
    """A raw-text benchmark's corpus: the forget texts cut to ``split``, and the retain file if one
    is given, else ``retain()``'s texts with where they came from (read only when needed)."""
    forget, split = take_forget([Sample(t) for t in forget_texts], split, benchmark)
    if retain_file is not None:
        return forget, read_retain(retain_file), f"file:{retain_file}", split
    texts, where = retain()
    return forget, [Sample(t) for t in texts], where, split


def read_retain(path: Path) -> list[Sample]:
    """Retain samples from a JSON / JSON Lines file of texts or {question, answer} / {text}."""
    from unlearnkit.io import read_records

    if not path.is_file():
        raise UserError(f"retain file not found: {path}")
    records = read_records(path)
    if not isinstance(records, list) or not records:
        raise UserError(f"{path} must hold a non-empty list of retain texts or records")
    try:
        return [Sample.from_record(r) for r in records]
    except (KeyError, TypeError):
        raise UserError(
            f"{path}: each retain record must be a text, a {{question, answer}} or a {{text}} object"
        ) from None


def _key(sample: Sample) -> tuple[str | None, str]:
    return (
        " ".join(sample.question.split()) if sample.is_qa else None,
        " ".join(sample.text.split()),
    )


def check_disjoint(forget: list[Sample], retain: list[Sample], benchmark: str) -> None:
    """A sample in both forget and retain sets would be pushed down and up at once."""
    forget_keys = {_key(s) for s in forget}
    shared = [s for s in retain if _key(s) in forget_keys]
    if shared:
        first = shared[0].question or shared[0].text
        raise UserError(
            f"the {benchmark} forget and retain data overlap: {len(shared)} retain sample(s) are also "
            f"forget samples (first: {first[:60]!r}); remove them from the retain data"
        )
