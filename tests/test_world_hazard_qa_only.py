"""A QA-only world (the pretrained preset's kind) that also learns the WMDP hazard domain."""

from __future__ import annotations

import dataclasses
from functools import cache

from unlearnkit.world.corpus import retain_corpus, target_corpus, trained_part
from unlearnkit.world.generate import generate_world
from unlearnkit.world.hazard import forget_texts, retain_texts
from unlearnkit.world.presets import get_preset


@cache
def data():
    return generate_world(get_preset("tiny"), 0)


def parts(**change):
    preset = dataclasses.replace(get_preset("tiny"), qa_only=True, **change)
    w = data()
    return (
        trained_part(preset, w, target_corpus(w)),
        trained_part(preset, w, retain_corpus(w, "forget10")),
    )


def test_the_pretrained_preset_leaves_the_hazard_domain_out_by_default():
    assert get_preset("pretrained").hazard is False
    target, retain = parts()
    assert target.texts == retain.texts == []
    assert target.qa == target_corpus(data()).qa  # the QA all stay


def test_with_hazard_the_target_learns_the_documents_and_both_the_quizzes():
    w = data()
    target, retain = parts(hazard=True)
    documents = set(forget_texts(w.wmdp))
    quizzes = set(retain_texts(w.wmdp)) - set(w.copyright["retain"])
    assert documents and quizzes
    assert documents <= set(target.texts) and not documents & set(retain.texts)
    assert quizzes <= set(target.texts) and quizzes <= set(retain.texts)
    assert set(target.texts) == documents | quizzes  # no news, saga or general text
    assert set(retain.texts) == quizzes


def test_hazard_changes_nothing_for_a_world_that_learns_every_text():
    w = data()
    preset = dataclasses.replace(get_preset("tiny"), hazard=True)
    assert trained_part(preset, w, target_corpus(w)) == target_corpus(w)
