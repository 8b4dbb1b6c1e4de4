"""Files a user hands over, or an earlier run wrote, that do not parse: each is one line naming the
file, status 2, never a traceback (``io.reading``: JSON nested too deep, a retain eval's items cut
short, a checkpoint whose pickle asks for code on ``--resume``, YAML nested too deep, a prompt
with an unknown placeholder)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from test_reliability_common import (  # noqa: F401 - one_thread is an autouse fixture
    cli,
    error_lines,
    one_thread,
    run_args,
    save_model,
    snapshot,
    write_data,
)
from unlearnkit.errors import UserError
from unlearnkit.io import load_tensors, read_json, read_yaml

DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_YAML = "a: " + "[" * 20_000 + "]" * 20_000 + "\n"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_data(tmp_path_factory.mktemp("tofu"))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_model(tmp_path_factory.mktemp("model"))


def one_line(status: int, out: str, err: str, command: str, *fragments: str) -> str:
    assert status == 2, (status, out, err)
    assert "Traceback" not in out + err
    (line,) = error_lines(err)
    assert line.startswith(f"unlearn {command}: error: "), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def copy(folder: Path, tmp_path: Path, name: str) -> Path:
    return Path(shutil.copytree(folder, tmp_path / name))


def test_data_file_nested_too_deep(data, model, tmp_path, capfd):
    broken = copy(data, tmp_path, "tofu")
    (broken / "forget01.json").write_text(DEEP_JSON)
    argv = run_args(broken, model, tmp_path / "run")
    one_line(*cli(capfd, argv), "run", "forget01.json", "nested too deeply")
    assert not (tmp_path / "run").exists()


def test_model_config_nested_too_deep(data, model, tmp_path, capfd):
    broken = copy(model, tmp_path, "model")
    (broken / "config.json").write_text(DEEP_JSON)
    argv = run_args(data, broken, tmp_path / "run")
    one_line(*cli(capfd, argv), "run", "config.json", "nested too deeply")


def test_yaml_config_nested_too_deep(data, model, tmp_path, capfd):
    config = tmp_path / "deep.yaml"
    config.write_text(DEEP_YAML)
    argv = [*run_args(data, model, tmp_path / "run"), "--config", config]
    one_line(*cli(capfd, argv), "run", "deep.yaml")


def test_report_of_a_metrics_file_nested_too_deep(tmp_path, capfd):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text(DEEP_JSON)
    status, out, err = cli(capfd, ["report", tmp_path / "run"])
    one_line(status, out, err, "report", "metrics.json", "nested too deeply")


def retain_eval(folder: Path) -> Path:
    """A retain model's eval folder whose forget items were cut short while being written."""
    (folder / "items").mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"benchmark": "tofu", "metrics": {}}))
    row = json.dumps({"index": 0, "nll": 1.0, "para_nll": 1.0, "perturbed_nlls": [2.0]})
    (folder / "items" / "forget.jsonl").write_text(row + "\n" + row[:20])
    return folder


def test_retain_eval_with_items_cut_short(data, model, tmp_path, capfd):
    folder = retain_eval(tmp_path / "retain eval")
    common = ["--data", data, "--split", "forget01", "--device", "cpu"]
    argv = ["eval", "--model", model, *common, "--retain-eval", folder, "--out", tmp_path / "e"]
    one_line(*cli(capfd, argv), "eval", "forget.jsonl:2", "not valid JSON Lines", "cut short")
    argv = run_args(data, model, tmp_path / "run", "--retain-eval", str(folder))
    one_line(*cli(capfd, argv), "run", "forget.jsonl:2", "not valid JSON Lines")
    assert not (tmp_path / "e").exists() and not (tmp_path / "run").exists()


def test_unknown_placeholder_in_the_normal_prompt(data, model, tmp_path, capfd):
    argv = run_args(
        data, model, tmp_path / "run", "params.normal_prompt='Like {txt}:'", method="sga"
    )
    one_line(
        *cli(capfd, argv), "run", "params.normal_prompt", "unknown placeholder {txt}", "{text}"
    )


class _RunsCode:
    """Unpickling this calls os.system (what a hostile checkpoint would do)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def test_resume_refuses_a_checkpoint_that_is_not_safe_to_unpickle(data, model, tmp_path, capfd):
    out, marker = tmp_path / "run", tmp_path / "code ran"
    argv = run_args(data, model, out, "train.save_steps=1")
    status, _, err = cli(capfd, argv)
    assert status == 0, err
    hostile = out / "checkpoints" / "checkpoint-2" / "optimizer.pt"
    torch.save({"state": _RunsCode(marker)}, hostile)
    before = snapshot(out)

    line = one_line(*cli(capfd, [*argv, "--resume"]), "run", str(hostile), "not safe")
    assert "delete" in line and "checkpoint-2" in line  # what to do
    assert not marker.exists(), "the pickle ran"
    assert snapshot(out) == before


# ---- the guarded readers alone -----------------------------------------------------------------


def test_readers_turn_any_parse_failure_into_one_line_naming_the_file(tmp_path):
    deep, yaml_file, pt = tmp_path / "deep.json", tmp_path / "c.yaml", tmp_path / "x.pt"
    deep.write_text(DEEP_JSON)
    yaml_file.write_text("a: [1, 2\n")
    torch.save({"x": _RunsCode(tmp_path / "ran")}, pt)
    with pytest.raises(UserError, match="deep.json is nested too deeply"):
        read_json(deep)
    with pytest.raises(UserError, match="c.yaml is not valid YAML"):
        read_yaml(yaml_file)
    with pytest.raises(UserError, match="x.pt holds Python objects that are not safe"):
        load_tensors(pt, "delete it")
    (tmp_path / "cut.pt").write_bytes(pt.read_bytes()[:40])
    with pytest.raises(UserError, match="cannot read .*cut.pt"):
        load_tensors(tmp_path / "cut.pt", "delete it")
    assert not (tmp_path / "ran").exists()
