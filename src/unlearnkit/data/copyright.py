"""Copyright (Harry-Potter-style) data: forget text, continuation prompts, general text.

Layout of a folder (the world writes ``data/copyright/``): ``forget.json`` (passages of the
protected text), ``prompts.json`` ([{prompt, gt}] continuation tests), ``retain.json`` (general
text that stays learned) and ``heldout.json`` (general text never trained on, for perplexity).
"""

from __future__ import annotations

import os

from unlearnkit.data.muse import KIND_FIELDS
from unlearnkit.data.schema import check_records, check_texts
from unlearnkit.data.sources import Source, resolve_source
from unlearnkit.errors import UserError
from unlearnkit.io import read_records

COPYRIGHT_PARTS = {"forget": "text", "prompts": "completion", "retain": "text", "heldout": "text"}


def copyright_source(data: str | os.PathLike | None) -> Source:
    source = resolve_source("copyright", data, markers=("prompts.json",))
    if source.folder is None:
        raise UserError(
            "copyright data must be a local folder (forget.json, prompts.json, retain.json, heldout.json)"
        )
    return source


def load_copyright(data: str | os.PathLike | Source | None, part: str) -> list:
    if part not in COPYRIGHT_PARTS:
        raise UserError(
            f"unknown copyright part '{part}'; choose one of: {', '.join(COPYRIGHT_PARTS)}"
        )
    source = data if isinstance(data, Source) else copyright_source(data)
    path = source.folder / f"{part}.json"
    if not path.is_file():
        raise UserError(
            f"copyright part '{part}' not found: {path} does not exist; "
            "a copyright folder holds forget.json, prompts.json, retain.json and heldout.json"
        )
    records = read_records(path)
    if COPYRIGHT_PARTS[part] == "text":
        return check_texts(records, str(path))
    return check_records(records, KIND_FIELDS["completion"], str(path))
