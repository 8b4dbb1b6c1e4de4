"""Holdout splits are optional for TOFU evaluation, but a broken one is an error, not a skip."""

from __future__ import annotations

import json

import pytest

from unlearnkit.data.sources import Source
from unlearnkit.errors import UserError
from unlearnkit.eval.tofu import _optional


def test_absent_holdout_is_skipped(tmp_path):
    assert _optional(Source("tofu", folder=tmp_path), "holdout10") is None


def test_present_holdout_is_loaded(tmp_path):
    (tmp_path / "holdout10.json").write_text(json.dumps({"question": "Q?", "answer": "A."}) + "\n")
    assert _optional(Source("tofu", folder=tmp_path), "holdout10") == [
        {"question": "Q?", "answer": "A."}
    ]


def test_broken_holdout_is_an_error(tmp_path):
    (tmp_path / "holdout10.json").write_text('{"question": "Q?", "answ')
    with pytest.raises(UserError, match="holdout10.json"):
        _optional(Source("tofu", folder=tmp_path), "holdout10")
