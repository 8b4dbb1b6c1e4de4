"""Embedding-space attack: the prompt cut, the frozen model, the tiny world's references."""

from __future__ import annotations

import copy

import pytest
import torch

from attack_world import WORLD_SETTINGS, world_context, world_model
from test_attacks_common import one_thread, same_weights, weights  # noqa: F401 - autouse
from unlearnkit.attacks.embedding import EmbeddingParams, embedding_attack
from unlearnkit.attacks.runner import run_attack
from unlearnkit.attacks.soft_prompt import answer_nll, greedy, soft_item
from unlearnkit.benchmarks.tofu import forget_records
from unlearnkit.data.formatting import encode_qa, prompt_adds_own_special_tokens, question_prompt
from unlearnkit.errors import UserError
from unlearnkit.eval.engine import generate, score_sequences


def test_without_soft_embeddings_the_attack_is_the_plain_prompt(tiny_world):
    """Zero soft embeddings: the cut prompts score and generate exactly as the plain ones (padded
    batches of prompts of several lengths, three at a time)."""
    model, tok = world_model(tiny_world, "target")
    records = forget_records(str(tiny_world), "forget10")
    items = [soft_item(tok, i, r, 256) for i, r in enumerate(records)]
    none = torch.zeros(1, 0, model.config.hidden_size)
    with torch.no_grad():
        nlls = answer_nll(model, items, none).tolist()
    encoded = [encode_qa(tok, r["question"], r["answer"], 256) for r in records]
    plain = score_sequences(model, encoded, tok.pad_token_id)
    assert nlls == pytest.approx([p.nll for p in plain], abs=1e-5)
    prompts = [question_prompt(tok, r["question"]) for r in records]
    assert len({len(tok(p)["input_ids"]) for p in prompts}) > 1  # padding is exercised
    specials = not prompt_adds_own_special_tokens(tok)
    expected = generate(model, tok, prompts, 32, add_special_tokens=specials)
    s = type(WORLD_SETTINGS)(**{**WORLD_SETTINGS.__dict__, "gen_batch_size": 3})
    assert greedy(model, tok, items, none, s) == expected


@pytest.mark.parametrize("chat", [True, False])
def test_the_cut_keeps_the_prompts_tokens(tiny_world, chat):
    """Prompt start + rest of the prompt are the tokens of the whole prompt, with and without a
    chat template ("Question:" | " …\nAnswer:" for the plain prompt)."""
    _, tok = world_model(tiny_world, "target")
    if not chat:
        tok = copy.deepcopy(tok)
        tok.chat_template = None
    for i, r in enumerate(forget_records(str(tiny_world), "forget10")):
        item = soft_item(tok, i, r, 256)
        whole = encode_qa(tok, r["question"], r["answer"], 256)
        assert item.before + item.encoded.input_ids == whole.input_ids
        assert item.before and r["question"] not in tok.decode(item.before)


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
