"""The output folder: one command at a time (a lock), ``--overwrite`` that never damages the run
it replaces, write failures in one line with nothing half-written left behind, and a run the
divergence guard stopped with nothing good to keep that says so and exits non-zero."""

from __future__ import annotations

import errno
import json
import time
from pathlib import Path

import pytest

from test_reliability_common import (  # noqa: F401 - one_thread is an autouse fixture
    cli,
    error_lines,
    one_thread,
    run_args,
    save_model,
    snapshot,
    unlearn_process,
    unlearn_subprocess,
    write_data,
)
from unlearnkit.errors import UserError

LEFTOVER_MARKS = (".staging", ".tmp", ".new-", ".old", ".lock")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_data(tmp_path_factory.mktemp("tofu"))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_model(tmp_path_factory.mktemp("model"))


def messages(err: str) -> list[str]:
    """The lines of stderr that are not progress bars."""
    return [line for line in error_lines(err) if "%|" not in line]


def the_error(status: int, out: str, err: str, command: str, expected: int = 2) -> str:
    """The one error line of a command that failed with status ``expected`` and no traceback."""
    assert status == expected, (status, out, err)
    assert "Traceback" not in err + out
    lines = [line for line in messages(err) if line.startswith(f"unlearn {command}: error: ")]
    assert len(lines) == 1 and messages(err)[-1] == lines[0], err
    return lines[0]


def leftovers(root: Path) -> list[str]:
    """Staging, temporary, lock and half-built replacement files or folders under ``root``."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if any(m in p.name for m in LEFTOVER_MARKS)
    )


def commands(data: Path, model: Path, out: Path) -> dict[str, list]:
    """The four commands that write an output folder, each given ``out``."""
    common = ["--data", data, "--split", "forget01", "--device", "cpu", "--batch-size", "16"]
    return {
        "run": run_args(data, model, out, "--overwrite"),
        "eval": ["eval", "--model", model, *common, "--max-new-tokens", "2", "--out", out],
        "attack": ["attack", "prefill", "--model", model, *common, "--k", "1", "--out", out],
        "finetune": ["finetune", "--model", model, "--data", data, "--split", "forget01"]
        + ["--epochs", "1", "--out", out, "--overwrite"],
    }


# ---- one command at a time ---------------------------------------------------------------------

PAUSE = """
import pathlib, time
import unlearnkit.api as api
_run = api.run
def paused(*args, **kwargs):
    pathlib.Path({ready!r}).touch()
    while not pathlib.Path({go!r}).exists():
        time.sleep(0.05)
    return _run(*args, **kwargs)
