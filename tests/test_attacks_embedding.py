"""Embedding-space attack: the prompt cut, the frozen model, the tiny world's references."""

from __future__ import annotations

import pytest
import torch

from attack_world import world_context, world_model
from test_attacks_common import one_thread, same_weights, weights  # noqa: F401 - autouse
from unlearnkit.attacks.embedding import (
    EmbeddingParams,
    answer_nll,
    embedding_attack,
    greedy,
    soft_item,
)
from unlearnkit.attacks.runner import run_attack
from unlearnkit.benchmarks.tofu import forget_records
from unlearnkit.data.formatting import encode_qa, prompt_adds_own_special_tokens, question_prompt
from unlearnkit.errors import UserError
from unlearnkit.eval.engine import generate, score_sequences


def test_without_soft_embeddings_the_attack_is_the_plain_prompt(tiny_world):
    """Zero soft embeddings: the cut prompt scores and generates exactly as the plain one."""
    model, tok = world_model(tiny_world, "target")
    record = forget_records(str(tiny_world), "forget10")[1]
    item = soft_item(tok, 1, record, 256)
    none = torch.zeros(1, 0, model.config.hidden_size)
    with torch.no_grad():
        nll = answer_nll(model, [item], none).item()
    (plain,) = score_sequences(
        model, [encode_qa(tok, record["question"], record["answer"], 256)], tok.pad_token_id
    )
    assert nll == pytest.approx(plain.nll, abs=1e-5)
    prompt = question_prompt(tok, record["question"])
    (expected,) = generate(
        model, tok, [prompt], 32, add_special_tokens=not prompt_adds_own_special_tokens(tok)
    )
    assert greedy(model, tok, item, none[0], 32) == expected


def test_the_model_is_frozen_and_restored_bit_for_bit(tiny_world):
    model, tok = world_model(tiny_world, "retain")
    saved = weights(model)
    first = next(model.parameters())
    first.requires_grad_(False)  # a mixed set of flags comes back as it was
    try:
        embedding_attack(model, tok, world_context(tiny_world, 2), EmbeddingParams(steps=3))
        assert same_weights(model, saved)
        assert not first.requires_grad
        assert all(p.requires_grad for p in list(model.parameters())[1:])
        assert all(p.grad is None for p in model.parameters())  # gradients went to the soft only
        assert not model.training
    finally:
        first.requires_grad_(True)


def test_target_is_recovered_and_retain_far_less_for_the_same_budget(tiny_world):
    target, tok = world_model(tiny_world, "target")
    retain, _ = world_model(tiny_world, "retain")
    p = EmbeddingParams()
    t_item, t_uni = embedding_attack(target, tok, world_context(tiny_world), p)
    r_item, r_uni = embedding_attack(retain, tok, world_context(tiny_world), p)
    assert t_item.metrics["success_rate"] == 1.0 and t_item.metrics["forget_rouge"] > 0.9
    assert r_item.metrics["success_rate"] <= 0.25 and r_item.metrics["forget_rouge"] < 0.5
    assert t_item.metrics["forget_probability"] > 5 * r_item.metrics["forget_probability"]
    assert t_uni.setting == "universal" and t_uni.extra["items"] == 4
    assert len(t_uni.rows["held_out"]) == 4
    held_t, held_r = t_uni.extra["held_out"], r_uni.extra["held_out"]
    assert held_t["forget_probability"] > 5 * held_r["forget_probability"]
    assert t_uni.metrics["success_rate"] > r_uni.metrics["success_rate"]


def test_more_steps_raise_the_answer_probability(tiny_world):
    retain, tok = world_model(tiny_world, "retain")
    ctx = world_context(tiny_world, 2)
    (zero,) = embedding_attack(retain, tok, ctx, EmbeddingParams(steps=0, mode="item"))
    (some,) = embedding_attack(retain, tok, ctx, EmbeddingParams(steps=10, mode="item"))
    assert some.metrics["forget_probability"] > 2 * zero.metrics["forget_probability"]


def test_max_items_mode_and_the_runner(tiny_world):
    model, tok = world_model(tiny_world, "target")
    ctx = world_context(tiny_world, 3)
    (entry,) = run_attack("embedding", model, tok, ctx, {"mode": "item", "steps": 2, "k": 2})
    assert entry["setting"] == "item" and entry["value"] == 2 and entry["items"] == 3
    assert set(entry["metrics"]) == {"forget_rouge", "forget_probability", "success_rate"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"k": 0}, "k must be at least 1"),
        ({"steps": "x"}, "steps must be a whole number"),
        ({"lr": 0}, "lr must be greater than 0"),
        ({"mode": "both"}, "mode must name"),
        ({"nll_threshold": -1}, "nll_threshold must be greater"),
    ],
)
def test_bad_settings_are_user_errors(values, message):
    with pytest.raises(UserError, match=message):
        EmbeddingParams(**values)
