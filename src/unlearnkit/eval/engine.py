"""Batched teacher-forced scoring and greedy generation: the only places evaluation runs a model.

Scoring takes *groups* of sequences (one group per item: its true, paraphrased and perturbed
answers) and packs whole groups into a batch, so each item's answers share one forward pass.
Groups are sorted by length first so little is spent on padding. Generation pads on the left and
decodes greedily with the KV cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from unlearnkit.data.collate import pad_batch
from unlearnkit.data.formatting import Encoded
from unlearnkit.eval.metrics.memorization import teacher_forced_correct
from unlearnkit.eval.metrics.mia import token_stats


@dataclass
class SeqScore:
    """What one teacher-forced pass tells about one response."""

    token_logprobs: list[float]
    mu: list[float]
    sigma: list[float]
    correct: list[bool]

    @property
    def n_tokens(self) -> int:
        return len(self.token_logprobs)

    @property
    def total_nll(self) -> float:
        return -sum(self.token_logprobs)

    @property
    def nll(self) -> float:
        """Mean NLL over the response tokens (ℓ of metrics.md)."""
        return self.total_nll / max(1, self.n_tokens)


def _model_device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def score_groups(
    model,
    groups: Sequence[Sequence[Encoded]],
    pad_id: int,
    batch_size: int = 32,
    desc: str | None = None,
) -> list[list[SeqScore]]:
    """Score every sequence of every group; a batch holds whole groups (≈ ``batch_size`` sequences)."""
    device = _model_device(model)
    order = sorted(range(len(groups)), key=lambda i: max((len(e) for e in groups[i]), default=0))
    results: list[list[SeqScore]] = [[] for _ in groups]
    batches, current, size = [], [], 0
    for i in order:
        if current and size + len(groups[i]) > batch_size:
            batches.append(current)
            current, size = [], 0
        current.append(i)
        size += len(groups[i])
    if current:
        batches.append(current)
    for batch in tqdm(batches, desc=desc, disable=desc is None, leave=False):
        flat = [e for i in batch for e in groups[i]]
        tensors = {k: v.to(device) for k, v in pad_batch(flat, pad_id).items()}
        logits = model(
            input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"]
        ).logits
        stats = token_stats(logits, tensors["labels"])
        correct = teacher_forced_correct(logits, tensors["labels"])
        scores = iter(
            SeqScore(s["token_logprobs"], s["mu"], s["sigma"], c) for s, c in zip(stats, correct)
        )
        for i in batch:
            results[i] = [next(scores) for _ in groups[i]]
    return results


def score_sequences(
    model, sequences: Sequence[Encoded], pad_id: int, batch_size: int = 32, desc: str | None = None
) -> list[SeqScore]:
    return [g[0] for g in score_groups(model, [[s] for s in sequences], pad_id, batch_size, desc)]


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int = 32,
    add_special_tokens: bool = True,
    max_prompt_tokens: int | None = None,
    desc: str | None = None,
) -> list[str]:
    """Greedy continuations of ``prompts`` (decoded, special tokens dropped), in input order."""
    device = _model_device(model)
    encoded = [tokenizer(p, add_special_tokens=add_special_tokens)["input_ids"] for p in prompts]
    if max_prompt_tokens:
        encoded = [ids[-max_prompt_tokens:] for ids in encoded]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    outputs: list[str] = [""] * len(prompts)
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc=desc, disable=desc is None, leave=False):
        idx = order[start : start + batch_size]
        batch = pad_batch(
            [Encoded(encoded[i], encoded[i]) for i in idx], tokenizer.pad_token_id, side="left"
        )
        input_ids = batch["input_ids"].to(device)
        out = model.generate(
            input_ids=input_ids,
            attention_mask=batch["attention_mask"].to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            use_cache=True,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        texts = tokenizer.batch_decode(out[:, input_ids.shape[1] :], skip_special_tokens=True)
        for i, text in zip(idx, texts):
            outputs[i] = text.strip()
    return outputs
