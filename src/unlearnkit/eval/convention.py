"""``eval.convention``: unlearnkit's scoring conventions, or open-unlearning's, to set numbers
beside a published open-unlearning table.

Two things differ (docs/metrics.md, "Conventions", gives their sizes):

- **Answer rendering.** unlearnkit scores ``answer<eos>`` after the prompt. open-unlearning
  renders the whole chat (question and answer) with the template, masks the tokens of the prompt
  the template writes for the question alone, and appends one more EOS unless the rendering
  already ends with it: for a template that closes the assistant turn with ``<eos>\\n`` it scores
  ``answer<eos>\\n<eos>``. Without a chat template it tokenises ``Question: q\\nAnswer: a`` as one
  text (its default tags for base models) and masks the tokens of ``Question: q\\nAnswer: ``.
- **No EOS** (``no-eos``, not a tool's convention but an ending one): unlearnkit's rendering
  without the EOS after the answer. An instruct model that was never trained to stop right after
  a short answer puts −10 to −28 nats on that EOS, which skews TOFU's length-normalised option
  probabilities between short and long options (docs/pretrained.md gives the size).
- **Generation length.** open-unlearning's TOFU ROUGE generates at most 64 new tokens (its
  generation default); unlearnkit ``eval.max_new_tokens`` (200). Longer generations raise ROUGE-L
  recall.
- **Per-model template settings.** open-unlearning's model configs set a system prompt (opening
  the chat as a system turn; none: the template's own default) and, for Llama-3.x, a
  ``date_string`` passed to the template (its "Today Date" line): ``eval.system_prompt`` and
  ``eval.date_string``, used by the chat path's scored rendering and generation prompt alike.
- **Item selection.** open-unlearning's subsets are the first N items of each set (a sliced
  split), where unlearnkit's ``eval.max_items`` spreads them evenly; under the convention,
  ``eval.max_items`` takes the first N.
- **The last scored token.** open-unlearning's exact memorisation, extraction strength, Min-K%
  and Min-K%++ read the token-wise scores without the last scored token (meant as the EOS); the
  loss, probability, truth ratio and zlib scores count every token in both conventions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from unlearnkit.data.formatting import (
    Encoded,
    encode_qa,
    has_chat_template,
    prompt_adds_own_special_tokens,
    question_prompt,
)
from unlearnkit.errors import UserError
from unlearnkit.logprobs import IGNORE_INDEX

UNLEARNKIT = "unlearnkit"
OPEN_UNLEARNING = "open-unlearning"
NO_EOS = "no-eos"
CONVENTIONS = (UNLEARNKIT, OPEN_UNLEARNING, NO_EOS)
Convention = Literal["unlearnkit", "open-unlearning", "no-eos"]

# open-unlearning's generation default (configs/generation/default.yaml): greedy, 64 new tokens
OPEN_UNLEARNING_MAX_NEW_TOKENS = 64

# open-unlearning's template tags for a model without a chat template (its base-model configs)
USER_START, USER_END, ASSISTANT_START = "Question: ", "\n", "Answer: "

T = TypeVar("T")


def check_convention(name: str, where: str = "eval.convention") -> str:
    """``name`` if it is a known convention, else a one-line error naming ``where`` it was set."""
    if name not in CONVENTIONS:
        raise UserError(f"{where} must be one of {', '.join(CONVENTIONS)}, got {name!r}")
    return name


@dataclass(frozen=True)
class TemplateArgs:
    """open-unlearning's per-model chat settings (its ``template_args``), None: not given."""

    system_prompt: str | None = None  # a system turn first (None: the template's own default)
    date_string: str | None = None  # passed to the template (Llama-3.x: "Today Date: ...")

    def messages(self, question: str) -> list[dict]:
        """The chat up to the question: the system turn, if one is set, then the user turn."""
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return [*system, {"role": "user", "content": question}]

    def kwargs(self) -> dict:
        """The extra ``apply_chat_template`` arguments (the date string, when one is set)."""
        return {} if self.date_string is None else {"date_string": self.date_string}


NO_TEMPLATE_ARGS = TemplateArgs()


