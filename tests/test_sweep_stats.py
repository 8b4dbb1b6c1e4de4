"""A sweep summary's numbers by hand: the Student-t interval over seeds and the utility read off a
curve at a forget level."""

from __future__ import annotations

import math

import pytest

from unlearnkit.sweep.stats import at_level, crossing, t_interval


def test_t_interval_by_hand():
    # mean 2.5; sd = sqrt(((1.5)^2 + (0.5)^2) * 2 / 3) = sqrt(5/3); t(0.975, 3) = 3.182446
    s = t_interval([1.0, 2.0, 3.0, 4.0])
    half = 3.182446305 * math.sqrt(5 / 3) / 2
    assert s["n"] == 4 and s["mean"] == 2.5 and s["sd"] == pytest.approx(math.sqrt(5 / 3))
    assert s["low"] == pytest.approx(2.5 - half, abs=1e-8)
    assert s["high"] == pytest.approx(2.5 + half, abs=1e-8)
    assert half == pytest.approx(2.054260, abs=1e-6)


def test_two_values_use_t_with_one_degree_of_freedom():
    s = t_interval([0.2, 0.4])  # sd = 0.1414214, t(0.975, 1) = 12.706205
    assert s["high"] - s["mean"] == pytest.approx(12.706205 * 0.1414214 / math.sqrt(2), rel=1e-6)


def test_one_value_has_no_interval():
    assert t_interval([0.7]) == {"n": 1, "mean": 0.7, "sd": None, "low": None, "high": None}


CURVE = [
    {"step": 0, "forget_rouge": 0.9, "retain_rouge": 0.8},
    {"step": 2, "forget_rouge": 0.5, "retain_rouge": 0.7},
    {"step": 4, "forget_rouge": 0.1, "retain_rouge": 0.3},
]


def test_utility_at_a_forget_level_is_interpolated_on_the_segment_that_crosses_it():
    # 0.3 lies halfway between 0.5 (utility 0.7) and 0.1 (utility 0.3): 0.5
    assert at_level(CURVE, "forget_rouge", "retain_rouge", 0.3) == pytest.approx(0.5)
    # 0.8 lies a quarter of the way from 0.9 (0.8) to 0.5 (0.7): 0.775
    assert at_level(CURVE, "forget_rouge", "retain_rouge", 0.8) == pytest.approx(0.775)
    assert at_level(CURVE, "forget_rouge", "retain_rouge", 0.5) == 0.7  # a point on the level
    assert at_level(CURVE, "forget_rouge", "retain_rouge", 0.1) == 0.3  # the last point


def test_a_level_the_curve_never_reaches_is_none():
    assert at_level(CURVE, "forget_rouge", "retain_rouge", 0.05) is None
    assert at_level(CURVE, "forget_rouge", "retain_rouge", 0.95) is None
    assert at_level([], "forget_rouge", "retain_rouge", 0.3) is None


def test_the_first_crossing_counts_on_a_curve_that_comes_back():
    back = [*CURVE, {"step": 6, "forget_rouge": 0.5, "retain_rouge": 0.1}]
    assert at_level(back, "forget_rouge", "retain_rouge", 0.3) == pytest.approx(0.5)


def test_crossing_names_the_segment_it_read():
    assert crossing(CURVE, "forget_rouge", "retain_rouge", 0.8) == (pytest.approx(0.775), 0)
    assert crossing(CURVE, "forget_rouge", "retain_rouge", 0.3) == (pytest.approx(0.5), 1)
    assert crossing(CURVE, "forget_rouge", "retain_rouge", 0.1) == (0.3, 2)
