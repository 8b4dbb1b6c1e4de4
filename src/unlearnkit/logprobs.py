"""Shared log-probability and masking helpers: the one place methods and metrics get them from.

Conventions: ``labels`` are the input ids with prompt and padding set to ``IGNORE_INDEX``; position
t of the logits predicts token t+1, so every helper shifts once here and nowhere else.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def shift(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Align logits with the tokens they predict: (B, T-1, V) and (B, T-1)."""
    return logits[:, :-1, :], labels[:, 1:]


def response_mask(labels: torch.Tensor) -> torch.Tensor:
    """1.0 on response tokens of the already shifted labels, 0.0 on prompt and padding."""
    return (labels != IGNORE_INDEX).to(torch.float32)


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log p(y_t | x, y_<t) on response tokens (0 elsewhere) and the response mask."""
    logits, labels = shift(logits, labels)
    mask = response_mask(labels)
    safe = labels.clamp(min=0)
    # log_softmax in float32: bf16 log-probs of long answers lose the ranking between answers.
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return logp * mask, mask


def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log π(y|x): the sum of response-token log-probabilities, shape (B,)."""
    logp, _ = token_logprobs(logits, labels)
    return logp.sum(-1)


def response_lengths(labels: torch.Tensor) -> torch.Tensor:
    """|y|: the number of response tokens per sequence (shifted once), shape (B,)."""
    return response_mask(labels[:, 1:]).sum(-1)


def sequence_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """ℓ(x, y): mean response-token negative log-likelihood per sequence, shape (B,)."""
    logp, mask = token_logprobs(logits, labels)
    return -logp.sum(-1) / mask.sum(-1).clamp(min=1)


def mean_token_prob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """p̄(y|x): mean response-token probability (not log) per sequence, shape (B,)."""
    logp, mask = token_logprobs(logits, labels)
    return (logp.exp() * mask).sum(-1) / mask.sum(-1).clamp(min=1)


def batch_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The usual causal-LM loss: mean NLL over all response tokens of the batch (a scalar)."""
    logits, labels = shift(logits, labels)
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(),
        labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
    )