def encode_answer(
    tokenizer,
    question: str,
    answer: str,
    max_length: int,
    convention: str = UNLEARNKIT,
    template: TemplateArgs = NO_TEMPLATE_ARGS,
) -> Encoded:
    """A question/answer pair as the convention scores it (prompt masked in the labels)."""
    if check_convention(convention) in (UNLEARNKIT, NO_EOS):
        return encode_qa(tokenizer, question, answer, max_length, add_eos=convention == UNLEARNKIT)
    if has_chat_template(tokenizer):
        return _open_unlearning_chat(tokenizer, question, answer, template)
    return _open_unlearning_tags(tokenizer, question, answer, max_length)


def generation_prompt(
    tokenizer,
    question: str,
    convention: str = UNLEARNKIT,
    template: TemplateArgs = NO_TEMPLATE_ARGS,
) -> tuple[str, bool]:
    """The text generation starts from, and whether to tokenise it with special tokens."""
    if convention != OPEN_UNLEARNING:
        return question_prompt(tokenizer, question), not prompt_adds_own_special_tokens(tokenizer)
    if not has_chat_template(tokenizer):
        return USER_START + question + USER_END + ASSISTANT_START, True
    text = tokenizer.apply_chat_template(
        template.messages(question), tokenize=False, add_generation_prompt=True, **template.kwargs()
    )
    return text, False


def pick_first(convention: str) -> bool:
    """Whether ``eval.max_items`` takes the first N items (open-unlearning's sliced split)."""
    return convention == OPEN_UNLEARNING


def max_new_tokens_for(convention: str, max_new_tokens: int) -> int:
    """The generation budget of TOFU's ROUGE: open-unlearning's 64 under its convention."""
    return OPEN_UNLEARNING_MAX_NEW_TOKENS if convention == OPEN_UNLEARNING else max_new_tokens


def counts_last_token(convention: str) -> bool:
    """Whether exact memorisation, extraction strength and Min-K%(++) read the last scored token."""
    return convention != OPEN_UNLEARNING


def counted(values: Sequence[T], convention: str) -> Sequence[T]:
    """The token-wise values those scores read: all, or all but the last (one is always kept)."""
    return values if counts_last_token(convention) or len(values) < 2 else values[:-1]


def _open_unlearning_chat(tokenizer, question: str, answer: str, template: TemplateArgs) -> Encoded:
    # open-unlearning's chat path applies no length limit; neither does this.
    chat, extra = template.messages(question), template.kwargs()
    reply = [{"role": "assistant", "content": answer}]
    full = _ids(tokenizer.apply_chat_template(chat + reply, **extra))
    prompt = _ids(tokenizer.apply_chat_template(chat, add_generation_prompt=True, **extra))
    return _masked(tokenizer, full, len(prompt))


def _open_unlearning_tags(tokenizer, question: str, answer: str, max_length: int) -> Encoded:
    prompt_text = USER_START + question + USER_END + ASSISTANT_START
    full = _ids(tokenizer(prompt_text + answer, max_length=max_length, truncation=True))
    prompt = _ids(tokenizer(prompt_text, max_length=max_length, truncation=True))
    return _masked(tokenizer, full, len(prompt))


def _masked(tokenizer, ids: list[int], n_prompt: int) -> Encoded:
    """``ids`` with one EOS appended unless last, its first ``n_prompt`` tokens masked."""
    eos = tokenizer.eos_token_id
    if eos is not None and (not ids or ids[-1] != eos):
        ids = [*ids, eos]
    n_prompt = min(n_prompt, len(ids))
    return Encoded(ids, [IGNORE_INDEX] * n_prompt + ids[n_prompt:])


def _ids(out) -> list[int]:
    """Token ids from a tokenizer or ``apply_chat_template`` call (a list or a BatchEncoding)."""
    return list(out["input_ids"] if hasattr(out, "keys") else out)


def recorded_convention(metrics_json: dict) -> str:
    """The convention a metrics.json was scored under (files from before the setting: unlearnkit)."""
    return metrics_json.get("convention", UNLEARNKIT)


def check_retain_convention(retain_eval, convention: str) -> None:
    """A retain model's eval folder is a reference only for evals scored under its convention."""
    from pathlib import Path

    from unlearnkit.eval.results import METRICS, read_metrics

    if retain_eval is None or not (Path(retain_eval) / METRICS).is_file():
        return  # no reference, or the benchmark's own check says what is missing
    theirs = recorded_convention(read_metrics(retain_eval))
    if theirs != convention:
        raise UserError(
            f"the retain eval {retain_eval} was scored under eval.convention {theirs}, this eval "
            f"under {convention}; evaluate the retain model under {convention} too"
        )
