"""`unlearn run` on a world without --config starts from the world's packaged config."""

from __future__ import annotations

import pytest

from unlearnkit.cli import build_parser
from unlearnkit.commands.run import config_from_args
from unlearnkit.config import load_config


@pytest.fixture
def world(tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "world.json").write_text("{}")  # what makes a folder a world
    return tmp_path / "w"


def parsed(*argv: str):
    return build_parser().parse_args(["run", "--out", "unused", *argv])


def test_a_world_run_without_config_uses_the_packaged_world_config(world, capsys):
    from unlearnkit.api import RunConfig

    cfg = config_from_args(parsed("--method", "npo", "--data", str(world)))
    packaged = load_config(RunConfig, "world/npo", [])
    assert cfg.train.learning_rate == packaged.train.learning_rate == 1e-3
    assert cfg.train.max_steps == packaged.train.max_steps != RunConfig().train.max_steps
    assert "using the world config world/npo" in capsys.readouterr().err


def test_wmdp_on_a_world_uses_the_wmdp_world_config(world, capsys):
    cfg = config_from_args(parsed("--method", "rmu", "--benchmark", "wmdp", "--data", str(world)))
    assert cfg.method == "rmu" and cfg.data.benchmark == "wmdp"
    assert "world config world/wmdp/rmu" in capsys.readouterr().err


def test_overrides_apply_on_top_of_the_world_config(world):
    args = parsed("--method", "npo", "--data", str(world), "train.learning_rate=0.5")
    assert config_from_args(args).train.learning_rate == 0.5


def test_an_explicit_config_wins(world, capsys):
    cfg = config_from_args(parsed("--method", "npo", "--data", str(world), "--config", "world/ga"))
    assert cfg.train.learning_rate == load_config(type(cfg), "world/ga", []).train.learning_rate
    assert "using the world config" not in capsys.readouterr().err


def test_off_a_world_the_defaults_stay(tmp_path, capsys):
    from unlearnkit.api import RunConfig

    cfg = config_from_args(parsed("--method", "npo", "--data", str(tmp_path)))
    assert cfg.train.learning_rate == RunConfig().train.learning_rate
    assert capsys.readouterr().err == ""
