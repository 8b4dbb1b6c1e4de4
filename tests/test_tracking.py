"""Experiment tracking (``train.report_to``), the per-step ``train_log.jsonl`` and the loss on the bar."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    tiny_config,
    tiny_tokenizer,
    trained_model,
)
from test_reliability_common import cli, error_lines, run_args
from unlearnkit.errors import UserError
from unlearnkit.train.progress import TRAIN_LOG, QuietProgressCallback, TrainLog, read_train_log
from unlearnkit.train.unlearn import LOGS, unlearn
from unlearnkit.train.validate import check_report_to

METHOD_KEYS = ("forget_loss", "retain_loss", "retain_nll")  # what npo logs beside its loss


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the TensorBoard event files under ``folder``: tag -> [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list[tuple[int, float]]] = {}
    files = sorted(folder.rglob("events.out.tfevents.*"))
    assert files, f"no event file under {folder}"
    for path in files:
        acc = EventAccumulator(str(path))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return out


def test_report_to_tensorboard_writes_the_methods_keys(data, tmp_path):
    pytest.importorskip("tensorboard")
    cfg = tiny_config(data, "npo", {}, max_steps=3, report_to=["tensorboard"])
    summary = unlearn(cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=False)
    scalars = _scalars(tmp_path / LOGS)
    assert [step for step, _ in scalars["train/loss"]] == [1, 2, 3]
    logged = [h["loss"] for h in summary["log_history"] if "loss" in h]
    assert [v for _, v in scalars["train/loss"]] == pytest.approx(logged, rel=1e-6)
    for key in METHOD_KEYS:
        assert len(scalars[f"train/{key}"]) == 3, key


def test_no_tracker_by_default_writes_no_event_file(data, tmp_path):
    cfg = tiny_config(data, "ga", {}, max_steps=1)
    assert cfg.train.report_to == ["none"]
    unlearn(cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=False)
    assert not list(tmp_path.rglob("events.out.tfevents.*"))


def test_cli_report_to_tensorboard_logs_under_the_run_folder(capfd, run_data, model_dir, tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    argv = run_args(run_data, model_dir, out, "train.report_to=tensorboard", method="npo")
    status, _, err = cli(capfd, argv)
    assert status == 0, err
    scalars = _scalars(out / LOGS)
    assert len(scalars["train/loss"]) == 2 and "train/forget_loss" in scalars


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("train.report_to=[tensorbored]", "unknown train.report_to 'tensorbored'"),
        ("train.report_to=[none, tensorboard]", "'none' cannot go with"),
    ],
)
def test_cli_bad_tracker_is_one_line_before_anything_is_written(
    capfd, run_data, model_dir, tmp_path, value, words
):
    out = tmp_path / "run"
    status, _, err = cli(capfd, run_args(run_data, model_dir, out, value))
    assert status == 2
    (line,) = error_lines(err)
    assert words in line and "tensorboard" in line
    assert not out.exists()


def test_a_tracker_that_is_not_installed_names_its_package(monkeypatch):
    import transformers.integrations.integration_utils as hf

    monkeypatch.setattr(hf, "get_available_reporting_integrations", lambda: [])
    with pytest.raises(UserError, match=r"'wandb' needs its package.*pip install wandb"):
        check_report_to(["wandb"])
    check_report_to(["none"])


def test_train_log_has_one_line_per_logged_step(data, tmp_path):
    cfg = tiny_config(data, "npo", {}, max_steps=4, logging_steps=2)
    summary = unlearn(cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=False)
    lines = (tmp_path / TRAIN_LOG).read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["step"] for r in rows] == [2, 4]
    logged = [h for h in summary["log_history"] if "loss" in h]
    for row, h in zip(rows, logged, strict=True):
        assert row["loss"] == pytest.approx(h["loss"])
        assert all(math.isfinite(row[k]) for k in METHOD_KEYS)


def test_train_log_is_written_as_training_goes(data, tmp_path):
    """Each step's line is on disk when the next step starts: a killed run keeps the log so far."""
    from transformers import TrainerCallback

    seen: list[list[int]] = []

    class Peek(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            seen.append([r["step"] for r in read_train_log(tmp_path / TRAIN_LOG)])

    from unlearnkit.train.unlearn import build_trainer

    cfg = tiny_config(data, "ga", {}, max_steps=3)
    run = build_trainer(cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=False)
    run.trainer.add_callback(Peek)
    run.trainer.train()
    assert seen == [[], [1], [1, 2]]


def test_train_log_on_resume_keeps_each_step_once(tmp_path):
    path = tmp_path / TRAIN_LOG
    path.write_text(
        "".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in (1, 2, 3)) + '{"step": 4, "lo',
        encoding="utf-8",
    )
    log = TrainLog(path)
    state = SimpleNamespace(is_world_process_zero=True, global_step=2)
    log.on_train_begin(None, state, None)
    assert [r["step"] for r in read_train_log(path)] == [1, 2]
    state.global_step = 3
    log.on_log(None, state, None, logs={"loss": 0.5, "forget_loss": 2.0})
    log.on_log(None, state, None, logs={"train_runtime": 1.0})  # the end-of-training summary
    assert read_train_log(path)[-1] == {"step": 3, "loss": 0.5, "forget_loss": 2.0}
    assert len(read_train_log(path)) == 3


def test_progress_bar_shows_the_current_loss(data, tmp_path):
    postfixes: list[str] = []

    class Bar(QuietProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            super().on_log(args, state, control, logs=logs, **kwargs)
            if self.training_bar is not None and "loss" in (logs or {}):
                postfixes.append(self.training_bar.postfix)

    from unlearnkit.train.unlearn import build_trainer

    cfg = tiny_config(data, "ga", {}, max_steps=2)
    run = build_trainer(cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=True)
    run.trainer.remove_callback(QuietProgressCallback)
    run.trainer.add_callback(Bar)
    run.trainer.train()
    logged = [h["loss"] for h in run.trainer.state.log_history if "loss" in h]
    assert postfixes == [f"loss={v:.4g}" for v in logged]


def test_progress_bar_prints_no_logged_dict(data, tmp_path, capfd):
    cfg = tiny_config(data, "ga", {}, max_steps=2)
    unlearn(cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=True)
    _, err = capfd.readouterr()
    assert "loss=" in err and "{'loss'" not in err and "grad_norm" not in err


def test_resume_may_change_the_trackers(tmp_path):
    from unlearnkit.api import RunConfig
    from unlearnkit.config import dump_yaml
    from unlearnkit.preflight import check_resume_config

    before = RunConfig(out=str(tmp_path))
    (tmp_path / "config.yaml").write_text(dump_yaml(before), encoding="utf-8")
    after = RunConfig(out=str(tmp_path))
    after.train.report_to = ["tensorboard"]
    check_resume_config(after)  # no error: trackers do not change what is trained
    after.train.learning_rate = 1.0
    with pytest.raises(UserError, match="train.learning_rate"):
        check_resume_config(after)
