"""Hidden states of forget QA: batches, hooks that read or replace a decoder layer's output, and
the answer's probability p_norm = exp(−mean token NLL), the eval's ``forget_probability``, from
the logits or from one layer's residual stream (the logit lens).

A hook's effect lasts only inside its ``with`` block: the handles are removed on the way out, so
the model computes exactly as before once an attack is done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from unlearnkit.attacks.context import AttackContext
from unlearnkit.benchmarks.tofu import forget_records
from unlearnkit.data.collate import pad_batch
from unlearnkit.eval.convention import encode_answer
from unlearnkit.eval.engine import _forward_params, _response_logits
from unlearnkit.logprobs import IGNORE_INDEX, sequence_nll, shift
from unlearnkit.model_layers import decoder_layers, final_norm


@dataclass(frozen=True)
class QABatch:
    indices: list[int]  # positions in the full forget set
    questions: list[str]
    tensors: dict[str, torch.Tensor]  # input_ids, attention_mask, labels (right-padded)


def forget_batches(tok, ctx: AttackContext, device) -> list[QABatch]:
    """The forget QA (``--max-items`` honoured), encoded as the eval convention scores answers."""
    records, picked = ctx.settings.subset(forget_records(ctx.data, ctx.split))
    s = ctx.settings
    encoded = [
        encode_answer(tok, r["question"], r["answer"], s.max_length, s.convention, s.template)
        for r in records
    ]
    batches = []
    for start in range(0, len(records), s.batch_size):
        part = slice(start, start + s.batch_size)
        tensors = pad_batch(encoded[part], tok.pad_token_id)
        questions = [r["question"] for r in records[part]]
        batches.append(
            QABatch(picked[part], questions, {k: v.to(device) for k, v in tensors.items()})
        )
    return batches


def _hidden(output) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def _with_hidden(output, hidden: torch.Tensor):
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


@contextmanager
def layer_hooks(model: nn.Module, hooks: dict[int, Callable]) -> Iterator[None]:
    """Forward hooks ``{layer: fn(hidden) -> hidden or None}`` on the decoder layers, for the block."""
    _, stack = decoder_layers(model)

    def wrap(fn):
        def hook(module, args, output):
            new = fn(_hidden(output))
            return None if new is None else _with_hidden(output, new)

        return hook

    handles = [stack[i].register_forward_hook(wrap(fn)) for i, fn in hooks.items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def run_for_states(model: nn.Module, batch: QABatch) -> None:
    """A forward pass for its hooks only: the LM head runs on one position where it can."""
    t = batch.tensors
    keep = {"logits_to_keep": 1} if "logits_to_keep" in _forward_params(model) else {}
    model(input_ids=t["input_ids"], attention_mask=t["attention_mask"], **keep)


@torch.no_grad()
def layer_states(model: nn.Module, batch: QABatch) -> list[torch.Tensor]:
    """The residual stream after each decoder layer, (B, T, H) per layer."""
    states: dict[int, torch.Tensor] = {}
    n = len(decoder_layers(model)[1])
    keep = {i: (lambda h, i=i: states.__setitem__(i, h.detach())) for i in range(n)}
    with layer_hooks(model, keep):
        run_for_states(model, batch)
    return [states[i] for i in range(n)]


@torch.no_grad()
def answer_probability(model: nn.Module, batch: QABatch) -> torch.Tensor:
    """p_norm(answer | question) per item from the model's own logits, shape (B,)."""
    trim = "logits_to_keep" in _forward_params(model)  # the head skips the leading prompt
    logits, labels = _response_logits(model, batch.tensors, trim)
    return torch.exp(-sequence_nll(logits, labels)).float()


@torch.no_grad()
def lens_probability(model: nn.Module, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """p_norm(answer) per item read from ``hidden`` through the final norm and the unembedding.

    Only the positions that predict an answer token go through the unembedding (the lens of a
    whole (B, T, V) batch per layer would be mostly prompt and padding).
    """
    hidden, labels = shift(hidden, labels)
    where = labels != IGNORE_INDEX
    logits = model.get_output_embeddings()(final_norm(model)(hidden[where])).float()
    logp = torch.log_softmax(logits, -1).gather(-1, labels[where].unsqueeze(-1)).squeeze(-1)
    rows = where.nonzero()[:, 0]
    total = torch.zeros(labels.shape[0], device=logp.device).index_add_(0, rows, logp)
    return torch.exp(total / where.sum(-1).clamp(min=1))
