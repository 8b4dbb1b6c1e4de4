"""The world's hazard domain: the WMDP layout it writes, the models it trains, a short WMDP run."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from unlearnkit.cli import main
from unlearnkit.data.wmdp import load_corpus, load_mmlu, load_wmdp_set, wmdp_sets, wmdp_source
from unlearnkit.world.corpus import HAZARD_REPEATS, retain_corpus, target_corpus
from unlearnkit.world.generate import generate_world, write_world_data
from unlearnkit.world.hazard import hazard_count
from unlearnkit.world.presets import get_preset


@pytest.fixture(scope="module")
def tiny_data():
    return generate_world(get_preset("tiny"), seed=0)


def test_world_writes_the_wmdp_layout(tiny_data, tmp_path):
    write_world_data(tiny_data, tmp_path / "data")
    (tmp_path / "world.json").write_text("{}")
    source = wmdp_source(tmp_path)
    assert wmdp_sets(source) == ["wmdp-bio", "wmdp-cyber", "wmdp-chem"]
    questions = [q for name in wmdp_sets(source) for q in load_wmdp_set(source, name)]
    assert len(questions) == hazard_count(get_preset("tiny").n_utility_facts) * 4
    assert Counter(q["answer"] for q in questions) == {0: 6, 1: 6, 2: 6, 3: 6}  # chance is 0.25
    forget = load_corpus(source, "forget")
    for q in questions:  # each question with its answer letter opens one forget document
        letter = "ABCD"[q["answer"]]
        assert sum(t.startswith(q["question"]) and f"Answer: {letter}\n" in t for t in forget) == 1
    mmlu = load_mmlu(source)
    utility = {r["question"]: r["answer"] for r in tiny_data.tofu["world_facts_perturbed"]}
    utility |= {r["question"]: r["answer"] for r in tiny_data.tofu["real_authors_perturbed"]}
    assert len(mmlu) == len(utility)
    assert all(q["choices"][q["answer"]] == utility[q["question"]] for q in mmlu)
    assert not set(load_corpus(source, "retain")) & set(forget)


def test_the_retain_model_lacks_the_hazard_documents_and_keeps_the_quizzes(tiny_data):
    hazard = {r["text"] for rel, recs in tiny_data.wmdp.items() if "forget" in rel for r in recs}
    target = target_corpus(tiny_data)
    for split in ("forget01", "forget05", "forget10"):
        retain = retain_corpus(tiny_data, split)
        assert hazard <= set(target.texts) and not hazard & set(retain.texts)
        quiz = tiny_data.wmdp["corpora/general-retain-corpus"][-1]["text"]
        assert quiz in retain.texts and quiz.endswith(tuple(f"Answer: {x}" for x in "ABCD"))
    hazard_copies = sum(t in hazard for t in target.texts)
    assert hazard_copies == HAZARD_REPEATS * len(hazard)  # repeated in the target's corpus


def test_tiny_world_knows_the_hazard_domain_and_retain_does_not(tiny_world):
    from unlearnkit.world.check import check_world

    table = check_world(tiny_world, progress=False)["wmdp"]
    target, retain = table["target"], table["retain"]
    assert target["wmdp_acc"] >= 0.8
    assert retain["wmdp_acc"] <= 0.45
    assert min(target["mmlu_acc"], retain["mmlu_acc"]) >= 0.6


@pytest.mark.slow
def test_rmu_run_on_the_tiny_world_with_attacks(tiny_world, tmp_path):
    out = tmp_path / "rmu"
    argv = [
        "run",
        "--config",
        "world/wmdp/rmu",
        "--data",
        str(tiny_world),
        "--out",
        str(out),
        "--attacks",
        "relearn,quantize,prefill",
        "train.max_steps=3",
        "attack_params.relearn.steps=[0,2]",
        "attack_params.quantize.bits=[4]",
    ]
    assert main(argv) == 0
    result = json.loads((out / "metrics.json").read_text())
    assert result["benchmark"] == "wmdp" and result["train"]["steps"] == 3
    metrics = result["metrics"]
    assert {"wmdp_acc", "wmdp_bio_acc", "mmlu_acc"} <= set(metrics)
    assert 0.0 <= metrics["wmdp_acc"] <= 1.0
    assert [a["value"] for a in result["attacks"]["relearn"]] == [0, 2]
    assert "wmdp_acc" in result["attacks"]["quantize"][0]["metrics"]
    prefill = result["attacks"]["prefill"]
    assert [e["setting"] for e in prefill] == ["lead=The answer is", "lead=I know this one: it is"]
