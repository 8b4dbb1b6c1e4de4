"""open-unlearning's chat path on a Llama-3.1-style tokenizer folder built here (date string,
system prompt): exact token ids of the prompt, the scored labels and the generation prompt."""

from __future__ import annotations

import pytest
from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from unlearnkit.eval.convention import (
    OPEN_UNLEARNING,
    TemplateArgs,
    encode_answer,
    generation_prompt,
)
from unlearnkit.logprobs import IGNORE_INDEX

SPECIAL = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
WORDS = [
    "system", "user", "assistant", "\n", " ", "Cutting", "Knowledge", "Date:", "December", "2023",
    "Today", "26", "Jul", "2024", "10", "Apr", "2025", "Who", "wrote", "it?", "Ann", "did.",
    "You", "are", "helpful.",
]  # fmt: skip
VOCAB = {t: i for i, t in enumerate(["<unk>", *SPECIAL, *WORDS])}
# A Llama-3.1-style template: BOS, a system header that always carries the knowledge cut-off and
# "Today Date: <date_string>" (its own default when none is passed), then header-framed turns.
LLAMA31 = (
    "{{- bos_token }}"
    "{%- if date_string is not defined %}{%- set date_string = '26 Jul 2024' %}{%- endif %}"
    "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}"
    "{%- set messages = messages[1:] %}{%- else %}{%- set system_message = '' %}{%- endif %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\n\n' }}"
    "{{- 'Cutting Knowledge Date: December 2023\n' }}"
    "{{- 'Today Date: ' + date_string + '\n\n' }}"
    "{{- system_message + '<|eot_id|>' }}"
    "{%- for m in messages %}"
    "{{- '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n' + m['content'] + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{%- endif %}"
)

# By hand from the template (ids: <|begin_of_text|> 1, <|start_header_id|> 2, <|end_header_id|> 3,
# <|eot_id|> 4, system 5, user 6, assistant 7, \n 8, ␠ 9, then the words in order from 10):
HEADER_SYSTEM = [1, 2, 5, 3, 8, 8]  # <bot> <sh> system <eh> \n \n
CUTOFF = [10, 9, 11, 9, 12, 9, 13, 9, 14, 8]  # Cutting ␠ Knowledge ␠ Date: ␠ December ␠ 2023 \n
TODAY = [15, 9, 12, 9]  # Today ␠ Date: ␠
DEFAULT_DATE = [16, 9, 17, 9, 18]  # 26 ␠ Jul ␠ 2024 (the template's own)
GIVEN_DATE = [19, 9, 20, 9, 21]  # 10 ␠ Apr ␠ 2025
SYSTEM_TEXT = [27, 9, 28, 9, 29]  # You ␠ are ␠ helpful.
USER = [2, 6, 3, 8, 8, 22, 9, 23, 9, 24, 4]  # <sh> user <eh> \n \n Who ␠ wrote ␠ it? <eot>
GENERATION = [2, 7, 3, 8, 8]  # <sh> assistant <eh> \n \n
ANSWER = [25, 9, 26, 4]  # Ann ␠ did. <eot>: the rendering ends with the EOS, none is added


def _system(date: list[int], text: list[int]) -> list[int]:
    return HEADER_SYSTEM + CUTOFF + TODAY + date + [8, 8] + text + [4]


@pytest.fixture(scope="module")
def llama_tok(tmp_path_factory):
    core = Tokenizer(models.WordLevel(VOCAB, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("[ \n]"), behavior="isolated")
    fast = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|eot_id|>",
        unk_token="<unk>",
        additional_special_tokens=["<|start_header_id|>", "<|end_header_id|>"],
    )
    fast.chat_template = LLAMA31
    folder = tmp_path_factory.mktemp("llama3")
    fast.save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


CASES = [
    (TemplateArgs(), _system(DEFAULT_DATE, [])),
    (TemplateArgs(date_string="10 Apr 2025"), _system(GIVEN_DATE, [])),
    (
        TemplateArgs(system_prompt="You are helpful.", date_string="10 Apr 2025"),
        _system(GIVEN_DATE, SYSTEM_TEXT),
    ),
]


@pytest.mark.parametrize(("template", "system"), CASES)
def test_scored_ids_and_labels_follow_the_date_and_system_prompt(llama_tok, template, system):
    enc = encode_answer(llama_tok, "Who wrote it?", "Ann did.", 256, OPEN_UNLEARNING, template)
    prompt = system + USER + GENERATION
    assert enc.input_ids == prompt + ANSWER
    assert enc.labels == [IGNORE_INDEX] * len(prompt) + ANSWER


@pytest.mark.parametrize(("template", "system"), CASES)
def test_generation_prompt_ids_follow_the_date_and_system_prompt(llama_tok, template, system):
    text, add_special = generation_prompt(llama_tok, "Who wrote it?", OPEN_UNLEARNING, template)
    ids = llama_tok(text, add_special_tokens=add_special)["input_ids"]
    assert ids == system + USER + GENERATION  # one BOS: the template's own
