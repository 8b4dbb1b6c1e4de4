"""Batched teacher-forced scoring and greedy generation: the only places evaluation runs a model.

Scoring takes *groups* of sequences (one group per item: its true, paraphrased and perturbed
answers) and packs whole groups into a batch, so each item's answers share one forward pass; where
a group's sequences repeat one prompt, the prompt runs once and its KV cache serves them all.
Groups are sorted by length first so little is spent on padding, and the per-token statistics run
on response positions only. Generation pads on the left and decodes greedily with the KV cache.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from unlearnkit.data.collate import pad_batch
from unlearnkit.data.formatting import Encoded
from unlearnkit.eval.metrics.memorization import teacher_forced_correct
from unlearnkit.eval.metrics.mia import token_stats
from unlearnkit.logprobs import IGNORE_INDEX

logger = logging.getLogger(__name__)


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
    accepts = _forward_params(model)
    share = _cache_kwarg(accepts) is not None  # prompt KV caches can be reused
    order = sorted(range(len(groups)), key=lambda i: max((len(e) for e in groups[i]), default=0))
    results: list[list[SeqScore]] = [[] for _ in groups]
    batches, current, size = [], [], 0
    for i in order:
        if not groups[i]:
            continue  # nothing to score (a batch of only empty groups would have nothing to pad)
        if current and size + len(groups[i]) > batch_size:
            batches.append(current)
            current, size = [], 0
        current.append(i)
        size += len(groups[i])
    if current:
        batches.append(current)
    for batch in tqdm(batches, desc=desc, disable=desc is None, leave=False):
        prompts = _shared_prompts([groups[i] for i in batch]) if share else None
        shared = (
            _shared_prompt_logits(
                model, [groups[i] for i in batch], prompts, pad_id, device, accepts
            )
            if prompts is not None
            else None
        )
        if shared is not None:
            logits, labels = shared
        else:
            flat = [e for i in batch for e in groups[i]]
            tensors = {k: v.to(device) for k, v in pad_batch(flat, pad_id).items()}
            logits, labels = _response_logits(model, tensors, "logits_to_keep" in accepts)
        packed_logits, packed_labels, counts = _pack_responses(logits, labels)
        del logits
        (stats,) = token_stats(packed_logits, packed_labels)
        (correct,) = teacher_forced_correct(packed_logits, packed_labels)
        scores = iter(_split_scores(stats, correct, counts))
        for i in batch:
            results[i] = [next(scores) for _ in groups[i]]
    return results


# transformers ≥ 5.24 names the KV cache ``cache`` (``past_key_values`` is deprecated, gone in 5.40)
_CACHE_KWARGS = ("cache", "past_key_values")
_declined: set[str] = set()  # model classes whose cache could not be repeated (logged once each)


def _cache_kwarg(accepts: frozenset[str]) -> str | None:
    """The name under which the model's forward takes (and returns) its KV cache, if it reuses one."""
    if not {"position_ids", "use_cache"} <= accepts:
        return None
    return next((name for name in _CACHE_KWARGS if name in accepts), None)


def _repeat_cache(cache, rows: torch.Tensor) -> bool:
    """Make row i of ``cache`` a copy of its row ``rows[i]``, with the cache's public batch API."""
    select = getattr(cache, "batch_select_indices", None)
    if select is None:
        return False
    select(rows)
    return True


def _decline_once(model, why: str) -> None:
    name = type(model).__name__
    if name not in _declined:
        _declined.add(name)
        logger.warning(
            "%s: shared-prompt scoring is off (%s); every answer re-runs its prompt (slower, same numbers)",
            name,
            why,
        )


