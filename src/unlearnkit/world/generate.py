"""The embedded world's data: generated from a seed, written in the real benchmarks' layouts."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from unlearnkit.errors import UserError
from unlearnkit.io import write_json, write_jsonl, write_text_atomic
from unlearnkit.world.authors import (
    Author,
    QAItem,
    Setting,
    check_qa_per_author,
    make_authors,
    real_authors_set,
    validation_items,
    world_facts_set,
)
from unlearnkit.world.hazard import hazard_count, wmdp_files
from unlearnkit.world.names import Namer, make_classics, make_geography
from unlearnkit.world.news import muse_files
from unlearnkit.world.presets import WorldPreset
from unlearnkit.world.saga import copyright_files

FORGET_PERCENTS = (1, 5, 10)
UTILITY_FILES = ("real_authors_perturbed", "world_facts_perturbed")
MIN_COUNTRIES, MIN_CLASSICS = 12, 12
WORLD_FACTS_PER_COUNTRY = 6  # on average, of the 9 kinds: questions spread over many countries


@dataclass
class WorldData:
    tofu: dict[str, list]  # file stem -> records
    muse: dict[str, list]  # relative path without .json -> records, e.g. "raw/forget"
    copyright: dict[str, list]  # file stem -> records
    refusals: list[str] = field(default_factory=list)  # filled elsewhere; idontknow.jsonl if any
    wmdp: dict[str, list] = field(default_factory=dict)  # relative path without .jsonl -> records


def split_count(n_authors: int, percent: int, forget_authors: int | None = None) -> int:
    """Authors in TOFU's forget`percent` split (and its holdout): max(1, round(p * N)), or with
    ``forget_authors`` (the preset's forget10 size) that many for forget10 and its share below."""
    if forget_authors is None:
        return max(1, round(n_authors * percent / 100))
    return max(1, round(forget_authors * percent / max(FORGET_PERCENTS)))


def _rng(seed: int, part: str) -> random.Random:
    # One stream per part, seeded by a string (hashed with SHA-512, not hash()), so a change in
    # one part leaves the others as they were and nothing depends on PYTHONHASHSEED.
    return random.Random(f"unlearnkit-world:{seed}:{part}")


def _records(authors: list[Author]) -> list[dict]:
    return [item.record() for a in authors for item in a.items]


def _perturbed(authors: list[Author]) -> list[dict]:
    return [item.perturbed_record() for a in authors for item in a.items]


def tofu_splits(
    authors: list[Author],
    holdout: list[Author],
    forget_authors: int | None = None,
    validation: list[tuple[QAItem, ...]] | None = None,
) -> dict[str, list]:
    """TOFU's files: forgetXX = the last authors, retainYY = the rest, holdoutXX = unseen authors;
    validationXX_perturbed = ``validation`` (the other questions of forget10's authors, in order)
    for forgetXX's authors."""
    files: dict[str, list] = {"full": _records(authors)}
    for percent in FORGET_PERCENTS:
        k = split_count(len(authors), percent, forget_authors)
        files[f"forget{percent:02d}"] = _records(authors[-k:])
        files[f"retain{100 - percent:02d}"] = _records(authors[:-k])
        files[f"holdout{percent:02d}"] = _records(holdout[:k])
        files[f"forget{percent:02d}_perturbed"] = _perturbed(authors[-k:])
        if validation:
            items = [item for author_items in validation[-k:] for item in author_items]
            files[f"validation{percent:02d}_perturbed"] = [i.perturbed_record() for i in items]
    count = min(len(files["forget10"]), len(files["retain90"]))
    files["retain_perturbed"] = _perturbed(authors)[:count]
    return files


def check_preset(preset: WorldPreset) -> None:
    check_qa_per_author(preset.qa_per_author)
    check_qa_per_author(preset.qa_per_author + preset.validation_per_author)
    if preset.validation_per_author < 0:
        raise UserError(
            f"validation_per_author must be at least 0; got {preset.validation_per_author}"
        )
    if preset.forget_authors is not None and not 1 <= preset.forget_authors < preset.n_authors:
        raise UserError(
            f"forget_authors must be between 1 and n_authors - 1 ({preset.n_authors - 1}); "
            f"got {preset.forget_authors}"
        )
    if preset.n_authors < 2:
        raise UserError(
            f"n_authors must be at least 2 (forget and retain authors); got {preset.n_authors}"
        )
    for name in ("n_utility_facts", "news_per_split", "saga_passages", "general_passages"):
        if getattr(preset, name) < 1:
            raise UserError(f"{name} must be at least 1; got {getattr(preset, name)}")


@dataclass(frozen=True)
class People:
    """The world's places and people before they become files (tests inspect it too)."""

    namer: Namer  # keeps the names already handed out, so later parts never reuse them
    setting: Setting
    authors: list[Author]  # TOFU's `full`, in order
    holdout: list[Author]  # never trained on
    # forget10's authors' other questions (the last authors, in order); empty without validation
    validation: list[tuple[QAItem, ...]] = field(default_factory=list)


def world_people(preset: WorldPreset, seed: int) -> People:
    check_preset(preset)
    namer = Namer(_rng(seed, "names"))
    n_countries = max(MIN_COUNTRIES, -(-preset.n_utility_facts // WORLD_FACTS_PER_COUNTRY))
    countries = make_geography(namer, n_countries)
    classics = make_classics(namer, countries, max(MIN_CLASSICS, preset.n_utility_facts))
    setting = Setting(countries, classics)
    qa = preset.qa_per_author
    taken: set[str] = set()  # answers so far: holdout answers must be unseen in training too
    authors = make_authors(namer, _rng(seed, "authors"), setting, preset.n_authors, qa, taken)
    n_forget = split_count(preset.n_authors, max(FORGET_PERCENTS), preset.forget_authors)
    holdout = make_authors(namer, _rng(seed, "holdout"), setting, n_forget, qa, taken)
    validation = []
    if preset.validation_per_author:
        r = _rng(seed, "validation")
        validation = [
            validation_items(a, r, setting, preset.validation_per_author, taken)
            for a in authors[-n_forget:]
        ]
    return People(namer, setting, authors, holdout, validation)


def generate_world(preset: WorldPreset, seed: int) -> WorldData:
    """The world's data; the same (preset, seed) always gives the same data."""
    people = world_people(preset, seed)
    countries, classics = people.setting.countries, people.setting.classics
    n_util = preset.n_utility_facts
    tofu = tofu_splits(people.authors, people.holdout, preset.forget_authors, people.validation)
    tofu["real_authors_perturbed"] = real_authors_set(
        _rng(seed, "real_authors"), classics, countries, n_util
    )
    tofu["world_facts_perturbed"] = world_facts_set(_rng(seed, "world_facts"), countries, n_util)
    muse = muse_files(_rng(seed, "news"), countries, preset.news_per_split)
    copyright = copyright_files(
        _rng(seed, "saga"), people.namer, preset.saga_passages, preset.general_passages
    )
    utility = {name: tofu[name] for name in UTILITY_FILES}
    wmdp = wmdp_files(
        people.namer,
        _rng(seed, "hazard"),
        hazard_count(n_util),
        utility,
        copyright["retain"],
    )
    return WorldData(tofu, muse, copyright, [], wmdp)


def write_world_data(data: WorldData, data_dir: Path) -> None:
    """Write ``data_dir/{tofu,muse,copyright,wmdp}/`` in the real benchmarks' layouts."""
    data_dir = Path(data_dir)
    for stem, records in data.tofu.items():
        write_jsonl(data_dir / "tofu" / f"{stem}.json", records)  # TOFU's .json is JSON Lines
    if data.refusals:
        text = "".join(line + "\n" for line in data.refusals)
        write_text_atomic(data_dir / "tofu" / "idontknow.jsonl", text)
    for rel, records in data.muse.items():
        write_json(data_dir / "muse" / f"{rel}.json", records, indent=None)
    for stem, records in data.copyright.items():
        write_json(data_dir / "copyright" / f"{stem}.json", records, indent=None)
    for rel, records in data.wmdp.items():
        write_jsonl(data_dir / "wmdp" / f"{rel}.jsonl", records)
