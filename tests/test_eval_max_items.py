"""``eval.max_items``: a deterministic, evenly spaced subset of every eval set, scored exactly as in
the full eval, numbered by the full set, compared with the retain model on the same items."""

from __future__ import annotations

import pytest

from test_attacks_common import write_tofu_eval
from test_methods_common import tiny_model, tiny_tokenizer
from test_reliability_common import cli, error_lines
from unlearnkit.eval.metrics import aggregate as agg
from unlearnkit.eval.recompute import recompute
from unlearnkit.eval.results import read_rows
from unlearnkit.eval.run import evaluate
from unlearnkit.eval.tofu import EvalSettings, pick_items


def test_pick_items_spreads_evenly_and_keeps_all_by_default():
    assert pick_items(10, 3) == [0, 3, 6]
    assert pick_items(40, 4) == [0, 10, 20, 30]
    assert pick_items(5, None) == pick_items(5, 5) == pick_items(5, 9) == [0, 1, 2, 3, 4]


@pytest.fixture(scope="module")
def evals(tmp_path_factory):
    root = tmp_path_factory.mktemp("max_items")
    data = write_tofu_eval(root / "tofu")
    model, tok = tiny_model(), tiny_tokenizer()
    quick = {"max_new_tokens": 2, "progress": False}
    retain = evaluate(
        "tofu",
        tiny_model(seed=1),
        tok,
        data,
        "forget01",
        root / "retain",
        settings=EvalSettings(**quick),
    )
    assert retain["max_items"] is None
    full = evaluate(
        "tofu", model, tok, data, "forget01", root / "full", root / "retain", EvalSettings(**quick)
    )
    small = evaluate(
        "tofu",
        model,
        tok,
        data,
        "forget01",
        root / "small",
        root / "retain",
        EvalSettings(max_items=2, **quick),
    )
    return root, full, small


def _assert_same_row(row: dict, full: dict) -> None:
    """Equal fields; scores up to the float noise of another batch composition."""
    assert row.keys() == full.keys()
    for key, value in row.items():
        numeric = isinstance(value, float) or (
            isinstance(value, list) and all(isinstance(v, float) for v in value)
        )
        if numeric:
            assert value == pytest.approx(full[key], rel=1e-4, abs=1e-5), key
        else:
            assert value == full[key], key


def test_subset_rows_are_the_full_rows_of_the_picked_items(evals):
    root, full, small = evals
    assert small["max_items"] == 2
    full_rows, small_rows = read_rows(root / "full"), read_rows(root / "small")
    for name, rows in small_rows.items():
        n = len(full_rows[name])
        assert [r["index"] for r in rows] == pick_items(n, 2), name
        by_index = {r["index"]: r for r in full_rows[name]}
        for row in rows:
            _assert_same_row(row, by_index[row["index"]])
    assert small["counts"][agg.FORGET] == 2 < full["counts"][agg.FORGET]


def test_forget_quality_of_a_subset_uses_the_retain_rows_of_the_same_items(evals, tmp_path):
    root, _, small = evals
    # The same aggregate, against a retain eval cut to the same items by hand.
    retain_rows = read_rows(root / "retain")[agg.FORGET]
    picked = [r["index"] for r in read_rows(root / "small")[agg.FORGET]]
    same = [retain_rows[i] for i in picked]
    expected = agg.tofu_aggregate(read_rows(root / "small"), agg.item_truth_ratios(same))
    assert small["metrics"]["forget_quality"] == pytest.approx(expected["forget_quality"])
    assert recompute(root / "small", write=False)["metrics"] == small["metrics"]


def test_a_bad_max_items_is_one_line(capfd, tmp_path):
    status, _, err = cli(
        capfd, ["eval", "--model", tmp_path, "--max-items", "0", "--out", tmp_path / "o"]
    )
    assert status == 2
    (line,) = error_lines(err)
    assert "--max-items must be positive" in line
