"""open-unlearning's rendering on a ChatML tokenizer folder built here: exact token ids, by hand."""

from __future__ import annotations

import pytest
from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from unlearnkit.data.formatting import prompt_adds_own_special_tokens, question_prompt
from unlearnkit.eval.convention import (
    OPEN_UNLEARNING,
    OPEN_UNLEARNING_MAX_NEW_TOKENS,
    UNLEARNKIT,
    TemplateArgs,
    encode_answer,
    generation_prompt,
    max_new_tokens_for,
)
from unlearnkit.eval.tofu import EvalSettings
from unlearnkit.logprobs import IGNORE_INDEX

VOCAB = {
    "<unk>": 0, "<|im_start|>": 1, "<|im_end|>": 2, "system": 3, "user": 4, "assistant": 5,
    "\n": 6, "Be": 7, "brief.": 8, "Who": 9, "wrote": 10, "it?": 11, "Ann": 12, "did.": 13, " ": 14,
    "Question:": 15, "Answer:": 16,
}  # fmt: skip
# ChatML with a default system turn when the chat opens without one (as SmolLM2's template)
CHATML = (
    "{% for m in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nBe brief.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# by hand from the template: <|im_start|> system \n Be ␠ brief. <|im_end|> \n
SYSTEM = [1, 3, 6, 7, 14, 8, 2, 6]
# <|im_start|> user \n Who ␠ wrote ␠ it? <|im_end|> \n <|im_start|> assistant \n
USER_AND_GENERATION_PROMPT = [1, 4, 6, 9, 14, 10, 14, 11, 2, 6, 1, 5, 6]
# Ann ␠ did. <|im_end|> \n, then open-unlearning's extra EOS (the rendering ends with \n)
ANSWER_TURN = [12, 14, 13, 2, 6, 2]


def _folder_tokenizer(folder, chat_template: str | None):
    core = Tokenizer(models.WordLevel(VOCAB, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("[ \n]"), behavior="isolated")
    fast = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<unk>",
        additional_special_tokens=["<|im_start|>"],
    )
    if chat_template:
        fast.chat_template = chat_template
    fast.save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def chatml_tok(tmp_path_factory):
    return _folder_tokenizer(tmp_path_factory.mktemp("chatml"), CHATML)


@pytest.fixture(scope="module")
def base_tok(tmp_path_factory):
    return _folder_tokenizer(tmp_path_factory.mktemp("base"), None)


def test_base_tags_tokenise_the_whole_text_and_mask_the_tagged_question(base_tok):
    enc = encode_answer(base_tok, "Who wrote it?", "Ann did.", 256, OPEN_UNLEARNING)
    # Question: ␠ Who ␠ wrote ␠ it? \n Answer: ␠ | Ann ␠ did. <eos appended>
    prompt = [15, 14, 9, 14, 10, 14, 11, 6, 16, 14]
    assert enc.input_ids == prompt + [12, 14, 13, 2]
    assert enc.labels == [IGNORE_INDEX] * len(prompt) + [12, 14, 13, 2]


def test_chatml_scored_ids_hold_the_default_system_turn_and_the_extra_eos(chatml_tok):
    enc = encode_answer(chatml_tok, "Who wrote it?", "Ann did.", 256, OPEN_UNLEARNING)
    prompt = SYSTEM + USER_AND_GENERATION_PROMPT
    assert enc.input_ids == prompt + ANSWER_TURN
    assert enc.labels == [IGNORE_INDEX] * len(prompt) + ANSWER_TURN


def test_chatml_generation_prompt_ids(chatml_tok):
    text = question_prompt(chatml_tok, "Who wrote it?")
    add = not prompt_adds_own_special_tokens(chatml_tok)
    assert (
        chatml_tok(text, add_special_tokens=add)["input_ids"] == SYSTEM + USER_AND_GENERATION_PROMPT
    )


def test_default_convention_scores_answer_and_one_eos_only(chatml_tok):
    enc = encode_answer(chatml_tok, "Who wrote it?", "Ann did.", 256, UNLEARNKIT)
    assert enc.labels[-4:] == [12, 14, 13, 2]
    assert [t for t in enc.labels if t != IGNORE_INDEX] == [12, 14, 13, 2]


def test_generation_budget_is_open_unlearnings_64_under_its_convention_only():
    assert OPEN_UNLEARNING_MAX_NEW_TOKENS == 64
    assert max_new_tokens_for(OPEN_UNLEARNING, 200) == 64
    assert max_new_tokens_for(UNLEARNKIT, 200) == 200


def test_a_system_prompt_replaces_the_templates_default_system_turn(chatml_tok):
    template = TemplateArgs(system_prompt="Be brief.")
    enc = encode_answer(chatml_tok, "Who wrote it?", "Ann did.", 256, OPEN_UNLEARNING, template)
    # the given system turn, not the default one written again: <|im_start|> system \n Be ␠ brief.
    assert enc.input_ids == SYSTEM + USER_AND_GENERATION_PROMPT + ANSWER_TURN
    other = TemplateArgs(system_prompt="Who")
    enc = encode_answer(chatml_tok, "Who wrote it?", "Ann did.", 256, OPEN_UNLEARNING, other)
    prompt = [
        1,
        3,
        6,
        9,
        2,
        6,
    ] + USER_AND_GENERATION_PROMPT  # <|im_start|> system \n Who <|im_end|> \n
    assert enc.input_ids == prompt + ANSWER_TURN
    assert enc.labels == [IGNORE_INDEX] * len(prompt) + ANSWER_TURN
    text, add = generation_prompt(chatml_tok, "Who wrote it?", OPEN_UNLEARNING, other)
    assert chatml_tok(text, add_special_tokens=add)["input_ids"] == prompt


def test_base_tags_generation_prompt_ends_with_the_tagged_answer_start(base_tok):
    text, add = generation_prompt(base_tok, "Who wrote it?", OPEN_UNLEARNING)
    assert text == "Question: Who wrote it?\nAnswer: "
    # Question: ␠ Who ␠ wrote ␠ it? \n Answer: ␠ (the tokens masked in the scored rendering)
    assert base_tok(text, add_special_tokens=add)["input_ids"] == [
        15,
        14,
        9,
        14,
        10,
        14,
        11,
        6,
        16,
        14,
    ]


def test_max_items_takes_the_first_n_under_open_unlearning_and_spreads_them_otherwise():
    records = list(range(40))
    first = EvalSettings(max_items=5, convention=OPEN_UNLEARNING)
    assert first.subset(records) == ([0, 1, 2, 3, 4], [0, 1, 2, 3, 4])
    spread = EvalSettings(max_items=5, convention=UNLEARNKIT)
    assert spread.subset(records)[1] == [0, 8, 16, 24, 32]
    assert EvalSettings(max_items=50, convention=OPEN_UNLEARNING).subset(records)[1] == records


def test_template_settings_are_eval_settings_and_old_keys_read_them_as_unset():
    s = EvalSettings(convention=OPEN_UNLEARNING, date_string="10 Apr 2025")
    assert s.template == TemplateArgs(None, "10 Apr 2025")
    assert s.key()["date_string"] == "10 Apr 2025"
    old = EvalSettings(convention=OPEN_UNLEARNING).key()
    del old["system_prompt"], old["date_string"]
    assert EvalSettings(convention=OPEN_UNLEARNING).differs_from(old) is None
    assert s.differs_from(old) == "date_string"
