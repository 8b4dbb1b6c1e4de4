"""Two runs started at once into the same ``--out`` (named the same way, or one through a
symlink): one proceeds and finishes, the other is refused in one line, status 2, and the folder
holds the finished run, nothing half-written and no traceback."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from test_reliability_common import error_lines, run_args, save_model, unlearn_process, write_data

# Both processes import everything, then wait for the same instant to start the command.
AT_ONCE = """
import pathlib, time
import unlearnkit.api, unlearnkit.preflight, unlearnkit.commands.run
pathlib.Path({ready!r}).touch()
while not pathlib.Path({go!r}).exists():
    time.sleep(0.005)
"""
REFUSALS = (
    "unlearn run: error: another unlearn command (pid ",
    "unlearn run: error: output folder ",
)
LEFTOVER_MARKS = (".staging", ".tmp", ".new-", ".old", ".lock")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("race")
    return write_data(root / "tofu"), save_model(root / "model")


@pytest.mark.slow
@pytest.mark.parametrize("spelling", ["same path", "through a symlink"])
def test_two_runs_into_one_out_at_once_one_proceeds_one_is_refused(inputs, tmp_path, spelling):
    data, model = inputs
    runs, go = tmp_path / "runs", tmp_path / "go"
    runs.mkdir()
    out = runs / "shared"
    other = out
    if spelling == "through a symlink":
        other = tmp_path / "link"
        other.symlink_to(out, target_is_directory=True)  # dangling until the folder exists
    procs = []
    for i, where in enumerate((out, other)):
        ready = tmp_path / f"ready{i}"
        prelude = AT_ONCE.format(ready=str(ready), go=str(go))
        procs.append((ready, unlearn_process(run_args(data, model, where), prelude=prelude)))
    deadline = time.monotonic() + 120
    while not all(ready.exists() for ready, _ in procs):
        assert time.monotonic() < deadline and all(p.poll() is None for _, p in procs)
        time.sleep(0.02)
    go.touch()
    results = [(p.wait(timeout=300), *p.communicate()) for _, p in procs]
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [0, 2], results
    for status, stdout, err in results:
        assert "Traceback" not in stdout + err
        if status == 2:
            (line,) = [x for x in error_lines(err) if "%|" not in x and "WARNING" not in x]
            # the lock, or (if the other had already written) the folder that is no longer empty
            assert line.startswith(REFUSALS), line
    result = json.loads((out / "metrics.json").read_text())
    assert result["metrics"] and result["train"]["steps"] == 2
    leftovers = [p.name for p in tmp_path.rglob("*") if any(m in p.name for m in LEFTOVER_MARKS)]
    assert leftovers == []