def _forward_params(model) -> frozenset[str]:
    """The keyword arguments the model's forward names (empty if it cannot be inspected)."""
    try:
        return frozenset(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        return frozenset()


def _response_logits(
    model, tensors: dict[str, torch.Tensor], trim: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels of a right-padded batch, from the first position that predicts a response token.

    Prompt positions before every row's response predict nothing that is scored, so where the model
    allows it (``logits_to_keep``) the LM head skips them: with short answers after long prompts it
    is a good part of the head's work, and of the (B, T, V) logits' memory. The labels are cut to
    match, so position t of the logits still predicts label t+1.
    """
    labels = tensors["labels"]
    width = labels.shape[1]
    kwargs = {}
    if trim:
        responds = (labels[:, 1:] != IGNORE_INDEX).any(0).nonzero()
        first = int(responds[0]) if len(responds) else width - 1  # first position predicting one
        if first > 0:
            kwargs["logits_to_keep"] = width - first
    logits = model(
        input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"], **kwargs
    ).logits
    return logits, labels[:, width - logits.shape[1] :]


def _shared_prompts(groups: Sequence[Sequence[Encoded]]) -> list[int] | None:
    """Per group, the length of the prompt all its sequences share; None where that does not pay.

    A group's sequences (an item's true, paraphrased and perturbed answers) usually repeat one
    prompt: the tokens before the first scored label. It must be the same in every sequence of the
    group, at least two tokens long, and each sequence must have tokens after it. None when a group
    does not qualify or no group has two sequences (nothing would be saved).
    """
    lengths = []
    for group in groups:
        if not group:
            return None
        first = group[0]
        r = next((t for t in range(1, len(first)) if first.labels[t] != IGNORE_INDEX), None)
        if r is None or r < 2:
            return None
        prompt = first.input_ids[:r]
        for e in group:
            if (
                len(e) <= r
                or e.input_ids[:r] != prompt
                or any(label != IGNORE_INDEX for label in e.labels[:r])
            ):
                return None
        lengths.append(r)
    if all(len(g) < 2 for g in groups):
        return None
    return lengths


def _shared_prompt_logits(
    model,
    groups: Sequence[Sequence[Encoded]],
    prompt_lengths: list[int],
    pad_id: int,
    device: torch.device,
    accepts: frozenset[str],
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Logits and labels of every sequence of the groups, each shared prompt run once.

    All but the last token of each group's prompt go through the model once (left-padded, so they
    end together); that KV cache is repeated for the group's sequences, and each sequence runs only
    from its prompt's last token on (right-padded): an item with seven answers costs one prompt
    and seven answers instead of seven prompt+answer sequences. Returned in the usual convention
    (position t predicts label t+1): (S, C, V) logits and (S, C) labels of the S sequences in group
    order, C the widest continuation; None when the model returns no cache object to repeat.
    """
    width = max(prompt_lengths) - 1
    prompt_ids = torch.full((len(groups), width), pad_id, dtype=torch.long)
    prompt_mask = torch.zeros((len(groups), width), dtype=torch.long)
    for g, (group, r) in enumerate(zip(groups, prompt_lengths, strict=True)):
        prompt_ids[g, width - (r - 1) :] = torch.tensor(group[0].input_ids[: r - 1])
        prompt_mask[g, width - (r - 1) :] = 1
    prompt_ids, prompt_mask = prompt_ids.to(device), prompt_mask.to(device)
    head = {"logits_to_keep": 1} if "logits_to_keep" in accepts else {}  # no logit is read
    out = model(
        input_ids=prompt_ids,
        attention_mask=prompt_mask,
        position_ids=(prompt_mask.cumsum(-1) - 1).clamp(min=0),
        use_cache=True,
        **head,
    )
    name = _cache_kwarg(accepts)
    cache = out.get(name)
    rows = torch.tensor([g for g, group in enumerate(groups) for _ in group], device=device)
    if cache is None or not _repeat_cache(cache, rows):  # one copy of a group's prompt per sequence
        _decline_once(model, f"its forward returned {type(cache).__name__}, not a repeatable cache")
        return None
    rest = [
        Encoded(e.input_ids[r - 1 :], e.labels[r - 1 :])
        for group, r in zip(groups, prompt_lengths, strict=True)
        for e in group
    ]
    tail = {k: v.to(device) for k, v in pad_batch(rest, pad_id).items()}
    starts = torch.tensor(prompt_lengths, device=device)[rows] - 1
    steps = torch.arange(tail["input_ids"].shape[1], device=device)
    logits = model(
        input_ids=tail["input_ids"],
        attention_mask=torch.cat([prompt_mask[rows], tail["attention_mask"]], dim=1),
        position_ids=starts[:, None] + steps[None, :],
        use_cache=True,
        **{name: cache},
    ).logits
    return logits, tail["labels"]


def _pack_responses(
    logits: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """The response positions of a batch as one sequence that ``token_stats`` reads as usual.

    Only response tokens are scored, and in a batch of short answers after long prompts (plus
    padding) they are a fraction of B×T: the per-position statistics (a log-softmax over the
    vocabulary and its moments) then run on those positions only. Position t of the packed logits
    predicts packed label t+1, as in any (logits, labels) pair; each statistic is computed per
    position, so the values are those of the unpacked batch. Returns the packed (1, N+1, V) logits,
    (1, N+1) labels and the number of response tokens of each row.
    """
    targets = labels.to(logits.device)[:, 1:]  # position t of the logits predicts label t+1
    valid = targets != IGNORE_INDEX
    rows, cols = valid.nonzero(as_tuple=True)  # row-major: each row's tokens in order
    width, vocab = logits.shape[1], logits.shape[-1]
    packed_logits = logits.new_empty((1, len(rows) + 1, vocab))
    torch.index_select(logits.reshape(-1, vocab), 0, rows * width + cols, out=packed_logits[0, :-1])
    packed_logits[0, -1] = 0  # predicts nothing
    first = targets.new_full((1,), IGNORE_INDEX)
    packed_labels = torch.cat([first, targets[valid]]).unsqueeze(0)
    return packed_logits, packed_labels, valid.sum(-1).tolist()


def _split_scores(stats: dict[str, list[float]], correct: list[bool], counts: list[int]):
    """Per-row ``SeqScore`` from the statistics of the packed response positions."""
    start = 0
    for n in counts:
        end = start + n
        yield SeqScore(
            stats["token_logprobs"][start:end],
            stats["mu"][start:end],
            stats["sigma"][start:end],
            correct[start:end],
        )
        start = end


def score_sequences(
    model, sequences: Sequence[Encoded], pad_id: int, batch_size: int = 32, desc: str | None = None
) -> list[SeqScore]:
    return [g[0] for g in score_groups(model, [[s] for s in sequences], pad_id, batch_size, desc)]


CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


def context_length(model) -> int | None:
    """How many positions the model has (None when its config does not say)."""
    config = getattr(model, "config", None)
    if hasattr(config, "get_text_config"):
        config = config.get_text_config()
    for key in CONTEXT_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 1:
            return value
    return None


def _fit_context(encoded: list[list[int]], context: int | None) -> list[list[int]]:
    """Prompts that leave room for one new token: longer ones keep their end, with a warning."""
    if context is None:
        return encoded
    long = sum(len(ids) >= context for ids in encoded)
    if long:
        logger.warning(
            "%d prompt(s) fill the model's context of %d tokens; keeping their last %d tokens",
            long,
            context,
            context - 1,
        )
    return [ids[-(context - 1) :] for ids in encoded]


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
    """Greedy continuations of ``prompts`` (decoded, special tokens dropped), in input order.

    A continuation stops where the model's context ends (its max_position_embeddings minus the
    prompt's length), whatever ``max_new_tokens`` asks.
    """
    device = _model_device(model)
    encoded = [tokenizer(p, add_special_tokens=add_special_tokens)["input_ids"] for p in prompts]
    if max_prompt_tokens:
        encoded = [ids[-max_prompt_tokens:] for ids in encoded]
    context = context_length(model)
    encoded = _fit_context(encoded, context)

    def room(i: int) -> int:
        return max_new_tokens if context is None else min(max_new_tokens, context - len(encoded[i]))

    # A batch near the context's end is split by room: each continuation is capped by its own
    # prompt's length, not by the longest prompt it happened to be batched with.
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    batches = []
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        for cap in sorted({room(i) for i in chunk}, reverse=True):
            batches.append(([i for i in chunk if room(i) == cap], cap))
    outputs: list[str] = [""] * len(prompts)
    for idx, cap in tqdm(batches, desc=desc, disable=desc is None, leave=False):
        batch = pad_batch(
            [Encoded(encoded[i], encoded[i]) for i in idx], tokenizer.pad_token_id, side="left"
        )
        input_ids = batch["input_ids"].to(device)
        out = model.generate(
            input_ids=input_ids,
            attention_mask=batch["attention_mask"].to(device),
            max_new_tokens=cap,
            do_sample=False,
            use_cache=True,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        texts = tokenizer.batch_decode(out[:, input_ids.shape[1] :], skip_special_tokens=True)
        for i, text in zip(idx, texts):
            outputs[i] = text.strip()
    return outputs
