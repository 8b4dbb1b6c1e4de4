import math

import pytest

from unlearnkit.eval.metrics import tofu

LN2, LN4, LN8, LN16 = (math.log(x) for x in (2, 4, 8, 16))


def test_probability():
    assert tofu.probability(LN4) == pytest.approx(0.25)
    assert tofu.probability(0.5) == pytest.approx(0.6065306597)


def test_option_probability():
    # p_true = 1/2, wrong 1/4 and 1/8: 0.5 / 0.875 = 4/7.
    assert tofu.option_probability(LN2, [LN4, LN8]) == pytest.approx(4 / 7)
    # Large NLLs underflow exp(-ℓ); the ratio only depends on the differences: 1/(1+e^-1+e^-2).
    assert tofu.option_probability(1000.0, [1001.0, 1002.0]) == pytest.approx(
        1 / (1 + math.exp(-1) + math.exp(-2))
    )


def test_truth_ratio():
    # p_para = 1/2; perturbed 1/4 and 1/16 -> geometric mean sqrt(1/64) = 1/8; tr = (1/8)/(1/2).
    assert tofu.truth_ratio(LN2, [LN4, LN16]) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        tofu.truth_ratio(LN2, [])


def test_forget_and_retain_truth_ratio():
    trs = [0.2, 0.5, 4.0]
    # min(tr, 1/tr): 0.2, 0.5, 0.25 -> 0.95/3.
    assert tofu.forget_truth_ratio(trs) == pytest.approx(0.95 / 3)
    # max(0, 1 - tr): 0.8, 0.5, 0 -> 1.3/3.
    assert tofu.retain_truth_ratio(trs) == pytest.approx(1.3 / 3)


def test_forget_quality_exact_ks():
    # D = 1 and only 2 of the C(6,3) = 20 orderings (x all lowest or all highest) reach it.
    assert tofu.forget_quality([1, 2, 3], [4, 5, 6]) == pytest.approx(2 / 20)
    # Same sample: D = 0, p = 1.
    assert tofu.forget_quality([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)


def test_model_utility_harmonic_mean():
    assert tofu.model_utility([0.5, 1.0]) == pytest.approx(2 / (2 + 1))
    assert tofu.model_utility([0.5, 1.0, 0.25]) == pytest.approx(3 / (2 + 1 + 4))
    assert tofu.model_utility([0.5, 0.0, 1.0]) == 0.0
    with pytest.raises(ValueError):
        tofu.model_utility([])
