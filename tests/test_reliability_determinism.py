"""Determinism: the same seed and config give identical metrics and losses on CPU; the seed matters."""

from __future__ import annotations

import json
from pathlib import Path

from test_reliability_common import (  # noqa: F401 - one_thread is an autouse fixture
    cli,
    one_thread,
    run_args,
    save_model,
    write_data,
)

SETTINGS = ["train.max_steps=6", "train.save_steps=3", "eval.max_new_tokens=4"]


def _run(capfd, data: Path, model: Path, out: Path, *extra: str) -> dict:
    status, _, err = cli(capfd, run_args(data, model, out, *SETTINGS, *extra, method="npo"))
    assert status == 0, err
    return json.loads((out / "metrics.json").read_text())


def _losses(result: dict) -> list[tuple[int, float]]:
    return [(h["step"], h["loss"]) for h in result["train"]["log_history"] if "loss" in h]


def test_same_seed_same_metrics_other_seed_other_losses(tmp_path, capfd):
    data, model = write_data(tmp_path / "tofu"), save_model(tmp_path / "model", trained=True)
    first = _run(capfd, data, model, tmp_path / "a")
    second = _run(capfd, data, model, tmp_path / "b")
    assert first["metrics"] == second["metrics"]
    assert _losses(first) == _losses(second) and len(_losses(first)) == 6
    items = sorted(p.name for p in (tmp_path / "a" / "items").iterdir())
    for name in items:
        a = (tmp_path / "a" / "items" / name).read_text()
        assert a == (tmp_path / "b" / "items" / name).read_text(), name

    other = _run(capfd, data, model, tmp_path / "c", "train.seed=1")
    assert _losses(other) != _losses(first)
