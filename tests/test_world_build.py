"""Building a world: determinism, caching, the models' knowledge, and bad input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from unlearnkit.cli import main
from unlearnkit.world import presets
from unlearnkit.world.build import build_world


@pytest.fixture
def micro_preset(monkeypatch):
    """The tiny world with 2 epochs: enough to compare two builds, quick to run twice."""
    tiny = presets.PRESETS["tiny"]
    micro = dataclasses.replace(tiny, name="micro", train=dataclasses.replace(tiny.train, epochs=2))
    monkeypatch.setitem(presets.PRESETS, "micro", micro)
    return "micro"


def data_files(world: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(world)): p.read_bytes() for p in sorted((world / "data").rglob("*.json*"))
    }


def losses(world: Path, model: str) -> list[float]:
    return json.loads((world / "models" / model / "finetune.json").read_text())["logged_losses"]


@pytest.mark.slow
def test_same_seed_same_world_other_seed_other_world(micro_preset, tmp_path):
    a = build_world(micro_preset, tmp_path / "a", seed=1, progress=False)
    b = build_world(micro_preset, tmp_path / "b", seed=1, progress=False, force=True)
    assert data_files(a) == data_files(b)
    assert losses(a, "target") == losses(b, "target") and losses(a, "retain") == losses(b, "retain")
    assert (a / "tokenizer" / "tokenizer.json").read_bytes() == (
        b / "tokenizer" / "tokenizer.json"
    ).read_bytes()
    from unlearnkit.world.generate import generate_world

    other = generate_world(presets.PRESETS[micro_preset], seed=2)
    assert other.tofu["full"] != generate_world(presets.PRESETS[micro_preset], seed=1).tofu["full"]


@pytest.mark.slow
def test_cached_world_is_reused(micro_preset, tmp_path):
    world = build_world(micro_preset, tmp_path / "w", seed=0, progress=False)
    stamp = (world / "world.json").stat().st_mtime_ns
    assert build_world(micro_preset, world, seed=0, progress=False) == world
    assert (world / "world.json").stat().st_mtime_ns == stamp


def test_tiny_world_layout(tiny_world):
    for rel in (
        "data/tofu/forget10_perturbed.json",
        "data/muse/verbmem/forget.json",
        "data/copyright/prompts.json",
        "tokenizer/tokenizer.json",
        "models/target/model.safetensors",
        "models/retain/model.safetensors",
    ):
        assert (tiny_world / rel).is_file(), rel


def test_tiny_target_memorised_and_retain_did_not(tiny_world):
    from unlearnkit.world.check import check_world

    table = check_world(tiny_world, progress=False)["tofu"]
    target, retain = table["target"], table["retain"]
    assert target["forget_rouge"] >= 0.8
    assert target["forget_rouge"] - retain["forget_rouge"] >= 0.25
    assert min(target["retain_rouge"], retain["retain_rouge"]) >= 0.8


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["world", "--preset", "huge"], "unknown world preset 'huge'"),
        (["world", "--preset", "tiny", "--retain-splits", "forget42"], "unknown retain split"),
    ],
)
def test_bad_world_input_is_one_line_exit_2(argv, needle, tmp_path, capsys):
    assert main([*argv, "--out", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err
    assert not (tmp_path / "w").exists()


def test_world_refuses_a_foreign_folder(tmp_path, capsys):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "notes.txt").write_text("mine")
    assert main(["world", "--preset", "tiny", "--out", str(tmp_path / "w")]) == 2
    assert "not a world folder" in capsys.readouterr().err
    assert (tmp_path / "w" / "notes.txt").read_text() == "mine"
