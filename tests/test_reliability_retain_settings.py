"""A retain eval is reused only under the eval settings it was scored with (``EvalSettings.key``:
every field but the speed-only ones): a run on a world under other settings gets a retain eval of
its own (computed once, cached outside the world, which a run never writes), and a ``--retain-eval``
folder scored under other settings is refused up front."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path

import pytest

from test_reliability_common import (  # noqa: F401 - one_thread is an autouse fixture
    cli,
    error_lines,
    one_thread,
    run_args,
    save_model,
    snapshot,
    write_data,
)
from unlearnkit.api import RunConfig, resolve_retain_eval
from unlearnkit.config import load_config
from unlearnkit.errors import UserError
from unlearnkit.eval.results import read_metrics
from unlearnkit.eval.run import evaluate_path
from unlearnkit.eval.tofu import SPEED_ONLY, EvalSettings

FAST = ["eval.max_new_tokens=2", "eval.max_items=8", "eval.batch_size=16"]


def world_cfg(world: Path, *overrides: str) -> RunConfig:
    return load_config(RunConfig, None, [f"data.path={world}", "device=cpu", *FAST, *overrides])


def test_the_key_is_every_setting_but_the_speed_only_ones():
    names = {f.name for f in fields(EvalSettings)}
    assert set(EvalSettings().key()) == names - set(SPEED_ONLY)
    assert EvalSettings(max_length=24).key() != EvalSettings().key()
    assert EvalSettings(batch_size=1, progress=False).key() == EvalSettings().key()


def test_a_world_retain_eval_is_never_reused_under_other_settings(
    tiny_world, tmp_path, monkeypatch
):
    monkeypatch.setenv("UNLEARNKIT_HOME", str(tmp_path / "home"))
    world = snapshot(tiny_world)
    short_cfg = world_cfg(tiny_world, "train.max_length=24")
    long_cfg = world_cfg(tiny_world, "train.max_length=64")
    short = resolve_retain_eval(short_cfg, "forget10")  # fills a cache with max_length 24
    long = resolve_retain_eval(long_cfg, "forget10")
    assert short != long
    assert read_metrics(short)["eval_settings"]["max_length"] == 24
    assert read_metrics(long)["eval_settings"]["max_length"] == 64
    assert resolve_retain_eval(long_cfg, "forget10") == long  # computed once, then reused

    # The retain model measured against its own eval under the same settings: forget quality 1.
    settings = EvalSettings(max_new_tokens=2, max_items=8, max_length=64, progress=False)
    retain = dict(
        tokenizer_path=tiny_world / "tokenizer", device="cpu", dtype="fp32", data=tiny_world
    )
    result = evaluate_path(
        "tofu", tiny_world / "models" / "retain", retain_eval=long, settings=settings, **retain
    )
    assert result["metrics"]["forget_quality"] == 1.0
    with pytest.raises(UserError, match="max_length=24"):  # never silently mixed
        evaluate_path(
            "tofu", tiny_world / "models" / "retain", retain_eval=short, settings=settings, **retain
        )
    assert snapshot(tiny_world) == world  # the world is read, never written


def scored_eval(folder: Path, **settings) -> Path:
    """A retain eval folder that records the settings it was scored under."""
    (folder / "items").mkdir(parents=True)
    key = EvalSettings(**settings).key()
    metrics = {"benchmark": "tofu", "metrics": {}, "eval_settings": key}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    row = {"index": 0, "nll": 1.0, "para_nll": 1.0, "perturbed_nlls": [2.0]}
    (folder / "items" / "forget.jsonl").write_text(json.dumps(row) + "\n")
    return folder


def test_a_retain_eval_folder_of_other_settings_is_refused_up_front(tmp_path, capfd, monkeypatch):
    import unlearnkit.models

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the retain eval was refused")

    data, model = write_data(tmp_path / "tofu"), save_model(tmp_path / "model")
    capfd.readouterr()  # saving the model drew a progress bar
    monkeypatch.setattr(unlearnkit.models, "load_model", refuse)
    folder = scored_eval(tmp_path / "retain", max_new_tokens=2, max_length=24)
    argv = run_args(data, model, tmp_path / "run", "--retain-eval", str(folder))
    status, _, err = cli(capfd, argv)  # run_args: train.max_length=64, eval.max_new_tokens=2
    assert status == 2, err
    lines = error_lines(err)
    assert len(lines) == 1, err
    line = lines[0]
    assert "max_length=24" in line and "max_length=64" in line and str(folder) in line
    assert not (tmp_path / "run").exists()

    common = ["--data", data, "--split", "forget01", "--device", "cpu", "--max-new-tokens", "2"]
    argv = ["eval", "--model", model, *common, "--retain-eval", folder, "--out", tmp_path / "e"]
    status, _, err = cli(capfd, argv)  # unlearn eval scores with max_length 256
    assert status == 2 and "max_length=24" in error_lines(err)[0], err


def test_the_same_settings_pass_and_a_full_eval_serves_a_subset(tmp_path):
    from unlearnkit.eval.run import check_retain_settings

    full = scored_eval(tmp_path / "full", max_length=64)
    check_retain_settings(full, EvalSettings(max_length=64, batch_size=3))
    check_retain_settings(full, EvalSettings(max_length=64, max_items=5))  # its rows at 5 indices
    subset = scored_eval(tmp_path / "subset", max_length=64, max_items=5)
    with pytest.raises(UserError, match="max_items=5"):
        check_retain_settings(subset, EvalSettings(max_length=64))
    with pytest.raises(UserError, match="max_new_tokens"):
        check_retain_settings(full, replace(EvalSettings(max_length=64), max_new_tokens=3))
