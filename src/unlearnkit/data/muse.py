"""MUSE loader: `muse-bench/MUSE-News` / `MUSE-Books` on the hub, a local folder, or a world.

Local layout (as ``../shared/data/muse_news``): ``raw/forget.json``, ``verbmem/forget.json``,
``knowmem/{forget,retain2}_qa[_icl].json``, ``privleak/{forget,holdout,retain2}.json``.
"""

from __future__ import annotations

import os

from unlearnkit.data.schema import check_records, check_texts
from unlearnkit.data.sources import Source, load_hub_split, resolve_source
from unlearnkit.errors import UserError
from unlearnkit.io import read_records

# logical part -> (local relative path, hub config, hub split, record kind)
MUSE_PARTS: dict[str, tuple[str, str, str, str]] = {
    "raw_forget": ("raw/forget.json", "raw", "forget", "text"),
    "raw_retain1": ("raw/retain1.json", "raw", "retain1", "text"),
    "raw_retain2": ("raw/retain2.json", "raw", "retain2", "text"),
    "raw_holdout": ("raw/holdout.json", "raw", "holdout", "text"),
    "verbmem_forget": ("verbmem/forget.json", "verbmem", "forget", "completion"),
    "knowmem_forget": ("knowmem/forget_qa.json", "knowmem", "forget_qa", "qa"),
    "knowmem_forget_icl": ("knowmem/forget_qa_icl.json", "knowmem", "forget_qa_icl", "qa"),
    "knowmem_retain": ("knowmem/retain2_qa.json", "knowmem", "retain_qa", "qa"),
    "knowmem_retain_icl": ("knowmem/retain2_qa_icl.json", "knowmem", "retain_qa_icl", "qa"),
    "privleak_forget": ("privleak/forget.json", "privleak", "forget", "text"),
    "privleak_holdout": ("privleak/holdout.json", "privleak", "holdout", "text"),
    "privleak_retain": ("privleak/retain2.json", "privleak", "retain", "text"),
}
KIND_FIELDS: dict[str, dict[str, type]] = {
    "completion": {"prompt": str, "gt": str},
    "qa": {"question": str, "answer": str},
}


def muse_source(data: str | os.PathLike | None) -> Source:
    return resolve_source(
        "muse", data, markers=("verbmem/forget.json", "knowmem/forget_qa.json", "raw/forget.json")
    )


def load_muse(data: str | os.PathLike | Source | None, part: str) -> list:
    """One MUSE part: a list of texts (raw, privleak) or of records (verbmem, knowmem)."""
    if part not in MUSE_PARTS:
        raise UserError(f"unknown MUSE part '{part}'; choose one of: {', '.join(MUSE_PARTS)}")
    rel, config, split, kind = MUSE_PARTS[part]
    source = data if isinstance(data, Source) else muse_source(data)
    if source.folder is not None:
        path = source.folder / rel
        if not path.is_file():
            raise UserError(
                f"MUSE part '{part}' not found: {path} does not exist; "
                f"add {rel} (as in muse-bench/MUSE-News) or point --data at a complete MUSE folder"
            )
        records, where = read_records(path), str(path)
    else:
        records, where = load_hub_split(source, config, split), f"{source.hub_id}:{config}/{split}"
    if kind == "text":
        return check_texts(records, where)
    return check_records(records, KIND_FIELDS[kind], where)


def has_muse_part(source: Source, part: str) -> bool:
    """Whether a local source holds ``part`` (hub sources are assumed complete)."""
    return source.folder is None or (source.folder / MUSE_PARTS[part][0]).is_file()
