"""Generation stops where the model's context ends: ``max_new_tokens`` is capped at the model's
``max_position_embeddings`` minus each prompt's length, and a prompt that fills the context keeps
its end."""

from __future__ import annotations

import logging

import pytest

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    tiny_model,
    tiny_tokenizer,
)
from unlearnkit.eval.engine import context_length, generate


@pytest.fixture
def recorded():
    """A tiny model with a 24-token context whose ``generate`` calls are recorded."""
    model = tiny_model().eval()
    model.config.max_position_embeddings = 24
    calls = []
    original = model.generate

    def record(**kwargs):
        out = original(**kwargs)
        calls.append((kwargs["input_ids"].shape[1], kwargs["max_new_tokens"], out.shape[1]))
        return out

    model.generate = record
    return model, calls


def _prompt(tok, n: int) -> str:
    """A prompt of exactly ``n`` tokens."""
    word = "Where"
    for k in range(1, 4 * n):
        text = " ".join([word] * k)
        if len(tok(text)["input_ids"]) == n:
            return text
    raise AssertionError(f"no prompt of {n} tokens")


def test_new_tokens_are_capped_by_the_context(recorded):
    model, calls = recorded
    tok = tiny_tokenizer()
    prompts = [_prompt(tok, 20), _prompt(tok, 4)]
    generate(model, tok, prompts, max_new_tokens=50, batch_size=8)
    for width, cap, total in calls:
        assert width + cap <= 24 and total <= 24
    assert sorted(cap for _, cap, _ in calls) == [4, 20]  # each prompt gets its own room


def test_prompt_that_fills_the_context_keeps_its_end(recorded, caplog):
    model, calls = recorded
    tok = tiny_tokenizer()
    caplog.set_level(logging.WARNING)
    (text,) = generate(model, tok, [_prompt(tok, 30)], max_new_tokens=5)
    assert calls == [(23, 1, 24)] and isinstance(text, str)
    assert any("fill the model's context of 24 tokens" in r.getMessage() for r in caplog.records)


def test_context_length_reads_the_usual_config_keys():
    from transformers import GPT2Config, GPT2LMHeadModel

    assert context_length(tiny_model()) == 256
    gpt2 = GPT2LMHeadModel(GPT2Config(n_positions=16, n_embd=8, n_layer=1, n_head=2))
    assert context_length(gpt2) == 16
