"""WMDP loaders: the multiple-choice sets (`cais/wmdp`), the corpora and MMLU (`cais/mmlu`).

Local layout (what the world writes under ``data/wmdp/``; each file JSON Lines, as the hub's
config/split): ``wmdp-bio/test.jsonl``, ``wmdp-cyber/test.jsonl``, ``wmdp-chem/test.jsonl``
({question, choices (4), answer (index)}), ``corpora/<name>-forget-corpus.jsonl`` and
``corpora/<name>-retain-corpus.jsonl`` ({text}), ``mmlu/all/test.jsonl`` ({question, subject,
choices, answer}). A hub id reads the sets from that id, the corpora from `cais/wmdp-corpora` and
MMLU from `cais/mmlu`.
"""

from __future__ import annotations

import os

from unlearnkit.data.schema import check_records, check_texts
from unlearnkit.data.sources import Source, load_hub_split, resolve_source
from unlearnkit.errors import UserError
from unlearnkit.io import read_records

WMDP_SETS = ("wmdp-bio", "wmdp-cyber", "wmdp-chem")
MC_FIELDS: dict[str, type] = {"question": str, "choices": list, "answer": int}
MMLU_FIELDS: dict[str, type] = {**MC_FIELDS, "subject": str}
MMLU_SET = "mmlu"
N_CHOICES = 4
CORPORA_DIR = "corpora"
HUB_CORPORA = "cais/wmdp-corpora"  # bio-forget-corpus is gated (given on request), not listed
HUB_FORGET = ("cyber-forget-corpus",)
HUB_RETAIN = ("bio-retain-corpus", "cyber-retain-corpus")
HUB_MMLU = ("cais/mmlu", "all", "test")


def wmdp_source(data: str | os.PathLike | None) -> Source:
    return resolve_source("wmdp", data, markers=tuple(f"{s}/test.jsonl" for s in WMDP_SETS))


def _source(data) -> Source:
    return data if isinstance(data, Source) else wmdp_source(data)


def wmdp_sets(data) -> list[str]:
    """The WMDP sets the data holds (a hub source holds all three)."""
    source = _source(data)
    if source.folder is None:
        return list(WMDP_SETS)
    return [s for s in WMDP_SETS if (source.folder / s / "test.jsonl").is_file()]


def check_choices(records: list[dict], where: str) -> list[dict]:
    """Four choices and an answer index among them, in every record."""
    for i, r in enumerate(records):
        if len(r["choices"]) != N_CHOICES:
            raise UserError(
                f"{where}: record {i} has {len(r['choices'])} choices; WMDP and MMLU have {N_CHOICES}"
            )
        if isinstance(r["answer"], bool) or not 0 <= r["answer"] < N_CHOICES:
            raise UserError(f"{where}: record {i} answer {r['answer']!r} is not an index 0–3")
    return records


def load_wmdp_set(data, name: str) -> list[dict]:
    """The multiple-choice records of ``wmdp-bio``, ``wmdp-cyber`` or ``wmdp-chem``."""
    if name not in WMDP_SETS:
        raise UserError(f"unknown WMDP set '{name}'; choose one of: {', '.join(WMDP_SETS)}")
    source = _source(data)
    if source.folder is not None:
        records, where = _read_local(source, f"{name}/test.jsonl", f"WMDP set '{name}'")
    else:
        records, where = load_hub_split(source, name, "test"), f"{source.hub_id}:{name}/test"
    return check_choices(check_records(records, MC_FIELDS, where), where)


def load_mmlu(data) -> list[dict]:
    """MMLU test records (``mmlu/all/test.jsonl`` locally, ``cais/mmlu`` all/test on the hub)."""
    source = _source(data)
    if source.folder is not None:
        records, where = _read_local(source, "mmlu/all/test.jsonl", "MMLU")
    else:
        hub_id, config, split = HUB_MMLU
        records = load_hub_split(Source("mmlu", hub_id=hub_id), config, split)
        where = f"{hub_id}:{config}/{split}"
    return check_choices(check_records(records, MMLU_FIELDS, where), where)


def has_mmlu(data) -> bool:
    source = _source(data)
    return source.folder is None or (source.folder / "mmlu" / "all" / "test.jsonl").is_file()


def corpus_names(data, kind: str) -> list[str]:
    """The corpora of ``kind`` ("forget" or "retain"): ``<name>-<kind>-corpus``, sorted."""
    source = _source(data)
    if source.folder is None:
        return list(HUB_FORGET if kind == "forget" else HUB_RETAIN)
    suffix = f"-{kind}-corpus.jsonl"
    folder = source.folder / CORPORA_DIR
    return sorted(p.name[: -len(".jsonl")] for p in folder.glob(f"*{suffix}"))


def load_corpus(data, kind: str) -> list[str]:
    """Every text of the ``kind`` corpora ("forget" or "retain"), corpus by corpus."""
    if kind not in ("forget", "retain"):
        raise UserError(f"unknown WMDP corpus kind '{kind}'; use forget or retain")
    source = _source(data)
    names = corpus_names(source, kind)
    if not names:
        raise UserError(
            f"WMDP data at {source.describe()} has no {kind} corpus: add "
            f'{CORPORA_DIR}/<name>-{kind}-corpus.jsonl (JSON Lines of {{"text": ...}}, as in {HUB_CORPORA})'
        )
    texts: list[str] = []
    for name in names:
        if source.folder is not None:
            records, where = _read_local(source, f"{CORPORA_DIR}/{name}.jsonl", f"corpus '{name}'")
        else:
            hub = Source("wmdp", hub_id=HUB_CORPORA)
            records, where = load_hub_split(hub, name, "train"), f"{HUB_CORPORA}:{name}"
        texts += check_texts(records, where)
    return texts


def _read_local(source: Source, rel: str, what: str) -> tuple[list, str]:
    path = source.folder / rel
    if not path.is_file():
        raise UserError(
            f"{what} not found: {path} does not exist; add {rel} (JSON Lines, as on the hub) "
            "or point --data at a complete WMDP folder"
        )
    return read_records(path), str(path)
