"""Building a world: determinism, caching, the models' knowledge, and bad input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from unlearnkit.cli import main
from unlearnkit.errors import UserError
from unlearnkit.jobs import JOBS_ENV, job_count
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
def test_same_seed_same_world_other_seed_other_world(micro_preset, tmp_path, monkeypatch):
    monkeypatch.setenv(JOBS_ENV, "2")  # target and retain side by side, one process each
    a = build_world(micro_preset, tmp_path / "a", seed=1, progress=False)
    monkeypatch.setenv(JOBS_ENV, "1")  # one after the other, in this process
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


def test_job_count_fits_the_cores_and_the_environment(monkeypatch):
    monkeypatch.delenv(JOBS_ENV, raising=False)
    monkeypatch.setattr("unlearnkit.jobs.free_cores", lambda: 2)
    assert job_count(n_jobs=2, threads=1) == 2
    assert job_count(n_jobs=2, threads=2) == 1  # each process would want both cores
    assert job_count(n_jobs=1, threads=1) == 1
    monkeypatch.setattr("unlearnkit.jobs.free_cores", lambda: 16)
    assert job_count(n_jobs=4, threads=1) == 4
    monkeypatch.setenv(JOBS_ENV, "1")
    assert job_count(n_jobs=4, threads=1) == 1
    monkeypatch.setenv(JOBS_ENV, "two")
    with pytest.raises(UserError, match=JOBS_ENV):
        job_count(n_jobs=2, threads=1)


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
    assert sorted(p.name for p in (tiny_world / "models").iterdir()) == ["retain", "target"]


def test_tiny_world_meets_every_threshold_of_its_preset(tiny_world):
    from unlearnkit.world.check import check_world, world_verdicts

    verdicts = world_verdicts(tiny_world, check_world(tiny_world, progress=False))
    judged = {v.threshold.benchmark for v in verdicts}
    assert judged == {"tofu", "muse", "copyright", "wmdp"}
    missed = [f"{v.threshold.label()}: {v.value}" for v in verdicts if not v.ok]
    assert not missed, missed


def test_world_check_exits_1_and_names_a_missed_threshold(tiny_world, monkeypatch, capsys):
    from unlearnkit.world import thresholds

    impossible = thresholds.Threshold("tofu", "forget_rouge", thresholds.TARGET, ">=", 1.5)
    monkeypatch.setitem(thresholds.THRESHOLDS, "tiny", (impossible,))
    argv = ["world", "--preset", "tiny", "--out", str(tiny_world), "--check"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "MISS tofu forget_rouge target ≥ 1.5" in out and "0 of 1 checks hold" in out
    monkeypatch.setitem(
        thresholds.THRESHOLDS,
        "tiny",
        (impossible.__class__("tofu", "forget_rouge", "gap", ">=", 0.1),),
    )
    assert main(argv) == 0
    assert "ok   tofu forget_rouge gap ≥ 0.1" in capsys.readouterr().out


def test_thresholds_judge_target_retain_and_gap():
    from unlearnkit.world import thresholds
    from unlearnkit.world.thresholds import GAP, RETAIN, TARGET, Threshold, judge

    table = {"tofu": {"target": {"m": 0.9}, "retain": {"m": 0.3}}}
    checks = (
        Threshold("tofu", "m", TARGET, ">=", 0.9),
        Threshold("tofu", "m", RETAIN, "<=", 0.29),
        Threshold("tofu", "m", GAP, ">=", 0.6),
        Threshold("tofu", "absent", TARGET, ">=", 0.0),
        Threshold("muse", "m", TARGET, ">=", 0.0),  # a benchmark the world did not learn
    )
    thresholds.THRESHOLDS["unit"] = checks
    try:
        verdicts = judge(table, "unit")
    finally:
        del thresholds.THRESHOLDS["unit"]
    assert [(v.threshold.model, v.ok) for v in verdicts] == [
        (TARGET, True),
        (RETAIN, False),
        (GAP, True),
        (TARGET, False),
    ]
    assert verdicts[2].value == pytest.approx(0.6)


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
