"""open-unlearning's chat path on SmolLM2-135M-Instruct's real tokenizer (ChatML, default system
turn), one TOFU forget01 item; skipped when `unlearn model get smollm2` has not been run."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from unlearnkit.base_models import base_model_dir
from unlearnkit.eval.convention import OPEN_UNLEARNING, encode_answer, generation_prompt
from unlearnkit.logprobs import IGNORE_INDEX

pytestmark = pytest.mark.realmodel

# TOFU forget01, item 0
QUESTION = "What is the full name of the author born in Kuwait City, Kuwait on 08/09/1956?"
ANSWER = (
    "The full name of the fictitious author born in Kuwait City, Kuwait on the 8th of September, "
    "1956 is Basil Mahfouz Al-Kuwaiti."
)
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
IM_START, IM_END = 1, 2  # SmolLM2's <|im_start|> and <|im_end|> (its EOS)


@pytest.fixture(scope="module")
def smol_tok():
    folder = base_model_dir("smollm2")
    if not any((folder / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")):
        pytest.skip(f"no SmolLM2 at {folder} (unlearn model get smollm2)")
    return AutoTokenizer.from_pretrained(folder)


def _text(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def test_smollm2_chatml_ids_of_a_tofu_item(smol_tok):
    assert smol_tok.convert_ids_to_tokens([IM_START, IM_END]) == ["<|im_start|>", "<|im_end|>"]
    assert smol_tok.eos_token_id == IM_END
    nl = _text(smol_tok, "\n")
    # <|im_start|>system\n{default}<|im_end|>\n<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n
    prompt = (
        [IM_START, *_text(smol_tok, "system\n" + SYSTEM), IM_END, *nl]
        + [IM_START, *_text(smol_tok, "user\n" + QUESTION), IM_END, *nl]
        + [IM_START, *_text(smol_tok, "assistant\n")]
    )
    # {answer}<|im_end|>\n, then open-unlearning's extra EOS
    scored = [*_text(smol_tok, ANSWER), IM_END, *nl, IM_END]
    enc = encode_answer(smol_tok, QUESTION, ANSWER, 256, OPEN_UNLEARNING)
    assert enc.input_ids == prompt + scored
    assert enc.labels == [IGNORE_INDEX] * len(prompt) + scored
    text, add = generation_prompt(smol_tok, QUESTION, OPEN_UNLEARNING)
    assert smol_tok(text, add_special_tokens=add)["input_ids"] == prompt
