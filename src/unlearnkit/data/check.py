"""Read every file an evaluation will read, up front, so bad data fails before any training."""

from __future__ import annotations

import os

from unlearnkit.errors import UserError

# MUSE parts the evaluation reads when they are present (it skips absent ones).
MUSE_EVAL_PARTS = (
    "verbmem_forget",
    "knowmem_forget",
    "knowmem_forget_icl",
    "knowmem_retain",
    "knowmem_retain_icl",
    "privleak_forget",
    "privleak_holdout",
)


def check_eval_data(benchmark: str, data: str | os.PathLike | None, split: str | None) -> None:
    """Load (and schema-check) the evaluation files of ``benchmark``; hub data is left to load later."""
    if benchmark == "tofu":
        _tofu(data, split or "forget10")
    elif benchmark == "muse":
        _muse(data)
    elif benchmark == "copyright":
        _copyright(data)
    else:
        raise UserError(f"unknown benchmark '{benchmark}'; choose one of: tofu, muse, copyright")


def _tofu(data, split: str) -> None:
    from unlearnkit.data.tofu import forget_split_names, load_tofu, tofu_source

    source = tofu_source(data)
    if source.folder is None:
        return
    names = forget_split_names(split)
    for config in (
        names["forget_eval"],
        names["retain_eval"],
        "real_authors_perturbed",
        "world_facts_perturbed",
    ):
        load_tofu(source, config)
    if (source.folder / f"{names['holdout']}.json").is_file():
        load_tofu(source, names["holdout"])
        load_tofu(source, names["forget"])


def _muse(data) -> None:
    from unlearnkit.data.muse import has_muse_part, load_muse, muse_source

    source = muse_source(data)
    if source.folder is None:
        return
    for part in MUSE_EVAL_PARTS:
        if has_muse_part(source, part):
            load_muse(source, part)


def _copyright(data) -> None:
    from unlearnkit.data.copyright import copyright_source, load_copyright

    source = copyright_source(data)
    for part in ("prompts", "heldout", "forget"):
        load_copyright(source, part)
