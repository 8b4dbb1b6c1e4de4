"""`eval.skip`: `unlearn run` trains (and saves) only, and metrics.json says it did not evaluate."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import ModelCard

from test_methods_common import one_thread  # noqa: F401 - an autouse fixture
from test_reliability_common import cli, error_lines, run_args, write_data
from unlearnkit.model_card import CARD
from unlearnkit.models import load_model
from unlearnkit.train.progress import TRAIN_LOG


def test_skip_trains_saves_and_writes_unevaluated_metrics(capfd, run_data, model_dir, tmp_path):
    out = tmp_path / "run"
    argv = run_args(run_data, model_dir, out, "eval.skip=true", "--save-model")
    status, _, err = cli(capfd, argv)
    assert status == 0, err
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["evaluated"] is False and metrics["not_evaluated"] == "eval.skip"
    assert metrics["metrics"] == {} and metrics["train"]["steps"] == 2
    assert metrics["benchmark"] == "tofu" and metrics["split"] == "forget01"
    assert not (out / "items").exists()  # no eval rows
    assert len((out / TRAIN_LOG).read_text(encoding="utf-8").splitlines()) == 2
    load_model(out / "model", device="cpu", dtype="fp32")
    meta = ModelCard.load(out / "model" / CARD).data.unlearnkit
    assert meta["evaluated"] is False and meta["metrics"] == {}


def test_skip_does_not_need_the_eval_sets(capfd, model_dir, tmp_path):
    """Only the training data: the eval sets (perturbed, holdout, ...) are not read."""
    data = tmp_path / "tofu"
    write_data(data)
    for name in ("forget01_perturbed", "real_authors_perturbed", "holdout01"):
        (data / f"{name}.json").unlink()
    out = tmp_path / "run"
    assert cli(capfd, run_args(data, model_dir, out))[0] == 2  # an evaluating run needs them
    status, _, err = cli(capfd, run_args(data, model_dir, out, "eval.skip=true"))
    assert status == 0, err
    assert json.loads((out / "metrics.json").read_text(encoding="utf-8"))["evaluated"] is False


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--attacks", "quantize"], "attacks"),
        (["eval.extra_benchmarks=[muse]"], "extra_benchmarks"),
    ],
)
def test_skip_with_an_evaluation_asked_for_is_one_line(
    capfd, run_data, model_dir, tmp_path, extra, named
):
    out = tmp_path / "run"
    status, _, err = cli(capfd, run_args(run_data, model_dir, out, "eval.skip=true", *extra))
    assert status == 2
    (line,) = error_lines(err)
    assert "eval.skip" in line and named in line
    assert not out.exists()
