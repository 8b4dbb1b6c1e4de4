"""The forget and retain samples of an unlearning run, from any benchmark's loader.

- tofu: the forget split's QA and its retain split's QA (``forget10`` → ``retain90``).
- muse: ``raw_forget`` texts; retain ``raw_retain1`` + ``raw_retain2`` texts, or ``knowmem_retain``
  QA where the raw retain parts are absent.
- copyright: the forget passages and the retain passages.
For muse and copyright, ``split`` is ``None``/``forget`` (all forget samples) or a number N (the
first N forget samples).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from unlearnkit.errors import UserError

BENCHMARKS = ("tofu", "muse", "copyright")
DEFAULT_SPLITS = {"tofu": "forget10", "muse": "forget", "copyright": "forget"}


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


def _take(forget: list[Sample], split: str | None, benchmark: str) -> tuple[list[Sample], str]:
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


def _tofu(data, split: str) -> tuple[list[Sample], list[Sample]]:
    from unlearnkit.data.tofu import forget_split_names, load_tofu

    names = forget_split_names(split)
    forget = [Sample.from_record(r) for r in load_tofu(data, names["forget"])]
    retain = [Sample.from_record(r) for r in load_tofu(data, names["retain"])]
    return forget, retain


def _muse(data) -> tuple[list[Sample], list[Sample]]:
    from unlearnkit.data.muse import has_muse_part, load_muse, muse_source

    source = muse_source(data)
    forget = [Sample(t) for t in load_muse(source, "raw_forget")]
    parts = [p for p in ("raw_retain1", "raw_retain2") if has_muse_part(source, p)]
    if parts:
        retain = [Sample(t) for p in parts for t in load_muse(source, p)]
    else:
        retain = [Sample.from_record(r) for r in load_muse(source, "knowmem_retain")]
    return forget, retain


def _copyright(data) -> tuple[list[Sample], list[Sample]]:
    from unlearnkit.data.copyright import copyright_source, load_copyright

    source = copyright_source(data)
    forget = [Sample(t) for t in load_copyright(source, "forget")]
    retain = [Sample(t) for t in load_copyright(source, "retain")]
    return forget, retain


def load_unlearning_corpus(
    benchmark: str, data: str | os.PathLike | None, split: str | None = None
) -> UnlearningCorpus:
    """Forget and retain samples of ``benchmark`` read from ``data`` (world, folder or hub id)."""
    if benchmark not in BENCHMARKS:
        raise UserError(f"unknown benchmark '{benchmark}'; choose one of: {', '.join(BENCHMARKS)}")
    split = split or DEFAULT_SPLITS[benchmark]
    if benchmark == "tofu":
        forget, retain = _tofu(data, split)
    else:
        forget, retain = _muse(data) if benchmark == "muse" else _copyright(data)
        forget, split = _take(forget, split, benchmark)
    if not forget:
        raise UserError(f"the {benchmark} forget split '{split}' is empty; nothing to unlearn")
    check_disjoint(forget, retain, benchmark)
    return UnlearningCorpus(benchmark, split, forget, retain)


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
