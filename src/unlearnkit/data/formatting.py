"""Turn QA pairs and texts into token ids with the prompt masked out of the labels.

One function decides how a question becomes a prompt (the tokenizer's chat template when it has
one, else ``Question: …\\nAnswer:``), so training, unlearning and evaluation always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.logprobs import IGNORE_INDEX

QA_PROMPT = "Question: {question}\nAnswer:"


@dataclass(frozen=True)
class Encoded:
    """One tokenised example: ``labels`` is ``input_ids`` with the prompt set to -100."""

    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def question_prompt(tokenizer, question: str, use_chat_template: bool | None = None) -> str:
    """The text the model sees before it answers ``question``."""
    if use_chat_template is None:
        use_chat_template = has_chat_template(tokenizer)
    if use_chat_template:
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
        )
    return QA_PROMPT.format(question=question)


def prompt_adds_own_special_tokens(tokenizer, use_chat_template: bool | None = None) -> bool:
    """True when the prompt text already holds BOS (a chat template that writes it itself)."""
    chat = has_chat_template(tokenizer) if use_chat_template is None else use_chat_template
    return chat and _template_adds_bos(tokenizer)


def answer_text(answer: str, use_chat_template: bool) -> str:
    """The answer as it follows the prompt (a leading space after ``Answer:``)."""
    return answer if use_chat_template else " " + answer


def _ids(tokenizer, text: str, add_special_tokens: bool) -> list[int]:
    return list(tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"])


def encode_pair(
    tokenizer,
    prompt: str,
    response: str,
    max_length: int,
    add_eos: bool = True,
    prompt_has_special_tokens: bool = False,
) -> Encoded:
    """Tokenise prompt and response separately so the boundary (and the mask) is exact.

    The prompt is truncated from the left and the response from the right when the pair is longer
    than ``max_length``; at least one response token is always kept.
    """
    prompt_ids = _ids(tokenizer, prompt, add_special_tokens=not prompt_has_special_tokens)
    response_ids = _ids(tokenizer, response, add_special_tokens=False)
    if add_eos and tokenizer.eos_token_id is not None:
        response_ids.append(tokenizer.eos_token_id)
    response_ids = response_ids[: max(1, max_length - 1)]
    room = max(1, max_length - len(response_ids))
    prompt_ids = prompt_ids[-room:]
    return Encoded(
        input_ids=prompt_ids + response_ids,
        labels=[IGNORE_INDEX] * len(prompt_ids) + response_ids,
    )


def encode_qa(
    tokenizer,
    question: str,
    answer: str,
    max_length: int = 256,
    use_chat_template: bool | None = None,
    add_eos: bool = True,
) -> Encoded:
    """A question/answer pair, prompt masked, EOS appended to the answer (unless ``add_eos`` is off)."""
    chat = has_chat_template(tokenizer) if use_chat_template is None else use_chat_template
    prompt = question_prompt(tokenizer, question, chat)
    return encode_pair(
        tokenizer,
        prompt,
        answer_text(answer, chat),
        max_length,
        add_eos=add_eos,
        prompt_has_special_tokens=prompt_adds_own_special_tokens(tokenizer, chat),
    )


def encode_completion(tokenizer, prompt: str, continuation: str, max_length: int = 512) -> Encoded:
    """A raw-text prefix and its continuation (MUSE verbmem, copyright prompts): no template, no EOS."""
    return encode_pair(tokenizer, prompt, continuation, max_length, add_eos=False)


def encode_text(tokenizer, text: str, max_length: int = 512) -> list[Encoded]:
    """A document for language modelling, every token labelled, cut into ``max_length`` chunks."""
    ids = _ids(tokenizer, text, add_special_tokens=True)
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return [
        Encoded(ids[i : i + max_length], ids[i : i + max_length])
        for i in range(0, len(ids), max_length)
    ]


def _template_adds_bos(tokenizer) -> bool:
    bos = getattr(tokenizer, "bos_token", None)
    template = getattr(tokenizer, "chat_template", None) or ""
    return bool(bos) and ("bos_token" in template or bos in template)
