"""The shared log-prob helpers on a hand-computed 3-token vocabulary."""

from __future__ import annotations

import math

import torch

from unlearnkit.logprobs import (
    IGNORE_INDEX,
    batch_nll,
    mean_token_prob,
    response_lengths,
    sequence_logprob,
    sequence_nll,
    token_logprobs,
)

# One sequence of 3 positions. Logits at position t predict token t+1.
# Position 0: logits [0, 0, 0] -> p = 1/3 each. Position 1: [ln 2, 0, 0] -> p = [1/2, 1/4, 1/4].
LOGITS = torch.tensor([[[0.0, 0.0, 0.0], [math.log(2.0), 0.0, 0.0], [5.0, 5.0, 5.0]]])
# Token 0 is the prompt (masked), tokens 1 and 2 are the response: y_1 = 2, y_2 = 0.
LABELS = torch.tensor([[IGNORE_INDEX, 2, 0]])


def test_token_logprobs_by_hand():
    logp, mask = token_logprobs(LOGITS, LABELS)
    assert torch.allclose(logp, torch.tensor([[math.log(1 / 3), math.log(1 / 2)]]))
    assert mask.tolist() == [[1.0, 1.0]]


def test_sequence_quantities_by_hand():
    total = math.log(1 / 3) + math.log(1 / 2)
    assert math.isclose(sequence_logprob(LOGITS, LABELS).item(), total, rel_tol=1e-6)
    assert math.isclose(sequence_nll(LOGITS, LABELS).item(), -total / 2, rel_tol=1e-6)
    assert math.isclose(mean_token_prob(LOGITS, LABELS).item(), (1 / 3 + 1 / 2) / 2, rel_tol=1e-6)
    assert response_lengths(LABELS).tolist() == [2.0]
    assert math.isclose(batch_nll(LOGITS, LABELS).item(), -total / 2, rel_tol=1e-6)


def test_masked_positions_do_not_count():
    labels = torch.tensor([[IGNORE_INDEX, 2, IGNORE_INDEX]])
    assert math.isclose(sequence_logprob(LOGITS, labels).item(), math.log(1 / 3), rel_tol=1e-6)
    assert math.isclose(sequence_nll(LOGITS, labels).item(), -math.log(1 / 3), rel_tol=1e-6)
