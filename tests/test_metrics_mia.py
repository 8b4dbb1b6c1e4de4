import math
import zlib

import pytest
import torch

from unlearnkit.eval.metrics import mia


def test_loss_and_reference_score():
    assert mia.loss_score([-1.0, -2.0, -3.0]) == pytest.approx(2.0)
    assert mia.reference_score(2.0, 3.5) == pytest.approx(-1.5)


def test_zlib_score():
    text = "hello hello hello hello"
    compressed = len(zlib.compress(text.encode("utf-8")))
    assert mia.zlib_score(2.0, text) == pytest.approx(2.0 / compressed)


def test_min_k_on_five_tokens():
    lp = [-0.1, -2.0, -0.5, -3.0, -1.0]
    # k = 0.4: int(5·0.4) = 2 lowest, -3 and -2.
    assert mia.min_k_score(lp, 0.4) == pytest.approx(-2.5)
    # k = 0.1: int(0.5) = 0, at least one token -> -3.
    assert mia.min_k_score(lp, 0.1) == pytest.approx(-3.0)
    assert mia.min_k_score(lp, 1.0) == pytest.approx(-6.6 / 5)
    with pytest.raises(ValueError):
        mia.min_k_score([], 0.4)


def test_min_k_plus_plus():
    # z = (lp - mu) / sigma = (0.5/0.5, -0.5/1, -1.5/2) = (1, -0.5, -0.75).
    lp, mu, sigma = [-1.0, -2.0, -3.0], [-1.5] * 3, [0.5, 1.0, 2.0]
    assert mia.min_k_plus_plus_score(lp, mu, sigma, 0.4) == pytest.approx(-0.75)  # 1 token
    assert mia.min_k_plus_plus_score(lp, mu, sigma, 0.7) == pytest.approx(-0.625)  # 2 tokens


def test_auc_by_counting_pairs():
    # Pairs member > non-member: 0.9 beats both, 0.4 beats 0.1, 0.7 beats both -> 5 of 6.
    assert mia.auc([0.9, 0.4, 0.7], [0.5, 0.1], higher_is_member=True) == pytest.approx(5 / 6)
    # A tie counts one half: (0.5 + 1) / 2.
    assert mia.auc([0.5], [0.5, 0.1], higher_is_member=True) == pytest.approx(0.75)
    # Losses, lower = member: 1<1.5, 1<3, 2<3 (not 2<1.5) -> 3 of 4.
    assert mia.auc([1.0, 2.0], [1.5, 3.0], higher_is_member=False) == pytest.approx(0.75)


def test_token_stats_by_hand():
    ln3 = math.log(3.0)
    # Position 0: uniform over 2 tokens. Position 1: p = (3/4, 1/4). Position 2 predicts nothing.
    logits = torch.tensor([[[0.0, 0.0], [ln3, 0.0], [0.0, 0.0]]] * 2)
    labels = torch.tensor([[-100, 1, 0], [-100, -100, 1]])
    out = mia.token_stats(logits, labels)
    # Bernoulli(p): mu = p ln p + (1-p) ln(1-p), sigma = sqrt(p(1-p)) · |ln(p/(1-p))|.
    mu1 = 0.75 * math.log(0.75) + 0.25 * math.log(0.25)
    sigma1 = math.sqrt(0.75 * 0.25) * ln3
    assert out[0]["token_logprobs"] == pytest.approx([math.log(0.5), math.log(0.75)])
    assert out[0]["mu"] == pytest.approx([math.log(0.5), mu1])
    assert out[0]["sigma"] == pytest.approx([0.0, sigma1], abs=1e-3)
    assert out[1]["token_logprobs"] == pytest.approx([math.log(0.25)])
    assert out[1]["mu"] == pytest.approx([mu1])
    assert out[1]["sigma"] == pytest.approx([sigma1])


def test_token_stats_masked_vocabulary_is_finite():
    logits = torch.tensor([[[0.0, float("-inf")], [0.0, 0.0]]])
    out = mia.token_stats(logits, torch.tensor([[-100, 0]]))
    assert out[0] == {"token_logprobs": [0.0], "mu": [0.0], "sigma": [0.0]}
