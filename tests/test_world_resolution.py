"""A world with several forget authors and a validation part (other questions about them)."""

from __future__ import annotations

import dataclasses
from functools import cache

import pytest

from unlearnkit.benchmarks import get_benchmark
from unlearnkit.data.tofu import forget_split_names, load_tofu
from unlearnkit.errors import UserError
from unlearnkit.eval.metrics import aggregate as agg
from unlearnkit.world.corpus import retain_corpus, target_corpus
from unlearnkit.world.generate import generate_world, world_people, write_world_data
from unlearnkit.world.presets import WorldPreset, get_preset

FORGET_AUTHORS, VALIDATION_PER_AUTHOR = 4, 3


def resolved(**change) -> WorldPreset:
    """The tiny preset with forget10 = 4 authors and 3 validation questions each."""
    settings = {"forget_authors": FORGET_AUTHORS, "validation_per_author": VALIDATION_PER_AUTHOR}
    return dataclasses.replace(get_preset("tiny"), **{**settings, **change})


@cache
def world(seed: int = 0):
    return generate_world(resolved(), seed)


def pairs(records: list[dict]) -> list[tuple[str, str]]:
    return [(r["question"], r["answer"]) for r in records]


def test_forget_split_has_the_requested_size():
    p, t = resolved(), world().tofu
    sizes = {s: len(t[s]) for s in ("forget01", "forget05", "forget10", "holdout10")}
    q = p.qa_per_author
    assert sizes == {"forget01": q, "forget05": 2 * q, "forget10": 4 * q, "holdout10": 4 * q}
    assert len(t["validation10_perturbed"]) == FORGET_AUTHORS * VALIDATION_PER_AUTHOR
    assert len(t["validation01_perturbed"]) == VALIDATION_PER_AUTHOR
    assert len(t["retain90"]) == (p.n_authors - FORGET_AUTHORS) * q


def test_the_pretrained_preset_forgets_at_least_32_items():
    p = get_preset("pretrained")
    assert p.forget_authors * p.qa_per_author >= 32 and p.validation_per_author > 0


def test_validation_is_about_the_forget_authors_and_disjoint_from_their_questions():
    people = world_people(resolved(), 0)
    forget_authors = people.authors[-FORGET_AUTHORS:]
    assert len(people.validation) == FORGET_AUTHORS
    for author, items in zip(forget_authors, people.validation):
        assert len(items) == VALIDATION_PER_AUTHOR
        assert not set(i.kind for i in items) & set(author.kinds)  # other facts of the author
        for item in items:
            assert item.value == author.facts[item.kind]  # true facts of that author
            assert author.name in item.question or author.name.split()[0] in item.question
    t = world().tofu
    validation = pairs(t["validation10_perturbed"])
    questions = {q for q, _ in pairs(t["full"]) + pairs(t["holdout10"])}
    answers = {a for _, a in pairs(t["full"]) + pairs(t["holdout10"])}
    assert not {q for q, _ in validation} & questions
    assert not {a for _, a in validation} & answers
    assert len(set(validation)) == len(validation)


def test_the_target_learns_the_validation_part_and_no_retain_model_does():
    w = world()
    validation = set(pairs(w.tofu["validation10_perturbed"]))
    assert validation <= set(target_corpus(w).qa)
    assert not validation & set(retain_corpus(w, "forget10").qa)
    kept = set(retain_corpus(w, "forget01").qa)  # forget05's other authors are still learned
    assert not set(pairs(w.tofu["validation01_perturbed"])) & kept
    assert validation - set(pairs(w.tofu["validation01_perturbed"])) <= kept


def test_the_build_is_deterministic_by_seed():
    assert generate_world(resolved(), 0).tofu == world(0).tofu
    other = generate_world(resolved(), 1).tofu
    assert pairs(other["validation10_perturbed"]) != pairs(world(0).tofu["validation10_perturbed"])


def test_without_the_settings_the_tiny_world_is_unchanged():
    plain = generate_world(get_preset("tiny"), 0).tofu
    assert not any(name.startswith("validation") for name in plain)
    changed = world().tofu
    assert plain["real_authors_perturbed"] == changed["real_authors_perturbed"]


def test_validation_loads_and_aggregates_like_the_forget_set(tmp_path):
    write_world_data(world(), tmp_path)
    names = forget_split_names("forget10")
    records = load_tofu(tmp_path / "tofu", names["validation_eval"])
    assert pairs(records) == pairs(world().tofu["validation10_perturbed"])
    row = {agg.NLL: 1.0, agg.PARA_NLL: 1.0, agg.PERTURBED_NLLS: [2.0], agg.ROUGEL_RECALL: 0.5}
    out = agg.tofu_aggregate({agg.VALIDATION: [row]})
    assert out["validation_rouge"] == 0.5 and "forget_rouge" not in out


@pytest.mark.parametrize(
    "change",
    [
        {"forget_authors": 0},
        {"forget_authors": 10},  # tiny has 10 authors: none would be left to retain
        {"validation_per_author": -1},
        {"validation_per_author": 17},  # 8 + 17 > the kinds of facts an author has
    ],
)
def test_impossible_resolution_settings_are_user_errors(change):
    with pytest.raises(UserError):
        generate_world(resolved(**change), 0)


def validation_row(index: int, nll: float) -> dict:
    return {
        "index": index,
        agg.NLL: nll,
        agg.PARA_NLL: nll,
        agg.PERTURBED_NLLS: [2.0],
        agg.ROUGEL_RECALL: 0.5,
    }


def test_validation_quality_compares_with_the_retain_model_on_the_same_items():
    tofu = get_benchmark("tofu")
    retain = [validation_row(i, 2.0 + i / 10) for i in range(8)]  # truth ratios near 1
    remembers = [validation_row(i, 0.1) for i in range(8)]  # the paraphrase far likelier
    reference = {"retain_validation": retain}
    same = tofu.aggregate({agg.VALIDATION: retain}, reference)["validation_quality"]
    apart = tofu.aggregate({agg.VALIDATION: remembers}, reference)["validation_quality"]
    assert same == 1.0 and apart < 0.01
    fewer = tofu.aggregate({agg.VALIDATION: remembers[:4]}, reference)
    assert "validation_quality" not in fewer  # other items: no comparison
