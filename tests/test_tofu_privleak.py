"""TOFU privleak: Min-K% AUC of forget vs holdout answers against the retain model's, on hand values."""

from __future__ import annotations

import pytest

from unlearnkit.benchmarks import get_benchmark
from unlearnkit.errors import UserError
from unlearnkit.eval.metrics import aggregate as agg
from unlearnkit.eval.results import write_rows

TOFU = get_benchmark("tofu")


def mia(scores: list[float], start: int = 0) -> list[dict]:
    """MIA rows whose Min-K% scores are ``scores`` (the other attacks: constant, not asked)."""
    return [
        {"index": start + i, "mink": s, "minkpp": s, "loss": 1.0, "zlib": 0.1}
        for i, s in enumerate(scores)
    ]


def forget_rows(n: int) -> list[dict]:
    return [{"index": i, "para_nll": 1.0, "perturbed_nlls": [1.5]} for i in range(n)]


def test_privleak_from_hand_computed_aucs(tmp_path):
    # model: members (−1, −2) vs non-members (−3, −1.5): 3 of 4 pairs ordered, AUC 0.75
    # retain: members (−2, −3) vs non-members (−1, −2.5): 1 of 4 pairs ordered, AUC 0.25
    # privleak = ((1 − 0.75) − (1 − 0.25)) / (1 − 0.25) × 100 = −66.67 (MUSE's orientation)
    retain = {
        agg.FORGET: forget_rows(2),
        agg.MIA_MEMBERS: mia([-2.0, -3.0]),
        agg.MIA_NONMEMBERS: mia([-1.0, -2.5]),
    }
    write_rows(tmp_path, retain)
    reference = TOFU.retain_reference(tmp_path)
    rows = {agg.MIA_MEMBERS: mia([-1.0, -2.0]), agg.MIA_NONMEMBERS: mia([-3.0, -1.5])}
    metrics = TOFU.aggregate(rows, reference)
    assert metrics["mia_mink"] == pytest.approx(0.75)
    assert metrics["privleak"] == pytest.approx(-200 / 3)


def test_privleak_compares_the_same_items_of_the_retain_model():
    """Under ``eval.max_items`` the retain model's AUC is taken on the items this eval scored."""
    reference = {
        "retain_mia": {
            agg.MIA_MEMBERS: mia([-2.0, 9.0, -3.0]),  # item 1 was not scored here: left out
            agg.MIA_NONMEMBERS: mia([-1.0, -2.5]),
        }
    }
    rows = {
        agg.MIA_MEMBERS: [dict(r, index=i) for r, i in zip(mia([-1.0, -2.0]), (0, 2))],
        agg.MIA_NONMEMBERS: mia([-3.0, -1.5]),
    }
    assert TOFU.aggregate(rows, reference)["privleak"] == pytest.approx(-200 / 3)
    rows[agg.MIA_NONMEMBERS] = mia([-3.0, -1.5], start=5)
    with pytest.raises(UserError, match="lacks 2 of the mia_nonmembers items"):
        TOFU.aggregate(rows, reference)


def test_no_privleak_without_the_retain_models_mia_rows():
    rows = {agg.MIA_MEMBERS: mia([-1.0]), agg.MIA_NONMEMBERS: mia([-3.0])}
    assert "privleak" not in TOFU.aggregate(rows, {})
    assert "privleak" not in TOFU.aggregate(rows, {"retain_mia": {}})


def test_tofu_report_has_a_privleak_column():
    spec = TOFU.metric("privleak")
    assert spec is not None and spec.better == "zero"