api.run = paused
"""


def test_a_second_command_into_a_busy_out_stops_at_once_and_writes_nothing(
    data, model, tmp_path, capfd
):
    runs, ready, go = tmp_path / "runs", tmp_path / "ready", tmp_path / "go"
    out = runs / "shared"
    first = unlearn_process(
        run_args(data, model, out), prelude=PAUSE.format(ready=str(ready), go=str(go))
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():  # the first run holds --out and waits
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.05)
        before = snapshot(runs)
        for name, argv in commands(data, model, out).items():
            status, stdout, err = cli(capfd, argv)
            line = the_error(status, stdout, err, name)
            assert f"another unlearn command (pid {first.pid}) is writing to {out}" in line
            assert snapshot(runs) == before, name
    finally:
        go.touch()
        stdout, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert json.loads((out / "metrics.json").read_text())["metrics"]
    assert leftovers(tmp_path) == []


# ---- --overwrite replaces a run only with a complete one ---------------------------------------


def _old_run(folder: Path) -> dict[str, bytes]:
    """A finished run folder with a checkpoint and a file no new run writes."""
    (folder / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (folder / "checkpoints" / "checkpoint-2" / "model.safetensors").write_bytes(b"old weights")
    (folder / "config.yaml").write_text("method: npo\n")
    (folder / "metrics.json").write_text('{"earlier": "run"}\n')
    (folder / "notes.txt").write_text("mine\n")
    return snapshot(folder)


def _refuse_late(*args, **kwargs):
    raise UserError("the eval data was refused after training")


def _crash_late(*args, **kwargs):
    raise RuntimeError("crash after training")


def test_overwrite_refused_after_training_leaves_the_old_run_intact(
    data, model, tmp_path, capfd, monkeypatch
):
    import unlearnkit.eval.run

    out = tmp_path / "runs" / "ga"
    before = _old_run(out)
    monkeypatch.setattr(unlearnkit.eval.run, "evaluate", _refuse_late)
    argv = run_args(data, model, out, "train.save_steps=1", "--overwrite")
    status, stdout, err = cli(capfd, argv)
    assert "refused after training" in the_error(status, stdout, err, "run")
    assert snapshot(out) == before
    assert leftovers(tmp_path) == []

    monkeypatch.setattr(unlearnkit.eval.run, "evaluate", _crash_late)
    with pytest.raises(RuntimeError, match="crash after training"):
        cli(capfd, argv)
    assert snapshot(out) == before
    assert leftovers(tmp_path) == []


def test_overwrite_that_succeeds_replaces_the_whole_folder(data, model, tmp_path, capfd):
    out = tmp_path / "runs" / "ga"
    _old_run(out)
    status, stdout, err = cli(capfd, run_args(data, model, out, "--overwrite"))
    assert status == 0, err
    assert not (out / "notes.txt").exists() and not (out / "checkpoints" / "checkpoint-2").exists()
    assert json.loads((out / "metrics.json").read_text())["metrics"]
    assert f"out: {out}" in (out / "config.yaml").read_text()  # the real folder, not the work one
    assert leftovers(tmp_path) == []


# ---- write failures ----------------------------------------------------------------------------


def _fail_weights(errno_: int):
    def save_file(tensors, filename, metadata=None):
        raise OSError(errno_, "simulated write failure", filename)

    return save_file


@pytest.mark.parametrize(
    ("errno_", "fix"),
    [(errno.ENOSPC, "free some disk space"), (errno.EROFS, "check the permissions")],
    ids=["disk full", "read-only"],
)
def test_write_failure_in_a_checkpoint_is_one_line_and_leaves_nothing(
    data, model, tmp_path, capfd, monkeypatch, errno_, fix
):
    import transformers.modeling_utils

    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", _fail_weights(errno_))
    out = tmp_path / "runs" / "ga"
    status, stdout, err = cli(capfd, run_args(data, model, out, "train.save_steps=1"))
    line = the_error(status, stdout, err, "run")
    assert "simulated write failure" in line and fix in line
    assert not out.exists()  # nothing published: the new folder goes
    assert leftovers(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("limit", [100_000, 200_000], ids=["weights", "optimizer state"])
def test_file_size_limit_is_one_line_and_leaves_nothing(data, model, tmp_path, limit):
    """A real process under ``ulimit -f``: 100 kB stops the weights (safetensors), 200 kB the
    optimizer state (torch.save); without care the process dies of SIGXFSZ."""
    prelude = f"import resource\nresource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))"
    out = tmp_path / "runs" / "ga"
    argv = run_args(data, model, out, "train.save_steps=1", method="npo")
    status, stdout, err = unlearn_subprocess(argv, prelude=prelude)
    line = the_error(status, stdout, err, "run")
    assert "file-size limit" in line or "File too large" in line, line
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_file_size_limit_on_a_resumable_run_keeps_its_checkpoints(
    data, model, tmp_path, capfd, monkeypatch
):
    """A failure after a published checkpoint keeps the folder (it resumes), minus the staging."""
    import transformers.modeling_utils

    real = transformers.modeling_utils.safe_save_file
    calls = []

    def second_fails(tensors, filename, metadata=None):
        calls.append(filename)
        if len(calls) > 1:
            raise OSError(errno.EFBIG, "File too large", filename)
        return real(tensors, filename, metadata=metadata)

    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", second_fails)
    out = tmp_path / "runs" / "ga"
    status, stdout, err = cli(capfd, run_args(data, model, out, "train.save_steps=1"))
    assert "ulimit -f" in the_error(status, stdout, err, "run")
    assert (out / "checkpoints" / "checkpoint-1").is_dir()
    assert leftovers(tmp_path) == []


# ---- the divergence guard with nothing good to keep --------------------------------------------


def test_run_diverged_from_the_start_exits_3_and_keeps_no_model(data, model, tmp_path, capfd):
    out = tmp_path / "run"
    argv = run_args(data, model, out, "guard.max_forget_loss=0.01", "--save-model")
    status, stdout, err = cli(capfd, argv)
    line = the_error(status, stdout, err, "run", expected=3)
    assert "no good checkpoint" in line and "keeps config.yaml, metrics.json" in line
    # which threshold tripped, at which step, and what to change
    assert "training stopped at step 1 (forget_nll = " in line
    assert "is above guard.max_forget_loss = 0.01" in line
    assert "the starting model is already above guard.max_forget_loss" in line
    assert "raise guard.max_forget_loss above " in line
    assert "no state after the start passed the guard" in stdout
    assert "save_steps" not in stdout + line  # no checkpoint could have helped: no such advice
    result = json.loads((out / "metrics.json").read_text())
    assert result["evaluated"] is False and result["metrics"] == {}
    assert result["guard"]["stopped"] and result["guard"]["verified_step"] is None
    assert not (out / "model").exists()  # the diverged model is not published
    assert "run written to" not in stdout
