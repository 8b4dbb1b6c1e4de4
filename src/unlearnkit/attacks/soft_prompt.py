"""Soft prompts: embeddings put before a forget question's text, the answer's NLL and greedy
answers under them (the mechanics of the embedding-space attack, ``attacks/embedding.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from unlearnkit.attacks.forget import eval_mode
from unlearnkit.data.formatting import (
    Encoded,
    answer_text,
    encode_pair,
    has_chat_template,
    prompt_adds_own_special_tokens,
    question_prompt,
)
from unlearnkit.eval.tofu import EvalSettings
from unlearnkit.logprobs import IGNORE_INDEX, sequence_nll


@dataclass(frozen=True)
class SoftItem:
    index: int
    question: str
    answer: str
    before: list[int]  # prompt tokens before the soft embeddings
    encoded: Encoded  # the rest of the prompt, then the answer (labelled)

    @property
    def prompt_tail(self) -> list[int]:
        first = next(i for i, label in enumerate(self.encoded.labels) if label != IGNORE_INDEX)
        return self.encoded.input_ids[:first]


def soft_item(tok, index: int, record: dict, max_length: int) -> SoftItem:
    """The item's prompt cut just before the question's text (spaces go after the cut)."""
    prompt = question_prompt(tok, record["question"])
    before = prompt[: prompt.rfind(record["question"])].rstrip(" ")
    specials = not prompt_adds_own_special_tokens(tok)
    answer = answer_text(record["answer"], has_chat_template(tok))
    encoded = encode_pair(
        tok, prompt[len(before) :], answer, max_length, prompt_has_special_tokens=True
    )
    ids = list(tok(before, add_special_tokens=specials)["input_ids"]) if before or specials else []
    return SoftItem(index, record["question"], record["answer"], ids, encoded)


@contextmanager
def frozen(model) -> Iterator[None]:
    """The model's parameters without gradients for the block, eval mode, then as they were."""
    flags = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(False)
    try:
        with eval_mode(model):
            yield
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)


def embed(model, ids: list[int]) -> torch.Tensor:
    device = model.get_input_embeddings().weight.device
    return model.get_input_embeddings()(torch.tensor(ids, dtype=torch.long, device=device))


def shared(soft: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Rows ``start:stop`` of per-item soft prompts; a universal one (one row) serves them all."""
    return soft if len(soft) == 1 else soft[start:stop]


def padded(rows: list[torch.Tensor], side: str = "right") -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences of embeddings stacked with zeros where padded: (embeddings, attention mask)."""
    width = max(len(r) for r in rows)
    first = rows[0]
    embeds = torch.zeros(len(rows), width, first.shape[-1], dtype=first.dtype, device=first.device)
    mask = torch.zeros(len(rows), width, dtype=torch.long, device=first.device)
    for i, r in enumerate(rows):
        span = slice(0, len(r)) if side == "right" else slice(width - len(r), width)
        embeds[i, span], mask[i, span] = r, 1
    return embeds, mask


def prefix(model, item: SoftItem, soft: torch.Tensor, tail: list[int]) -> torch.Tensor:
    """The item's prompt start, the soft embeddings, then ``tail`` (ids), embedded."""
    dtype = model.get_input_embeddings().weight.dtype
    return torch.cat([embed(model, item.before), soft.to(dtype), embed(model, tail)])


def answer_nll(model, items: list[SoftItem], soft: torch.Tensor) -> torch.Tensor:
    """Mean answer NLL per item with soft prompt ``soft[i]`` (or ``soft[0]`` for all), shape (B,)."""
    rows, labels = [], []
    for i, it in enumerate(items):
        s = shared(soft, i, i + 1)[0]
        rows.append(prefix(model, it, s, it.encoded.input_ids))
        labels.append([IGNORE_INDEX] * (len(it.before) + len(s)) + list(it.encoded.labels))
    embeds, mask = padded(rows)
    target = torch.full(mask.shape, IGNORE_INDEX, dtype=torch.long, device=mask.device)
    for i, lab in enumerate(labels):
        target[i, : len(lab)] = torch.tensor(lab, device=mask.device)
    logits = model(inputs_embeds=embeds, attention_mask=mask).logits
    return sequence_nll(logits, target)


@torch.no_grad()
def greedy(model, tok, items: list[SoftItem], soft: torch.Tensor, s: EvalSettings) -> list[str]:
    """The greedy answers after the prompts with the soft embeddings before the question."""
    out = []
    for start in range(0, len(items), s.gen_batch_size):
        chunk = items[start : start + s.gen_batch_size]
        rows = [
            prefix(model, it, shared(soft, start + i, start + i + 1)[0], it.prompt_tail)
            for i, it in enumerate(chunk)
        ]
        embeds, mask = padded(rows, side="left")
        ids = model.generate(
            inputs_embeds=embeds,
            attention_mask=mask,
            max_new_tokens=s.max_new_tokens,
            do_sample=False,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )  # the new tokens only: no input ids were given
        out += [t.strip() for t in tok.batch_decode(ids, skip_special_tokens=True)]
    return out
