"""``eval.every_steps``: a run scores forget and retain items at step 0, every k steps and at the
end into curve.json, with the numbers its own final evaluation gives; a sweep reads the curves
for its equal-forgetting comparison."""

from __future__ import annotations

import json

import pytest
import yaml

from test_methods_common import FORGET, RETAIN
from test_reliability_common import cli, run_args
from test_sweep_run import grid_file
from unlearnkit.eval.curve import curve_point
from unlearnkit.eval.tofu import EvalSettings
from unlearnkit.models import load_model, load_tokenizer
from unlearnkit.sweep.stats import at_level


def test_the_curve_has_the_expected_steps_and_the_runs_numbers(
    capfd, tmp_path, run_data, model_dir
):
    out = tmp_path / "run"
    extra = ["train.max_steps=5", "eval.every_steps=2", "eval.curve_items=50"]
    status, _, err = cli(capfd, run_args(run_data, model_dir, out, *extra))
    assert status == 0, err
    curve = json.loads((out / "curve.json").read_text())
    assert [p["step"] for p in curve["points"]] == [0, 2, 4, 5]  # start, every 2, the end
    assert curve["every_steps"] == 2 and curve["items"] == {"forget": len(FORGET), "retain": 4}
    final, metrics = curve["points"][-1], json.loads((out / "metrics.json").read_text())["metrics"]
    for key in ("forget_probability", "forget_rouge", "retain_probability", "retain_rouge"):
        assert final[key] == pytest.approx(metrics[key], abs=1e-5), key
    # Step 0 is the starting model, scored the same way.
    tok = load_tokenizer(str(model_dir))
    sets = {
        "forget": [{"question": q, "answer": a} for q, a in FORGET],
        "retain": [{"question": q, "answer": a} for q, a in RETAIN[:4]],
    }
    start = curve_point(load_model(str(model_dir), device="cpu"), tok, sets, _settings())
    assert curve["points"][0] == pytest.approx({"step": 0, **start}, abs=1e-5)
    assert final["forget_probability"] < start["forget_probability"]  # GA at lr 1e-3 forgets


def _settings() -> EvalSettings:
    return EvalSettings(max_new_tokens=2, max_length=64, progress=False)


def test_curve_utility_gives_the_runs_model_utility(capfd, tmp_path, run_data, model_dir):
    out = tmp_path / "run"
    extra = ["train.max_steps=2", "eval.every_steps=2", "eval.curve_items=50"]
    status, _, err = cli(
        capfd, run_args(run_data, model_dir, out, *extra, "eval.curve_utility=true")
    )
    assert status == 0, err
    curve = json.loads((out / "curve.json").read_text())
    assert set(curve["items"]) == {"forget", "retain", "real_authors", "world_facts"}
    final, metrics = curve["points"][-1], json.loads((out / "metrics.json").read_text())["metrics"]
    keys = (
        "model_utility",
        "retain_truth_ratio",
        "real_authors_rouge",
        "forget_rouge",
        "retain_rouge",
    )
    for key in keys:
        assert final[key] == pytest.approx(metrics[key], abs=1e-5), key
    assert curve["points"][0]["model_utility"] != pytest.approx(final["model_utility"], abs=1e-6)


def test_the_curve_leaves_training_as_it_was(capfd, tmp_path, run_data, model_dir):
    runs = {}
    for every in (0, 1):
        out = tmp_path / f"every{every}"
        argv = run_args(run_data, model_dir, out, "train.max_steps=3", f"eval.every_steps={every}")
        assert cli(capfd, argv)[0] == 0
        runs[every] = json.loads((out / "metrics.json").read_text())
    assert (tmp_path / "every1" / "curve.json").is_file()
    assert not (tmp_path / "every0" / "curve.json").exists()
    assert runs[1]["metrics"] == runs[0]["metrics"]
    losses = [[h["loss"] for h in r["train"]["log_history"] if "loss" in h] for r in runs.values()]
    assert losses[0] == losses[1] and len(losses[0]) == 3


def test_curve_items_pick_evenly_spaced_items(capfd, tmp_path, run_data, model_dir):
    out = tmp_path / "run"
    extra = ["train.max_steps=1", "eval.every_steps=1", "eval.curve_items=2"]
    status, _, err = cli(capfd, run_args(run_data, model_dir, out, *extra))
    assert status == 0, err
    curve = json.loads((out / "curve.json").read_text())
    assert curve["items"] == {"forget": 2, "retain": 2} and len(curve["points"]) == 2


def test_a_negative_every_steps_is_a_one_line_error(capfd, tmp_path, run_data, model_dir):
    status, _, err = cli(
        capfd, run_args(run_data, model_dir, tmp_path / "r", "eval.every_steps=-1")
    )
    assert status == 2 and "eval.every_steps must be >= 0" in err and not (tmp_path / "r").exists()


def test_the_sweep_reads_utility_at_equal_forgetting_off_the_curves(
    capfd, tmp_path, run_data, model_dir
):
    grid = grid_file(
        tmp_path,
        run_data,
        model_dir,
        methods=["ga"],
        seeds=[0],
        equal_forgetting={"forget": "forget_probability", "utility": "retain_rouge", "levels": [0]},
    )
    tree = yaml.safe_load(grid.read_text())
    tree["set"].update({"train.max_steps": 4, "eval.every_steps": 1})
    out = tmp_path / "out"
    grid.write_text(yaml.safe_dump(tree, sort_keys=False))
    status, stdout, err = cli(capfd, ["sweep", grid, "--out", out])
    assert status == 0, err
    points = json.loads((out / "cells" / "ga__seed=0" / "curve.json").read_text())["points"]
    curve_start = points[0]["forget_probability"]
    level = round((curve_start + points[-1]["forget_probability"]) / 2, 4)  # reached on the way
    tree["equal_forgetting"]["levels"] = [level, 1.5]  # 1.5: a probability is never above 1
    grid.write_text(yaml.safe_dump(tree, sort_keys=False))
    status, stdout, err = cli(capfd, ["sweep", grid, "--out", out, "--summary-only"])
    assert status == 0, err
    summary = json.loads((out / "summary.json").read_text())
    at = summary["groups"][0]["equal_forgetting"]
    expected = at_level(points, "forget_probability", "retain_rouge", level)
    assert expected is not None and at[f"{level:g}"]["mean"] == pytest.approx(expected)
    assert at[f"{level:g}"]["reached"] == 1 and at[f"{level:g}"]["low"] is None  # one seed
    assert at["1.5"] == {"curves": 1, "reached": 0, "first_segment": 0, "values": [], "mean": None}
    md = (out / "summary.md").read_text()
    assert "Equal forgetting: retain_rouge where forget_probability reaches" in md
    assert "— (0/1)" in md
    assert "](summary_files/equal_forgetting.png)" in md
    assert (out / "summary_files" / "equal_forgetting.png").read_bytes()[:4] == b"\x89PNG"
    status, _, err = cli(capfd, ["report", out / "cells", "--out", out / "report"])
    assert status == 0, err
    assert (out / "report" / "report_files" / "curves.png").is_file()
    assert "Utility against forgetting" in (out / "report" / "report.md").read_text()
