"""TOFU loader: `locuslab/TOFU` on the hub, a local folder of its JSON Lines files, or a world."""

from __future__ import annotations

import os
import re

from unlearnkit.data.schema import check_records
from unlearnkit.data.sources import Source, load_hub_split, resolve_source
from unlearnkit.errors import UserError
from unlearnkit.io import read_records

QA_FIELDS: dict[str, type] = {"question": str, "answer": str}
PERTURBED_FIELDS: dict[str, type] = {
    **QA_FIELDS,
    "paraphrased_answer": str,
    "perturbed_answer": list,
    "paraphrased_question": str,
}
UTILITY_FIELDS: dict[str, type] = {**QA_FIELDS, "perturbed_answer": list}
UTILITY_SETS = ("real_authors_perturbed", "world_facts_perturbed")
SPLIT_NAME = re.compile(
    r"^(full|(forget|retain|holdout)\d\d|(forget\d\d|validation\d\d|retain)_perturbed|real_authors_perturbed|world_facts_perturbed)$"
)


def tofu_fields(config: str) -> dict[str, type]:
    """The fields a TOFU config's records must have."""
    if config in UTILITY_SETS:
        return UTILITY_FIELDS
    if config.endswith("_perturbed"):
        return PERTURBED_FIELDS
    return QA_FIELDS


def tofu_source(data: str | os.PathLike | None) -> Source:
    return resolve_source(
        "tofu", data, markers=("full.json", "forget10_perturbed.json", "forget01.json")
    )


def load_tofu(data: str | os.PathLike | Source | None, config: str) -> list[dict]:
    """Records of one TOFU config (e.g. ``forget10_perturbed``), checked against its schema."""
    if not SPLIT_NAME.match(config):
        raise UserError(
            f"unknown TOFU split '{config}'; use full, forgetXX, retainXX, holdoutXX, "
            "forgetXX_perturbed, validationXX_perturbed, retain_perturbed, real_authors_perturbed or world_facts_perturbed"
        )
    source = data if isinstance(data, Source) else tofu_source(data)
    if source.folder is not None:
        path = source.folder / f"{config}.json"
        if not path.is_file():
            raise UserError(
                f"TOFU split '{config}' not found: {path} does not exist; "
                f"add {config}.json (as in locuslab/TOFU) or point --data at a complete TOFU folder"
            )
        records, where = read_records(path), str(path)
    else:
        records, where = load_hub_split(source, config, "train"), f"{source.hub_id}:{config}"
    records = check_records(records, tofu_fields(config), where)
    if "perturbed_answer" in tofu_fields(config):
        check_perturbed(records, where)
    return records


def check_perturbed(records: list[dict], where: str) -> None:
    """Truth ratio and option accuracy compare an answer with its wrong ones: there must be some."""
    for i, record in enumerate(records):
        if not record["perturbed_answer"]:
            raise UserError(
                f"{where}: record {i} has an empty perturbed_answer list; truth ratio and option accuracy need at least one wrong answer per question"
            )


def forget_split_names(forget_split: str) -> dict[str, str]:
    """The TOFU configs that go with a forget split: forget10 → retain90, forget10_perturbed, ..."""
    match = re.fullmatch(r"forget(\d\d)", forget_split)
    if not match:
        raise UserError(
            f"forget split must look like forget01/forget05/forget10, got '{forget_split}'"
        )
    pct = int(match.group(1))
    return {
        "forget": forget_split,
        "retain": f"retain{100 - pct:02d}",
        "holdout": f"holdout{pct:02d}",
        "forget_eval": f"{forget_split}_perturbed",
        "validation_eval": f"validation{pct:02d}_perturbed",  # a world's, when it has one
        "retain_eval": "retain_perturbed",
    }
