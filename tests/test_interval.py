"""The Wilson score interval against hand-computed values."""

from __future__ import annotations

import pytest

from unlearnkit.eval.metrics.interval import wilson_interval


@pytest.mark.parametrize(
    "correct,total,expected",
    [
        # p = 0.8, n = 10: centre (0.8 + 0.19208) / 1.38415 = 0.71675, half 0.22658
        (8, 10, (0.49016, 0.94332)),
        (0, 5, (0.0, 0.43448)),  # 0 of 5: the upper bound is z²/(n + z²)
        (5, 5, (0.56552, 1.0)),
        (50, 100, (0.40383, 0.59617)),
    ],
)
def test_wilson_interval_matches_hand_computed_bounds(correct, total, expected):
    assert wilson_interval(correct, total) == pytest.approx(expected, abs=1e-5)


def test_wilson_interval_rejects_impossible_counts():
    with pytest.raises(ValueError):
        wilson_interval(3, 0)
    with pytest.raises(ValueError):
        wilson_interval(6, 5)
