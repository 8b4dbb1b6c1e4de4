"""Prompt formatting and label masking, with and without a chat template."""

from __future__ import annotations

import pytest

from unlearnkit.data.collate import pad_batch
from unlearnkit.data.formatting import encode_completion, encode_qa, encode_text, question_prompt
from unlearnkit.logprobs import IGNORE_INDEX
from unlearnkit.world.tokenizer import train_tokenizer

TEXTS = [
    "The author was born in Kelmport on 14 March 1962.",
    "Question: Where? Answer: there.",
] * 20


@pytest.fixture(scope="module")
def chat_tok():
    return train_tokenizer(TEXTS, 300)


@pytest.fixture(scope="module")
def plain_tok():
    tok = train_tokenizer(TEXTS, 300)
    tok.chat_template = None
    return tok


def test_chat_prompt_masked_and_eos_appended(chat_tok):
    e = encode_qa(chat_tok, "Where was she born?", "In Kelmport.")
    n_prompt = sum(1 for label in e.labels if label == IGNORE_INDEX)
    prompt_ids = chat_tok(
        question_prompt(chat_tok, "Where was she born?"), add_special_tokens=False
    )["input_ids"]
    assert e.input_ids[:n_prompt] == prompt_ids
    assert e.labels[n_prompt:] == e.input_ids[n_prompt:]
    assert e.input_ids[-1] == chat_tok.eos_token_id
    assert chat_tok.decode(e.labels[n_prompt:-1]) == "In Kelmport."
    assert e.input_ids.count(chat_tok.bos_token_id) == 1


def test_plain_prompt_format(plain_tok):
    assert question_prompt(plain_tok, "Where?") == "Question: Where?\nAnswer:"
    e = encode_qa(plain_tok, "Where?", "there.")
    answer = [t for t in e.labels if t != IGNORE_INDEX]
    assert plain_tok.decode(answer[:-1]) == " there."
    assert answer[-1] == plain_tok.eos_token_id


def test_truncation_keeps_answer_and_length(chat_tok):
    e = encode_qa(chat_tok, "Where was she born? " * 20, "In Kelmport.", max_length=16)
    assert len(e) == 16
    assert e.input_ids[-1] == chat_tok.eos_token_id


def test_completion_has_no_eos_and_text_is_fully_labelled(chat_tok):
    e = encode_completion(chat_tok, "The author was", " born in Kelmport")
    assert e.input_ids[-1] != chat_tok.eos_token_id
    chunks = encode_text(chat_tok, TEXTS[0], max_length=8)
    assert all(c.labels == c.input_ids for c in chunks)
    assert sum(len(c) for c in chunks) == len(chat_tok(TEXTS[0])["input_ids"]) + 1


def test_pad_batch_right_and_left(chat_tok):
    a, b = (
        encode_qa(chat_tok, "Q?", "A."),
        encode_qa(chat_tok, "A longer question?", "A longer answer."),
    )
    right = pad_batch([a, b], pad_id=0)
    left = pad_batch([a, b], pad_id=0, side="left")
    width = max(len(a), len(b))
    assert right["input_ids"].shape == (2, width)
    assert right["attention_mask"][0].tolist() == [1] * len(a) + [0] * (width - len(a))
    assert left["attention_mask"][0].tolist() == [0] * (width - len(a)) + [1] * len(a)
    assert left["labels"][0, : width - len(a)].tolist() == [IGNORE_INDEX] * (width - len(a))
