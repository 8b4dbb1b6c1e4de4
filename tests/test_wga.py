"""WGA: the token-weighted ascent loss by hand, its gradient, and a run that forgets."""

from __future__ import annotations

import math

import pytest
import torch

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    forget_nll,
    one_thread,
    tiny_config,
    tiny_tokenizer,
    trained_model,
)
from unlearnkit.errors import UserError
from unlearnkit.methods.registry import get_method
from unlearnkit.methods.wga import wga_loss
from unlearnkit.train.unlearn import unlearn


def test_wga_loss_by_hand():
    logp = torch.log(torch.tensor([[0.5, 0.25, 1.0]]))
    mask = torch.tensor([[1.0, 1.0, 0.0]])  # the third token is not a response token
    # −[0.5^2·ln2 + 0.25^2·ln4] / 2 with β = 2
    expected = -(0.25 * math.log(2) + 0.0625 * math.log(4)) / 2
    assert wga_loss(logp, mask, 2.0).item() == pytest.approx(expected)
    # β = 0: plain gradient ascent with a token mean
    assert wga_loss(logp, mask, 0.0).item() == pytest.approx(-(math.log(2) + math.log(4)) / 2)


def test_the_weights_are_constants_in_the_gradient():
    logp = torch.log(torch.tensor([[0.5, 0.25]])).requires_grad_(True)
    wga_loss(logp, torch.ones(1, 2), 1.0).backward()
    # d/dlogp of −[p]_sg·(−logp)/2 = p/2: the weight does not differentiate
    assert logp.grad[0].tolist() == pytest.approx([0.25, 0.125])


def test_params_are_checked_and_alpha_zero_needs_no_retain():
    assert get_method("wga", {"alpha": 0}).needs().retain is False
    assert get_method("wga").needs().retain is True
    with pytest.raises(UserError, match="params.beta must be a finite number"):
        get_method("wga", {"beta": float("nan")})


def test_wga_raises_the_forget_nll(data, tmp_path):
    model, before = trained_model(), forget_nll(trained_model())
    cfg = tiny_config(data, "wga", {}, max_steps=4, learning_rate=1e-3)
    summary = unlearn(cfg, model, tiny_tokenizer(), tmp_path / "run", progress=False)
    assert summary["steps"] == 4
    assert forget_nll(model) > before + 0.05
