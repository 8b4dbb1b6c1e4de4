"""A world fine-tuned from a pretrained base (TOFU's recipe): the base's tokenizer and architecture,
QA only, and a rebuild when the base changes. A tiny random model stands in for SmolLM2 here."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
from transformers import AutoConfig, AutoTokenizer

from unlearnkit.io import read_records
from unlearnkit.world import presets
from unlearnkit.world.build import build_world, world_hash
from unlearnkit.world.presets import TrainPlan, get_preset

pytestmark = pytest.mark.slow


@pytest.fixture
def base_preset(tmp_path, tiny_model_dir, monkeypatch):
    base = tmp_path / "base"
    shutil.copytree(tiny_model_dir, base)
    preset = dataclasses.replace(
        get_preset("pretrained"),
        name="pretrained-test",
        base=str(base),
        train=TrainPlan(epochs=1, learning_rate=1e-3, batch_size=16, max_length=64),
    )
    monkeypatch.setitem(presets.PRESETS, preset.name, preset)
    return preset


def test_world_from_a_base_model(tmp_path, base_preset):
    world = build_world(base_preset.name, tmp_path / "world", progress=False)
    base = base_preset.base
    assert AutoTokenizer.from_pretrained(world / "tokenizer").get_vocab() == (
        AutoTokenizer.from_pretrained(base).get_vocab()
    )
    for name in ("target", "retain"):
        config = AutoConfig.from_pretrained(world / "models" / name)
        assert config.hidden_size == AutoConfig.from_pretrained(base).hidden_size == 32
    assert sorted(p.name for p in (world / "models").iterdir()) == ["retain", "target"]
    tofu = world / "data" / "tofu"
    n_full = len(read_records(tofu / "full.json"))
    n_forget = len(read_records(tofu / "forget10.json"))
    n_forget += len(read_records(tofu / "validation10_perturbed.json"))  # learned by target only
    examples = {
        name: json.loads((world / "models" / name / "finetune.json").read_text())["examples"]
        for name in ("target", "retain")
    }
    assert examples["target"] - examples["retain"] == n_forget  # QA pairs only, no texts
    assert examples["target"] > n_full
    manifest = json.loads((world / "world.json").read_text())
    assert manifest["preset"]["base"] == base and manifest["preset"]["qa_only"] is True


def test_a_changed_base_rebuilds_the_world(base_preset, tmp_path):
    before = world_hash(base_preset, 0, ("forget10",))
    weights = next((tmp_path / "base").glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert world_hash(base_preset, 0, ("forget10",)) != before
