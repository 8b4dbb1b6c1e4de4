"""Prefill, paraphrase and in-context attacks on the toy TOFU set (k = 0 / 0 shots: the plain eval)."""

from __future__ import annotations

import copy

import pytest

from test_attacks_common import (  # noqa: F401 - one_thread is an autouse fixture
    FORGET,
    RETAIN,
    context,
    one_thread,
    tiny_tokenizer,
    trained_model,
    write_tofu_eval,
)
from unlearnkit.attacks.forget import evaluate_forget
from unlearnkit.attacks.incontext import InContextParams, incontext_attack, incontext_prompt
from unlearnkit.attacks.paraphrase import ParaphraseParams, paraphrase_attack
from unlearnkit.attacks.prefill import PrefillParams, prefill_attack, split_answer
from unlearnkit.data.formatting import answer_text, question_prompt


@pytest.fixture(scope="module")
def tofu_dir(tmp_path_factory):
    return write_tofu_eval(tmp_path_factory.mktemp("tofu"))


def plain_tokenizer():
    """The tiny tokenizer without its chat template ("Question: …\\nAnswer:" prompts)."""
    tok = copy.deepcopy(tiny_tokenizer())
    tok.chat_template = None
    return tok


@pytest.mark.parametrize("chat", [True, False])
def test_split_answer_cuts_at_the_kth_token(chat):
    tok = tiny_tokenizer() if chat else plain_tokenizer()
    answer = FORGET[0][1]
    full = answer_text(answer, chat)
    n = len(tok(full, add_special_tokens=False)["input_ids"])
    assert split_answer(tok, answer, 0) == ("", answer)
    for k in (1, 3, n - 1):
        prefix, rest = split_answer(tok, answer, k)
        assert prefix + rest == full and prefix and rest
        assert len(tok(prefix, add_special_tokens=False)["input_ids"]) == k
    assert split_answer(tok, answer, n) is None


def test_prefill_with_no_prefix_is_the_plain_forget_rouge(tofu_dir):
    model, tok = trained_model(), tiny_tokenizer()
    plain, _ = evaluate_forget(model, tok, context(tofu_dir))
    zero, one, three = prefill_attack(model, tok, context(tofu_dir), PrefillParams(k=[0, 1, 3]))
    assert zero.metrics["forget_rouge"] == plain["forget_rouge"]
    assert zero.metrics["forget_probability"] == pytest.approx(
        plain["forget_probability"], abs=1e-6
    )
    assert [e.setting for e in (zero, one, three)] == ["k=0", "k=1", "k=3"]
    row = three.rows["forget"][0]
    assert row["prompt"].startswith(question_prompt(tok, FORGET[0][0]))
    assert FORGET[0][1].endswith(row["reference"]) and three.extra["items"] == len(FORGET)
    for e in (one, three):
        assert 0 <= e.metrics["forget_rouge"] <= 1 and 0 < e.metrics["forget_probability"] <= 1


def test_paraphrase_asks_the_paraphrased_questions(tofu_dir):
    model, tok = trained_model(), tiny_tokenizer()
    (entry,) = paraphrase_attack(model, tok, context(tofu_dir), ParaphraseParams())
    assert entry.setting == "paraphrased" and entry.value == 1
    assert set(entry.metrics) == {"forget_rouge", "forget_probability", "forget_truth_ratio"}
    assert entry.rows["forget"][0]["question"].startswith("Tell me:")


def test_incontext_prepends_retain_pairs(tofu_dir):
    model, tok = trained_model(), tiny_tokenizer()
    plain, _ = evaluate_forget(model, tok, context(tofu_dir))
    zero, two = incontext_attack(model, tok, context(tofu_dir), InContextParams(shots=[0, 2]))
    assert zero.metrics["forget_rouge"] == plain["forget_rouge"]
    assert two.setting == "shots=2" and two.value == 2
    prompt = two.rows["forget"][0]["prompt"]
    assert sum(q in prompt for q, _ in RETAIN) == 2 and FORGET[0][0] in prompt
    again = incontext_attack(model, tok, context(tofu_dir), InContextParams(shots=[2]))[0]
    assert again.rows["forget"][0]["prompt"] == prompt  # seeded


def test_incontext_prompt_without_chat_template():
    tok = plain_tokenizer()
    shots = [{"question": "Q1?", "answer": "A1."}]
    assert (
        incontext_prompt(tok, shots, "Q2?")
        == "Question: Q1?\nAnswer: A1.\n\nQuestion: Q2?\nAnswer:"
    )
    assert incontext_prompt(tok, [], "Q2?") == question_prompt(tok, "Q2?")
