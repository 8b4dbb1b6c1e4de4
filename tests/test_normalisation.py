"""One normalisation per term, on hand-made logits: forget terms average per sequence, retain NLL
and KL terms over the batch's response tokens (docs/methods.md, "Normalisation")."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from unlearnkit.methods.base import StepContext
from unlearnkit.methods.losses import gd_loss
from unlearnkit.methods.registry import get_method

X = -100
# Two rows of 4 tokens; the label 1 is the response token. Row 0 has one response token
# (predicted by position 2), row 1 three (predicted by positions 0, 1, 2).
LABELS = torch.tensor([[X, X, X, 1], [X, 1, 1, 1]])
# p(token 1) at each predicting position; position 3 predicts nothing.
PROBS = torch.tensor([[0.9, 0.9, 0.1, 0.9], [0.25, 0.5, 0.8, 0.9]])
ROW0 = math.log(10)
ROW1 = (math.log(4) + math.log(2) + math.log(1.25)) / 3
SEQ_MEAN = (ROW0 + ROW1) / 2  # each sequence counts once
# each token counts once
TOKEN_MEAN = (math.log(10) + math.log(4) + math.log(2) + math.log(1.25)) / 4


def _logits(probs: torch.Tensor) -> torch.Tensor:
    """Two-word vocabulary whose log-softmax is exactly (log(1 − p), log p)."""
    return torch.stack([torch.log1p(-probs), torch.log(probs)], dim=-1)


def _part(first_id: int) -> dict:
    ids = torch.full((2, 4), first_id)
    return {
        "input_ids": ids,
        "attention_mask": torch.ones(2, 4, dtype=torch.long),
        "labels": LABELS,
    }


def _model(by_first_id: dict[int, torch.Tensor]):
    def model(input_ids, attention_mask, **kwargs):
        return SimpleNamespace(logits=by_first_id[int(input_ids[0, 0])])

    return model


FORGET, RETAIN = 1, 2
MODEL = _model({FORGET: _logits(PROBS), RETAIN: _logits(PROBS)})
BATCH = {"forget": _part(FORGET), "retain": _part(RETAIN), "index": torch.arange(2)}


def test_the_two_conventions_differ_on_this_batch():
    assert abs(SEQ_MEAN - TOKEN_MEAN) > 0.05


def test_ga_forget_term_is_the_mean_over_sequences():
    loss, logs = get_method("ga").compute_loss(MODEL, BATCH, StepContext())
    assert loss.item() == pytest.approx(-SEQ_MEAN, rel=1e-5)
    assert logs["forget_nll"].item() == pytest.approx(SEQ_MEAN, rel=1e-5)


def test_gd_forget_per_sequence_retain_per_token():
    gd = get_method("gd", {"gamma": 2.0, "alpha": 0.5})
    loss, logs = gd.compute_loss(MODEL, BATCH, StepContext())
    assert logs["retain_nll"].item() == pytest.approx(TOKEN_MEAN, rel=1e-5)
    assert loss.item() == pytest.approx(-2.0 * SEQ_MEAN + 0.5 * TOKEN_MEAN, rel=1e-5)
    expected = gd_loss(torch.tensor([ROW0, ROW1]), torch.tensor(TOKEN_MEAN), 2.0, 0.5)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_kl_forget_per_sequence_kl_per_response_token():
    # The reference is uniform (1/2, 1/2): at a position where θ gives (1 − p, p) the KL is
    # ½ log(½/(1 − p)) + ½ log(½/p); averaged over the 4 response tokens of the batch.
    def kl(p):
        return 0.5 * math.log(0.5 / (1 - p)) + 0.5 * math.log(0.5 / p)

    expected_kl = (kl(0.1) + kl(0.25) + kl(0.5) + kl(0.8)) / 4
    ref = SimpleNamespace(outputs=lambda part, **kw: SimpleNamespace(logits=torch.zeros(2, 4, 2)))
    method = get_method("kl", {"alpha": 3.0})
    loss, logs = method.compute_loss(MODEL, BATCH, StepContext(reference=ref))
    assert logs["retain_kl"].item() == pytest.approx(expected_kl, rel=1e-5)
    assert loss.item() == pytest.approx(-SEQ_MEAN + 3.0 * expected_kl, rel=1e-5)


def test_sga_with_r0_uses_the_forget_convention():
    sga = get_method("sga", {"K": 1, "r": 0.0})
    loss, _ = sga.compute_loss(MODEL, BATCH, StepContext())
    assert loss.item() == pytest.approx(-SEQ_MEAN, rel=1e-5)
