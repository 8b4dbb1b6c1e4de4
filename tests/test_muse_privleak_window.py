"""MUSE privleak texts are scored as MUSE's code scores them: up to 2,048 tokens, no EOS."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from unlearnkit.eval.muse import PRIVLEAK_TOKENS, privleak_tokens, privleak_window, text_mia_rows
from unlearnkit.eval.tofu import EvalSettings

LONG = " ".join(
    f"The council of Brindlemoor met {i} times and approved bridge {i}." for i in range(20)
)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    return model, tok


def test_window_is_bos_and_the_next_tokens_all_labelled_no_eos(tiny):
    _, tok = tiny
    ids = tok(LONG)["input_ids"]
    assert len(ids) > 60
    e = privleak_window(tok, LONG, 40)
    assert e.input_ids == ids[:41] and e.labels == e.input_ids
    assert tok.eos_token_id not in e.input_ids
    short = privleak_window(tok, "A short text.", 40)
    assert short.input_ids == tok("A short text.")["input_ids"]  # whole, and no EOS added


def test_window_is_muses_unless_the_model_has_fewer_positions():
    assert PRIVLEAK_TOKENS == 2048
    assert (
        privleak_tokens(SimpleNamespace(config=SimpleNamespace(max_position_embeddings=4096)))
        == 2048
    )
    assert (
        privleak_tokens(SimpleNamespace(config=SimpleNamespace(max_position_embeddings=512))) == 511
    )
    assert privleak_tokens(SimpleNamespace()) == 2048


@torch.no_grad()
def test_rows_score_the_window_not_max_length(tiny):
    """With ``window`` the scores read 40 tokens of the text although ``max_length`` is 16."""
    model, tok = tiny
    s = EvalSettings(progress=False, max_length=16)
    (row,) = text_mia_rows(model, tok, [LONG], s, "privleak", window=40)
    ids = torch.tensor([tok(LONG)["input_ids"][:41]])
    logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
    nll = -logp.gather(-1, ids[0, 1:, None]).mean()
    assert row["loss"] == pytest.approx(float(nll), rel=1e-5)
    (cut,) = text_mia_rows(model, tok, [LONG], s, "privleak")  # the old cut: 16 tokens with EOS
    assert cut["loss"] != pytest.approx(row["loss"], rel=1e-5)
