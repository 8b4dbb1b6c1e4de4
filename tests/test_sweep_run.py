"""`unlearn sweep` on the toy TOFU data and a tiny model: every cell is an `unlearn run`, a rerun
skips finished cells and reruns only a deleted or killed one, two workers give the same numbers,
and the summary averages over seeds."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import pytest
import yaml

from test_reliability_common import FAST, SPLIT, cli, unlearn_process
from unlearnkit.cli import main
from unlearnkit.sweep.stats import t_interval

# Two methods x two seeds, two steps each: a few seconds a cell.
CELL_SETTINGS = dict(kv.split("=", 1) for kv in FAST)


def grid_file(tmp_path: Path, data: Path, model: Path, **extra) -> Path:
    tree = {
        "set": {
            "model": str(model),
            "data.path": str(data),
            "data.split": SPLIT,
            "device": "cpu",
            "train.max_steps": 2,
            **{k: yaml.safe_load(v) for k, v in CELL_SETTINGS.items()},
        },
        "methods": ["ga", "gd"],
        "seeds": [0, 1],
        **extra,
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def swept(tmp_path_factory, run_data, model_dir) -> Path:
    """One finished sweep of four cells (one worker), copied by the tests that change it."""
    tmp = tmp_path_factory.mktemp("sweep")
    grid = grid_file(tmp, run_data, model_dir)
    assert main(["sweep", str(grid), "--out", str(tmp / "out")]) == 0
    return tmp


def signal_after_first_cell(argv: list, out: Path, sig: int) -> tuple[int, str, str]:
    """Start ``unlearn ARGV``, send ``sig`` once a cell has finished; (status, stdout, stderr)."""
    proc = unlearn_process(argv)
    try:
        deadline = time.monotonic() + 90
        while not list((out / "cells").glob("*/cell.json")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(sig)
    finally:
        stdout, stderr = proc.communicate(timeout=60)
    return proc.returncode, stdout, stderr


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def metrics_mtimes(out: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*/metrics.json")}


def test_cells_are_runs_and_the_summary_averages_over_seeds(swept):
    out = swept / "out"
    cells = sorted(p.name for p in (out / "cells").iterdir())
    assert cells == ["ga__seed=0", "ga__seed=1", "gd__seed=0", "gd__seed=1"]
    for name in cells:
        run = json.loads((out / "cells" / name / "metrics.json").read_text())
        assert run["method"] == name[:2] and run["train"]["steps"] == 2
        config = yaml.safe_load((out / "cells" / name / "config.yaml").read_text())
        assert config["train"]["seed"] == int(name[-1])
    s = summary(out)
    assert [g["group"] for g in s["groups"]] == ["ga", "gd"] and s["finished"] == 4
    ga = s["groups"][0]
    values = [
        json.loads((out / "cells" / f"ga__seed={i}" / "metrics.json").read_text())["metrics"][
            "forget_probability"
        ]
        for i in (0, 1)
    ]
    stat = ga["metrics"]["forget_probability"]
    assert stat["values"] == values and stat["n"] == 2
    assert stat["mean"] == pytest.approx(sum(values) / 2)
    assert stat["low"] == pytest.approx(t_interval(values)["low"])
    md = (out / "summary.md").read_text()
    assert "| ga | 2 |" in md and "95 % Student-t interval" in md


def test_rerun_runs_only_the_deleted_and_the_killed_cell(
    swept, tmp_path, capfd, run_data, model_dir
):
    out = tmp_path / "out"
    shutil.copytree(swept / "out", out)
    before, first = metrics_mtimes(out), summary(out)
    (out / "cells" / "ga__seed=1" / "metrics.json").unlink()  # a lost result
    killed = out / "cells" / "gd__seed=0"  # what a run killed mid-training leaves
    for name in ("metrics.json", "cell.json"):
        (killed / name).unlink()
    grid = grid_file(tmp_path, run_data, model_dir)
    status, stdout, err = cli(capfd, ["sweep", grid, "--out", out])
    assert status == 0, err
    assert "4 cells, 2 finished already, 2 to run" in stdout
    ran = [
        line.split("] ")[1].split(":")[0] for line in stdout.splitlines() if line.startswith("[")
    ]
    assert sorted(ran) == ["ga__seed=1", "gd__seed=0"]
    after = metrics_mtimes(out)
    assert set(after) == set(before)
    assert {n for n in before if after[n] == before[n]} == {"ga__seed=0", "gd__seed=1"}
    assert summary(out)["groups"] == first["groups"]  # the same numbers as the first sweep


def test_a_second_rerun_runs_nothing_and_dry_run_lists_the_cells(swept, capfd, run_data, model_dir):
    out = swept / "out"
    grid = grid_file(swept, run_data, model_dir)
    status, stdout, _ = cli(capfd, ["sweep", grid, "--out", out, "--dry-run"])
    assert status == 0 and stdout.count("finished") == 4
    before = metrics_mtimes(out)
    status, stdout, err = cli(capfd, ["sweep", grid, "--out", out])
    assert status == 0 and "0 to run" in stdout and metrics_mtimes(out) == before, err


def test_a_changed_setting_reruns_its_cells(swept, tmp_path, capfd, run_data, model_dir):
    out = tmp_path / "out"
    shutil.copytree(swept / "out", out)
    grid = grid_file(tmp_path, run_data, model_dir, axes={"train.learning_rate": [2e-3]})
    status, stdout, _ = cli(capfd, ["sweep", grid, "--out", out, "--dry-run"])
    assert (
        status == 0 and stdout.count("to run") == 4 and "ga__learning_rate=0.002__seed=0" in stdout
    )


def test_two_workers_give_the_numbers_of_one(swept, tmp_path, capfd, run_data, model_dir):
    grid = grid_file(tmp_path, run_data, model_dir)
    status, stdout, err = cli(capfd, ["sweep", grid, "--out", tmp_path / "out", "--workers", "2"])
    assert status == 0, err
    assert len([line for line in stdout.splitlines() if line.startswith("[")]) == 4
    assert summary(tmp_path / "out")["groups"] == summary(swept / "out")["groups"]
    assert (tmp_path / "out" / "logs" / "ga__seed=0.log").is_file()


def test_a_failing_cell_is_reported_and_the_others_finish(tmp_path, capfd, run_data, model_dir):
    grid = grid_file(
        tmp_path, run_data, model_dir, methods=["ga", {"method": "sga", "set": {"params.K": 99}}]
    )
    status, stdout, err = cli(capfd, ["sweep", grid, "--out", tmp_path / "out"])
    assert status == 1 and "FAILED" in stdout and "2 cells failed" in stdout
    assert summary(tmp_path / "out")["not_finished"] == ["sga__seed=0", "sga__seed=1"]
    log = (tmp_path / "out" / "logs" / "sga__seed=0.log").read_text()
    assert "unlearn run: error:" in log


def test_a_killed_sweep_continues_and_ends_with_the_same_table(
    swept, tmp_path, capfd, run_data, model_dir
):
    grid, out = grid_file(tmp_path, run_data, model_dir), tmp_path / "out"
    signal_after_first_cell(["sweep", grid, "--out", out], out, signal.SIGKILL)
    done = sorted(p.parent.name for p in (out / "cells").glob("*/cell.json"))
    assert 1 <= len(done) < 4, done  # killed between its first and its last cell
    kept = {n: t for n, t in metrics_mtimes(out).items() if n in done}
    status, stdout, err = cli(capfd, ["sweep", grid, "--out", out])
    assert status == 0, err
    assert f"{len(done)} finished already, {4 - len(done)} to run" in stdout
    assert {n: t for n, t in metrics_mtimes(out).items() if n in done} == kept  # not rerun
    assert summary(out)["groups"] == summary(swept / "out")["groups"]  # the uninterrupted table


def test_an_interrupted_cell_with_a_checkpoint_resumes_from_it(
    tmp_path, capfd, run_data, model_dir
):
    grid, out = grid_file(tmp_path, run_data, model_dir, methods=["ga"], seeds=[0]), tmp_path / "o"
    tree = yaml.safe_load(grid.read_text())
    tree["set"].update({"train.save_steps": 1, "eval.every_steps": 1})
    grid.write_text(yaml.safe_dump(tree, sort_keys=False))
    assert cli(capfd, ["sweep", grid, "--out", out])[0] == 0
    cell = out / "cells" / "ga__seed=0"
    for name in ("metrics.json", "cell.json"):  # killed while evaluating, after its checkpoints
        (cell / name).unlink()
    status, stdout, err = cli(capfd, ["sweep", grid, "--out", out])
    assert status == 0 and "1 to run" in stdout, err
    assert json.loads((cell / "cell.json").read_text())["argv"][-1] == "--resume"
    run = json.loads((cell / "metrics.json").read_text())
    assert run["train"]["resumed_from"].endswith("checkpoint-2") and run["train"]["steps"] == 2
    curve = json.loads((cell / "curve.json").read_text())["points"]
    assert [p["step"] for p in curve] == [0, 1, 2]  # the resumed run keeps its curve so far


def test_ctrl_c_stops_the_sweep_and_says_how_to_continue(tmp_path, run_data, model_dir):
    grid, out = grid_file(tmp_path, run_data, model_dir), tmp_path / "out"
    status, stdout, stderr = signal_after_first_cell(
        ["sweep", grid, "--out", out], out, signal.SIGINT
    )
    assert status == 130, stderr
    assert stderr.strip().endswith("run the same command again to continue")
    assert "[4/4]" not in stdout and not (out / "summary.json").exists()


def test_a_second_sweep_into_the_same_folder_stops_at_once(swept, capfd, run_data, model_dir):
    from unlearnkit.commands.common import output_dir

    out = swept / "out"
    grid = grid_file(swept, run_data, model_dir)
    with output_dir(out, overwrite=False, resume=True):  # another sweep holds the folder
        status, stdout, err = cli(capfd, ["sweep", grid, "--out", out])
    assert status == 2 and "another unlearn command" in err and "sweep:" not in stdout


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path, capfd, run_data, model_dir):
    grid, out = grid_file(tmp_path, run_data, model_dir, methods=["ga"], seeds=[0]), tmp_path / "o"
    tree = yaml.safe_load(grid.read_text())
    tree["set"]["train.save_steps"] = 1
    grid.write_text(yaml.safe_dump(tree, sort_keys=False))
    assert cli(capfd, ["sweep", grid, "--out", out])[0] == 0
    cell = out / "cells" / "ga__seed=0"
    (cell / "cell.json").unlink()  # interrupted, then the grid changed a setting of every cell
    tree["set"]["train.learning_rate"] = 2e-3
    grid.write_text(yaml.safe_dump(tree, sort_keys=False))
    status, stdout, err = cli(capfd, ["sweep", grid, "--out", out])
    assert status == 0 and "1 to run" in stdout, stdout + err
    assert json.loads((cell / "cell.json").read_text())["argv"][-1] != "--resume"
    assert json.loads((cell / "metrics.json").read_text())["train"]["resumed_from"] is None
