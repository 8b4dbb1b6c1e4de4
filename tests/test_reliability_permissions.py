"""Permissions that let a model run code (pickle weights, remote code) come only from a person:
a flag on the command line or the Python call, never a config file."""

from __future__ import annotations

import pytest

from test_reliability_common import cli, error_lines, run_args, save_model, write_data
from unlearnkit.api import RunConfig
from unlearnkit.config import PERMISSIONS, load_config


@pytest.mark.parametrize("key", sorted(PERMISSIONS))
def test_a_config_file_cannot_grant_a_permission(capfd, tmp_path, key):
    config = tmp_path / "handed-over.yaml"
    config.write_text(f"method: ga\n{key}: true\n", encoding="utf-8")
    out = tmp_path / "run"
    data, model = write_data(tmp_path / "tofu"), save_model(tmp_path / "model")
    capfd.readouterr()  # the set-up's own output
    status, _, err = cli(capfd, [*run_args(data, model, out), "--config", config])
    assert status == 2
    (line,) = error_lines(err)
    assert f"sets '{key}'" in line and PERMISSIONS[key] in line
    assert not out.exists()  # refused before anything was written


@pytest.mark.parametrize("key", sorted(PERMISSIONS))
def test_the_command_line_still_grants_it(tmp_path, key):
    config = tmp_path / "plain.yaml"
    config.write_text("method: ga\n", encoding="utf-8")
    cfg = load_config(RunConfig, config, [f"{key}=true"])
    assert getattr(cfg, key) is True
    assert getattr(load_config(RunConfig, config), key) is False
