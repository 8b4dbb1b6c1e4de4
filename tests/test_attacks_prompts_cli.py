"""`unlearn attack prefill_kl|jailbreak|embedding` on the tiny world, with their flags."""

from __future__ import annotations

import json

import pytest

from test_attacks_cli import parse
from test_attacks_common import one_thread  # noqa: F401 - autouse fixture
from unlearnkit.errors import UserError


def world_args(world, out, model: str = "retain") -> list:
    return [
        "--model",
        world / "models" / model,
        "--tokenizer",
        world / "tokenizer",
        "--data",
        world,
        "--split",
        "forget10",
        "--max-items",
        2,
        "--max-new-tokens",
        8,
        "--out",
        out,
    ]


@pytest.mark.parametrize(
    ("kind", "flags", "settings"),
    [
        ("prefill_kl", ["--kl-k", "0,2"], ["k=0", "k=2"]),
        ("jailbreak", ["--templates", "summary"], ["summary", "worst"]),
        ("embedding", ["--soft-tokens", 2, "--soft-steps", 1, "--mode", "item"], ["item"]),
    ],
)
def test_attack_kind_from_the_cli(tiny_world, tmp_path, kind, flags, settings):
    out = tmp_path / kind
    args = parse(kind, *world_args(tiny_world, out), *flags)
    assert args.func(args) == 0
    result = json.loads((out / "metrics.json").read_text())
    entries = result["attacks"][kind]
    assert result["attack"] == kind and [e["setting"] for e in entries] == settings
    assert (out / "attacks" / kind / settings[0].replace("=", "_") / "items").is_dir()
    rows = out / "attacks" / kind / settings[0].replace("=", "_") / "items" / "forget.jsonl"
    assert len(rows.read_text().splitlines()) == 2  # --max-items 2


def test_prefill_kl_target_flag_and_flags_of_other_attacks(tiny_world, tmp_path):
    out = tmp_path / "kl"
    target = tiny_world / "models" / "retain"
    args = parse("prefill_kl", *world_args(tiny_world, out), "--kl-k", 1, "--target-model", target)
    assert args.func(args) == 0
    (entry,) = json.loads((out / "metrics.json").read_text())["attacks"]["prefill_kl"]
    assert entry["metrics"]["forget_kl"] == pytest.approx(0.0, abs=1e-6)  # retain against itself
    for kind, flag, value in [("embedding", "--templates", "summary"), ("jailbreak", "--kl-k", 1)]:
        args = parse(kind, *world_args(tiny_world, tmp_path / "never"), flag, value)
        with pytest.raises(UserError, match=f"{flag} is a setting of"):
            args.func(args)
    assert not (tmp_path / "never").exists()
