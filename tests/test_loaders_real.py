"""The real TOFU and MUSE files load through the same loaders as the world's, with the right counts."""

from __future__ import annotations

import pytest

from unlearnkit.data.muse import load_muse
from unlearnkit.data.tofu import forget_split_names, load_tofu

TOFU_COUNTS = {
    "full": 4000,
    "forget01": 40,
    "forget05": 200,
    "forget10": 400,
    "retain90": 3600,
    "retain95": 3800,
    "retain99": 3960,
    "forget10_perturbed": 400,
    "retain_perturbed": 400,
    "real_authors_perturbed": 100,
    "world_facts_perturbed": 117,
    "holdout10": 400,
}


@pytest.mark.parametrize("config,count", sorted(TOFU_COUNTS.items()))
def test_real_tofu_counts(shared_data, config, count):
    records = load_tofu(shared_data / "tofu", config)
    assert len(records) == count


def test_real_tofu_perturbed_schema(shared_data):
    rec = load_tofu(shared_data / "tofu", "forget10_perturbed")[0]
    assert len(rec["perturbed_answer"]) == 5
    assert rec["paraphrased_question"] and rec["paraphrased_answer"]
    assert len(load_tofu(shared_data / "tofu", "world_facts_perturbed")[0]["perturbed_answer"]) == 3


def test_real_tofu_forget_is_tail_of_full(shared_data):
    full = load_tofu(shared_data / "tofu", "full")
    assert load_tofu(shared_data / "tofu", "forget10") == full[-400:]


@pytest.mark.parametrize(
    "part,count",
    [
        ("raw_forget", 889),
        ("verbmem_forget", 100),
        ("knowmem_forget", 100),
        ("knowmem_retain", 100),
        ("knowmem_forget_icl", 10),
        ("privleak_forget", 100),
        ("privleak_holdout", 100),
        ("privleak_retain", 100),
    ],
)
def test_real_muse_news_counts(shared_data, part, count):
    records = load_muse(shared_data / "muse_news", part)
    assert len(records) == count
    if part.startswith(("raw", "privleak")):
        assert (
            all(isinstance(t, str) for t in records) and sum(bool(t) for t in records) > 0.9 * count
        )


def test_real_muse_books_knowmem(shared_data):
    records = load_muse(shared_data / "muse_books", "knowmem_forget")
    assert records and {"question", "answer"} <= records[0].keys()
    assert len(load_muse(shared_data / "muse_books", "knowmem_retain_icl")) > 0


def test_forget_split_names():
    assert forget_split_names("forget05") == {
        "forget": "forget05",
        "retain": "retain95",
        "holdout": "holdout05",
        "forget_eval": "forget05_perturbed",
        "retain_eval": "retain_perturbed",
        "validation_eval": "validation05_perturbed",  # a world's validation part (optional)
    }
