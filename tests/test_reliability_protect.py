"""No command writes into what it reads: ``--out`` equal to, inside or containing its data, model,
tokenizer, retain model, retain eval, world (or the runs a report reads) is refused up front in one
line, status 2, with or without ``--overwrite``, and every input keeps its bytes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from test_reliability_common import (  # noqa: F401 - one_thread is an autouse fixture
    cli,
    error_lines,
    one_thread,
    save_model,
    snapshot,
    write_data,
)
from unlearnkit.errors import UserError
from unlearnkit.protect import guard_inputs

RELATIONS = ("is", "is inside", "contains")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """Every kind of input side by side under ``root/inputs``."""
    root = tmp_path_factory.mktemp("protect")
    inputs = root / "inputs"
    write_data(inputs / "data")
    save_model(inputs / "model")
    shutil.copytree(inputs / "model", inputs / "retain_model")
    eval_dir = inputs / "retain_eval"
    (eval_dir / "items").mkdir(parents=True)
    (eval_dir / "metrics.json").write_text(json.dumps({"benchmark": "tofu", "metrics": {}}))
    (eval_dir / "items" / "forget.jsonl").write_text('{"index": 0}\n')
    world = inputs / "world"
    shutil.copytree(inputs / "data", world / "data" / "tofu")
    (world / "world.json").write_text(json.dumps({"preset": {"name": "tiny"}}))
    run = inputs / "run"
    run.mkdir()
    (run / "metrics.json").write_text(
        json.dumps({"benchmark": "tofu", "role": "unlearned", "metrics": {"forget_rouge": 0.5}})
    )
    return root


def command(name: str, flag: str, root: Path, out: Path) -> list:
    """``unlearn NAME`` reading the input of ``flag`` (the others as the command needs them)."""
    i = root / "inputs"
    data = i / "world" if flag == "world" else i / "data"
    retain = {"retain_model": ["--retain-model", i / "retain_model"]}.get(flag, [])
    retain = retain or {"retain_eval": ["--retain-eval", i / "retain_eval"]}.get(flag, [])
    base = ["--model", i / "model", "--data", data, "--split", "forget01", "--device", "cpu"]
    argv = {
        "run": ["run", "--method", "ga", *base, *retain, "train.max_steps=1"],
        "eval": ["eval", *base, *retain, "--max-new-tokens", "1"],
        "attack": ["attack", "prefill", *base, *retain, "--k", "1"],
        "finetune": ["finetune", "--model", i / "model", "--data", data, "--epochs", "1"],
    }[name]
    return [*argv, "--out", out, "--overwrite"]


CASES = [
    (name, flag)
    for name, flags in {
        "run": ("data", "model", "retain_model", "retain_eval", "world"),
        "eval": ("data", "model", "retain_model", "retain_eval", "world"),
        "attack": ("data", "model", "retain_eval", "world"),
        "finetune": ("data", "model", "world"),
    }.items()
    for flag in flags
]


def out_for(relation: str, source: Path) -> Path:
    return {"is": source, "is inside": source / "sub" / "out", "contains": source.parent}[relation]


def assert_refused(capfd, argv: list, name: str, relation: str, root: Path) -> str:
    before = snapshot(root)
    status, stdout, err = cli(capfd, argv)
    assert status == 2, (status, stdout, err)
    # (a run on a world without --config says which world config it uses: a note, not an error)
    (line,) = [x for x in error_lines(err) if not x.startswith("unlearn run: no --config given")]
    assert line.startswith(f"unlearn {name}: error: --out ") and f" {relation} " in line, line
    assert "never writes into what it reads" in line
    assert snapshot(root) == before, "an input changed"
    assert sorted(p.name for p in root.iterdir()) == ["inputs"]
    return line


@pytest.mark.parametrize("relation", RELATIONS)
@pytest.mark.parametrize(("name", "flag"), CASES, ids=[f"{n}-{f}" for n, f in CASES])
def test_out_on_an_input_is_refused_and_no_input_changes(root, capfd, name, flag, relation):
    source = root / "inputs" / flag
    out = out_for(relation, source)
    line = assert_refused(capfd, command(name, flag, root, out), name, relation, root)
    assert not (source / "sub").exists()
    if relation != "contains":
        assert str(source) in line


@pytest.mark.parametrize("name", ["run", "eval", "finetune"])
def test_a_symlink_is_no_way_around(root, tmp_path, capfd, name):
    link = root / "inputs" / "link"
    link.symlink_to(root / "inputs" / "data", target_is_directory=True)
    try:
        assert_refused(capfd, command(name, "data", root, link), name, "is", root)
    finally:
        link.unlink()


def test_without_overwrite_too(root, capfd):
    argv = [
        a for a in command("eval", "model", root, root / "inputs" / "model") if a != "--overwrite"
    ]
    assert_refused(capfd, argv, "eval", "is", root)


def test_run_config_file_inside_out_is_refused(root, capfd, tmp_path):
    config = root / "inputs" / "data" / "ga.yaml"
    config.write_text("method: ga\n")
    try:
        argv = command("run", "model", root, root / "inputs" / "data") + ["--config", config]
        assert "contains --config" in assert_refused(capfd, argv, "run", "contains", root)
    finally:
        config.unlink()


def test_report_out_inside_a_run_it_reads_is_refused(root, capfd):
    run = root / "inputs" / "run"
    assert_refused(capfd, ["report", run, "--out", run / "items"], "report", "is inside", root)


@pytest.mark.parametrize("relation", RELATIONS)
def test_demo_out_on_its_world_is_refused(tmp_path, capfd, monkeypatch, relation):
    home = tmp_path / "home"
    monkeypatch.setenv("UNLEARNKIT_HOME", str(home))
    world = home / "worlds" / "tiny-seed0"
    world.mkdir(parents=True)
    (world / "world.json").write_text("{}")
    before = snapshot(home)
    status, stdout, err = cli(
        capfd, ["demo", "--quick", "--out", out_for(relation, world), "--overwrite"]
    )
    assert status == 2, err
    (line,) = error_lines(err)
    assert line.startswith("unlearn demo: error: --out ") and f" {relation} the world" in line
    assert snapshot(home) == before


# ---- the guard alone ---------------------------------------------------------------------------


def test_guard_compares_folders_not_names(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data2").mkdir()
    guard_inputs(tmp_path / "data2", {"--data": tmp_path / "data"}, "run")  # a sibling: fine
    guard_inputs(tmp_path / "data" / "x", {"--data": "owner/hub-id", "--model": None}, "run")
    with pytest.raises(UserError, match="is inside --data"):
        guard_inputs(tmp_path / "data2" / ".." / "data" / "x", {"--data": tmp_path / "data"}, "run")


def test_report_may_write_beside_the_runs_it_reads(tmp_path):
    (tmp_path / "run").mkdir()
    guard_inputs(tmp_path / "run", {"run": tmp_path / "run"}, "report", inside_only=True)
    guard_inputs(tmp_path, {"run": tmp_path / "run"}, "report", inside_only=True)
    with pytest.raises(UserError, match="is inside"):
        guard_inputs(tmp_path / "run" / "x", {"run": tmp_path / "run"}, "report", inside_only=True)
