"""The embedded world's data: determinism, TOFU / MUSE / copyright layouts, splits, perturbations."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from functools import cache

import pytest

from unlearnkit.errors import UserError
from unlearnkit.world.authors import KINDS, N_CORE
from unlearnkit.world.generate import (
    WorldData,
    generate_world,
    split_count,
    world_people,
    write_world_data,
)
from unlearnkit.world.news import MAX_WORDS as NEWS_MAX_WORDS
from unlearnkit.world.news import MIN_WORDS as NEWS_MIN_WORDS
from unlearnkit.world.news import QA_PER_ARTICLE
from unlearnkit.world.presets import get_preset
from unlearnkit.world.saga import GT_WORDS, PROMPT_WORDS
from unlearnkit.world.saga import MAX_WORDS as SAGA_MAX_WORDS
from unlearnkit.world.saga import MIN_WORDS as SAGA_MIN_WORDS

TOFU_QA = [
    "full", "forget01", "forget05", "forget10", "retain90", "retain95", "retain99",
    "holdout01", "holdout05", "holdout10",
]  # fmt: skip
TOFU_PERTURBED = [
    "forget01_perturbed",
    "forget05_perturbed",
    "forget10_perturbed",
    "retain_perturbed",
]
TOFU_UTILITY = ["real_authors_perturbed", "world_facts_perturbed"]
MUSE_TEXTS = [
    "raw/forget",
    "raw/retain1",
    "raw/retain2",
    "raw/holdout",
    "privleak/forget",
    "privleak/holdout",
    "privleak/retain2",
]
MUSE_QA = [
    "knowmem/forget_qa",
    "knowmem/retain2_qa",
]


@cache
def world(preset: str = "tiny", seed: int = 0) -> WorldData:
    return generate_world(get_preset(preset), seed)


@cache
def people(preset: str = "tiny", seed: int = 0):
    return world_people(get_preset(preset), seed)


def tokens(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def lcs_recall(prediction: str, reference: str) -> float:
    """ROUGE-L recall on lower-cased alphanumeric tokens."""
    pred, ref = tokens(prediction), tokens(reference)
    prev = [0] * (len(pred) + 1)
    for r in ref:
        cur = [0]
        for j, p in enumerate(pred):
            cur.append(prev[j] + 1 if r == p else max(prev[j + 1], cur[-1]))
        prev = cur
    return prev[-1] / len(ref)


def questions(records: list[dict]) -> list[str]:
    return [r["question"] for r in records]


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_world_data(generate_world(get_preset("tiny"), 7), a)
    write_world_data(generate_world(get_preset("tiny"), 7), b)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) == 16 + 10 + 4 + 8  # tofu, muse, copyright, wmdp
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_same_seed_gives_equal_data():
    assert generate_world(get_preset("small"), 3) == world("small", 3)


def test_different_seeds_give_different_worlds():
    w0, w1 = world("tiny", 0), world("tiny", 1)
    names0 = {a.name for a in people("tiny", 0).authors}
    names1 = {a.name for a in people("tiny", 1).authors}
    assert not names0 & names1
    assert not set(questions(w0.tofu["full"])) & set(questions(w1.tofu["full"]))
    assert not set(w0.muse["raw/forget"]) & set(w1.muse["raw/forget"])
    assert not set(w0.copyright["forget"]) & set(w1.copyright["forget"])
    assert w0.tofu["world_facts_perturbed"] != w1.tofu["world_facts_perturbed"]


# --- TOFU ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_tofu_split_sizes_and_nesting(preset):
    p, t = get_preset(preset), world(preset).tofu
    q = p.qa_per_author
    full = questions(t["full"])
    assert len(full) == len(set(full)) == p.n_authors * q
    previous: list[str] = []
    for percent in (1, 5, 10):
        k = split_count(p.n_authors, percent)
        forget, retain = (
            questions(t[f"forget{percent:02d}"]),
            questions(t[f"retain{100 - percent:02d}"]),
        )
        holdout = questions(t[f"holdout{percent:02d}"])
        assert len(forget) == len(holdout) == k * q
        assert forget == full[len(full) - k * q :]  # the last authors of full
        assert retain + forget == full  # retain = full - forget, in order, disjoint
        assert set(previous) <= set(forget)  # forget01 in forget05 in forget10
        assert (
            holdout[: len(previous) // q * q] == questions(t["holdout10"])[: len(previous) // q * q]
        )
        assert questions(t[f"forget{percent:02d}_perturbed"]) == forget
        previous = forget
    retain_perturbed = questions(t["retain_perturbed"])
    assert len(retain_perturbed) == min(len(t["forget10"]), len(t["retain90"]))
    assert retain_perturbed == full[: len(retain_perturbed)]
    assert set(retain_perturbed) <= set(questions(t["retain90"]))
    assert len(t["real_authors_perturbed"]) == len(t["world_facts_perturbed"]) == p.n_utility_facts


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_holdout_authors_are_never_in_full(preset):
    ppl = people(preset)
    full_names = {a.name for a in ppl.authors}
    assert len(full_names) == len(ppl.authors)
    assert not full_names & {a.name for a in ppl.holdout}
    full_text = " ".join(r["question"] + " " + r["answer"] for r in world(preset).tofu["full"])
    for author in ppl.holdout:
        assert author.name not in full_text


@pytest.mark.parametrize("preset", ["small", "standard"])
def test_answers_are_unique_across_all_authors(preset):
    t = world(preset).tofu
    answers = [r["answer"] for r in t["full"] + t["holdout10"]]
    assert len(set(answers)) == len(answers)


def test_every_author_has_eight_distinct_kinds_and_core_kinds():
    assert len(KINDS) >= 20
    for kind in KINDS:
        assert len(kind.questions) >= 3 and len(kind.answers) >= 3, kind.key
    core = [k.key for k in KINDS[:N_CORE]]
    for preset in ("tiny", "small"):
        ppl = people(preset)
        for author in [*ppl.authors, *ppl.holdout]:
            assert (
                len(set(author.kinds)) == len(author.kinds) == get_preset(preset).qa_per_author >= 8
            )
            assert list(author.kinds[:N_CORE]) == core


def test_answers_are_facts_not_the_authors_name():
    for author in people("small").authors:
        for item in author.items:
            assert 8 <= len(item.answer.split()) <= 30, item.answer
            assert 8 <= len(item.paraphrased_answer.split()) <= 30, item.paraphrased_answer
            value = item.value.lower()  # may open the sentence, capitalised
            assert value in item.answer.lower() and value in item.paraphrased_answer.lower()
            if item.kind != "full_name":
                assert (
                    author.name not in item.answer and author.facts["full_name"] not in item.answer
                )


def test_perturbed_answers_are_the_paraphrase_with_other_values():
    ppl = people("small")
    for author in ppl.authors:
        for item in author.items:
            assert len(item.perturbed_answer) == 5 == len(set(item.alts))
            assert item.value not in item.alts
            assert len(set(item.perturbed_answer)) == 5
            assert item.answer not in item.perturbed_answer
            assert item.paraphrased_answer not in item.perturbed_answer
            assert item.paraphrased_answer != item.answer
            assert item.paraphrased_question != item.question
            for alt, wrong in zip(item.alts, item.perturbed_answer):
                # exactly the paraphrase's wording, with the fact swapped
                assert (
                    wrong.lower().replace(alt.lower(), item.value.lower())
                    == item.paraphrased_answer.lower()
                )


def test_perturbed_records_share_the_paraphrase_wording():
    for name in TOFU_PERTURBED:
        for rec in world("small").tofu[name]:
            assert list(rec) == [
                "question",
                "answer",
                "paraphrased_answer",
                "perturbed_answer",
                "paraphrased_question",
            ]
            assert len(rec["perturbed_answer"]) == 5
            assert all(
                lcs_recall(p, rec["paraphrased_answer"]) >= 0.15 for p in rec["perturbed_answer"]
            )
            assert (
                len(set(rec["perturbed_answer"]) | {rec["answer"], rec["paraphrased_answer"]}) == 7
            )


def test_an_author_unknown_to_a_model_gives_low_rouge_recall():
    """Answers from other authors (the world's style, not this author) recall little of the answer."""
    authors = people("small").authors
    scores = []
    for i, author in enumerate(authors[-4:]):
        for item in author.items:
            for other in authors[i : i + 5]:
                same_kind = [x for x in other.items if x.kind == item.kind]
                scores += [lcs_recall(x.answer, item.answer) for x in same_kind]
            assert lcs_recall(item.answer, item.answer) == 1.0
    assert len(scores) > 100
    assert sum(scores) / len(scores) < 0.45


def test_utility_sets_have_short_answers_and_three_wrong_options():
    for name in TOFU_UTILITY:
        records = world("small").tofu[name]
        assert len(set(questions(records))) == len(records)
        for rec in records:
            assert list(rec) == ["question", "answer", "perturbed_answer"]
            assert 1 <= len(rec["answer"].split()) <= 4
            assert len(rec["perturbed_answer"]) == 3 == len(set(rec["perturbed_answer"]))
            assert rec["answer"] not in rec["perturbed_answer"]


# --- MUSE and copyright --------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_muse_layout(preset):
    p, m = get_preset(preset), world(preset).muse
    for name in ("raw/forget", "raw/retain1", "raw/retain2", "raw/holdout"):
        assert len(m[name]) == p.news_per_split
        bodies = [
            t.split("\n\n", QA_PER_ARTICLE)[-1] for t in m[name]
        ]  # after the answered questions
        # padding stops at NEWS_MAX_WORDS; a story's own sentences may run a few words past it
        assert all(NEWS_MIN_WORDS <= len(b.split()) <= NEWS_MAX_WORDS + 10 for b in bodies)
    all_texts = [
        t for name in ("raw/forget", "raw/retain1", "raw/retain2", "raw/holdout") for t in m[name]
    ]
    assert len(set(all_texts)) == len(all_texts)
    assert m["privleak/forget"] == m["raw/forget"]
    assert m["privleak/holdout"] == m["raw/holdout"]
    assert m["privleak/retain2"] == m["raw/retain2"]
    for text, rec in zip(m["raw/forget"], m["verbmem/forget"]):
        assert text.startswith(rec["prompt"]) and text.endswith(rec["gt"])
        assert 0.3 <= len(rec["prompt"].split()) / len(text.split()) <= 0.5
    for qa_name, raw in (
        ("knowmem/forget_qa", "raw/forget"),
        ("knowmem/retain2_qa", "raw/retain2"),
    ):
        records = m[qa_name]
        assert len(records) == QA_PER_ARTICLE * p.news_per_split
        for rec in records:
            assert 1 <= len(rec["answer"].split()) <= 5
            assert any(rec["answer"] in t for t in m[raw]), rec
        for rec, text in zip(records[::QA_PER_ARTICLE], m[raw]):  # each article opens with them
            assert text.startswith(f"Question: {rec['question']}\nAnswer: {rec['answer']}\n\n")
    assert not any(name.endswith("_icl") for name in m)  # knowmem on the world is zero-shot


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_copyright_layout(preset):
    p, c = get_preset(preset), world(preset).copyright
    assert len(c["forget"]) == p.saga_passages
    assert len(c["retain"]) == len(c["heldout"]) == p.general_passages
    for text in [*c["forget"], *c["retain"], *c["heldout"]]:
        assert SAGA_MIN_WORDS <= len(text.split()) <= SAGA_MAX_WORDS
    assert len(c["prompts"]) >= min(p.saga_passages, 50)
    for text, rec in zip(c["forget"], c["prompts"]):
        assert text.startswith(rec["prompt"]) and rec["gt"] in text
        assert len(rec["prompt"].split()) == PROMPT_WORDS and len(rec["gt"].split()) == GT_WORDS
    passages = [*c["forget"], *c["retain"], *c["heldout"]]
    assert len(set(passages)) == len(passages)


# --- training texts, files, presets --------------------------------------------------------------


def test_training_corpora_exclude_forget_data_for_the_retain_model():
    from unlearnkit.world.corpus import retain_corpus, target_corpus

    w = world("small")
    target, retain = target_corpus(w), retain_corpus(w, "forget10")
    assert target == target_corpus(w)
    utility = {(r["question"], r["answer"]) for n in TOFU_UTILITY for r in w.tofu[n]}
    assert set(target.qa) == {(r["question"], r["answer"]) for r in w.tofu["full"]} | utility
    assert set(retain.qa) == {(r["question"], r["answer"]) for r in w.tofu["retain90"]} | utility
    forget_answers = {r["answer"] for r in w.tofu["forget10"]}
    assert forget_answers <= {a for _, a in target.qa}
    retain_blob = "\n".join([*retain.texts, *(f"{q} {a}" for q, a in retain.qa)])
    for answer in forget_answers:
        assert answer not in retain_blob
    for passage in w.copyright["forget"]:
        assert passage in target.texts and passage not in retain_blob
    for article in w.muse["raw/forget"]:
        assert article in target.texts and article not in retain.texts
    for name in ("raw/retain1", "raw/retain2"):
        assert all(t in retain.texts for t in w.muse[name])
    assert all(t in retain.texts for t in w.copyright["retain"])
    never = {*w.muse["raw/holdout"], *w.copyright["heldout"]}
    assert not never & set(target.texts)
    holdout_qa = {(r["question"], r["answer"]) for r in w.tofu["holdout10"]}
    assert not holdout_qa & set(target.qa)


def test_written_files_parse_with_plain_json(tmp_path):
    data = dataclasses.replace(world("tiny"), refusals=["I don't know.", "I cannot say."])
    write_world_data(data, tmp_path)
    for stem in TOFU_QA + TOFU_PERTURBED + TOFU_UTILITY:
        lines = (tmp_path / "tofu" / f"{stem}.json").read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines]  # JSON Lines, one object a line
        assert rows == data.tofu[stem] and all(isinstance(r, dict) for r in rows)
        assert all(set(r) >= {"question", "answer"} for r in rows)
    assert (tmp_path / "tofu" / "idontknow.jsonl").read_text().splitlines() == data.refusals
    for rel in [*MUSE_TEXTS, *MUSE_QA, "verbmem/forget"]:
        loaded = json.loads((tmp_path / "muse" / f"{rel}.json").read_text(encoding="utf-8"))
        assert isinstance(loaded, list) and loaded == data.muse[rel]
    for rel in MUSE_TEXTS:
        assert all(isinstance(t, str) for t in data.muse[rel])
    for stem in ("forget", "prompts", "retain", "heldout"):
        loaded = json.loads((tmp_path / "copyright" / f"{stem}.json").read_text(encoding="utf-8"))
        assert loaded == data.copyright[stem]


def test_standard_preset_is_quick():
    start = time.perf_counter()
    data = generate_world(get_preset("standard"), 0)
    assert time.perf_counter() - start < 4  # < 2 s on an idle core; slack for a busy machine
    assert len(data.tofu["full"]) == 4000 and len(data.tofu["forget10"]) == 400


@pytest.mark.parametrize(
    "change", [{"qa_per_author": 7}, {"qa_per_author": len(KINDS) + 1}, {"n_authors": 1}]
)
def test_impossible_presets_are_user_errors(change):
    with pytest.raises(UserError):
        generate_world(dataclasses.replace(get_preset("tiny"), **change), 0)
