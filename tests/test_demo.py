"""`unlearn demo --quick` on the tiny world, end to end, and `unlearn run` on it."""

from __future__ import annotations

import json
import os

import pytest

from unlearnkit.cli import main


@pytest.fixture
def tiny_home(tiny_world, monkeypatch):
    """Point the cache at a home whose tiny world is the session's (built once)."""
    home = tiny_world.parent / "home"
    target = home / "worlds" / "tiny-seed0"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(tiny_world, target)
    monkeypatch.setenv("UNLEARNKIT_HOME", str(home))
    return home


@pytest.mark.slow
def test_demo_quick_on_tiny_world(tiny_home, tmp_path, capsys):
    out = tmp_path / "demo"
    assert (
        main(["demo", "--quick", "--preset", "tiny", "--methods", "ga,npo,sga", "--out", str(out)])
        == 0
    )
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1] == f"report: {out / 'report.html'}"
    assert (out / "report.md").is_file() and (out / "report.html").stat().st_size > 10_000
    for name in ("target", "retain", "ga", "npo", "sga"):
        metrics = json.loads((out / "runs" / name / "metrics.json").read_text())
        assert "forget_rouge" in metrics["metrics"]
        assert (out / "runs" / name / "extra" / "muse" / "metrics.json").is_file()
    ga = json.loads((out / "runs" / "ga" / "metrics.json").read_text())
    target = json.loads((out / "runs" / "target" / "metrics.json").read_text())
    assert ga["metrics"]["forget_rouge"] < target["metrics"]["forget_rouge"]
    assert [a["value"] for a in ga["attacks"]["relearn"]] == [0, 10]
    sga = json.loads((out / "runs" / "sga" / "metrics.json").read_text())
    assert any("sga_r" in h for h in sga["train"]["log_history"])
    report = (out / "report.md").read_text()
    assert "sga" in report and "retain" in report


@pytest.mark.slow
def test_run_cli_on_tiny_world(tiny_world, tmp_path, capsys):
    out = tmp_path / "run with spaces"
    argv = [
        "run",
        "--method",
        "npo",
        "--data",
        str(tiny_world),
        "--out",
        str(out),
        "train.max_steps=3",
        "eval.max_new_tokens=16",
    ]
    assert main(argv) == 0
    result = json.loads((out / "metrics.json").read_text())
    assert result["method"] == "npo" and result["role"] == "unlearned"
    assert 0.0 <= result["metrics"]["forget_quality"] <= 1.0
    assert (out / "config.yaml").read_text().startswith("method: npo")
    assert result["train"]["steps"] == 3


@pytest.mark.slow
def test_lora_sga_run_saves_an_adapter_that_reloads_and_evaluates(tiny_world, tmp_path):
    out = tmp_path / "sga-lora"
    argv = [
        "run",
        "--config",
        "world/sga",
        "--data",
        str(tiny_world),
        "--save-model",
        "--out",
        str(out),
        "lora.r=4",
        "train.max_steps=4",
        "params.K=3",
        "eval.max_new_tokens=16",
    ]
    assert main(argv) == 0
    assert (out / "model" / "adapter_config.json").is_file()
    assert (out / "model" / "adapter_model.safetensors").is_file()
    assert not (out / "model" / "model.safetensors").exists()
    trained = json.loads((out / "metrics.json").read_text())
    from safetensors import safe_open

    with safe_open(str(tiny_world / "models" / "target" / "model.safetensors"), "pt") as f:
        total = sum(_numel(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118
    assert 0 < trained["train"]["trainable_params"] < 0.2 * total  # only the adapters trained
    evaluated = tmp_path / "eval"
    assert (
        main(
            [
                "eval",
                "--model",
                str(out / "model"),
                "--data",
                str(tiny_world),
                "--max-new-tokens",
                "16",
                "--out",
                str(evaluated),
            ]
        )
        == 0
    )
    again = json.loads((evaluated / "metrics.json").read_text())["metrics"]
    # The reloaded (merged) adapter scores the forget set as the in-memory model did.
    assert again["forget_probability"] == pytest.approx(
        trained["metrics"]["forget_probability"], abs=1e-4
    )


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
