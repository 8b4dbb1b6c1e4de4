"""`unlearn attack KIND`: metrics.json with the attack's entries; bad input is one UserError."""

from __future__ import annotations

import argparse
import json

import pytest

from test_attacks_common import (  # noqa: F401 - one_thread is an autouse fixture
    SPLIT,
    one_thread,
    single_thread,
    tiny_tokenizer,
    trained_model,
    write_tofu_eval,
)
from unlearnkit.commands import attack
from unlearnkit.errors import UserError


@pytest.fixture(scope="module")
def tofu_dir(tmp_path_factory):
    return write_tofu_eval(tmp_path_factory.mktemp("tofu"))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("attack_model")
    with single_thread():
        trained_model().save_pretrained(out)
    tiny_tokenizer().save_pretrained(out)
    (out / "finetune.json").write_text(json.dumps({"config": {"learning_rate": 2e-3}}))
    return out


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="unlearn")
    attack.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["attack", *map(str, argv)])


def common(model_dir, tofu_dir, out) -> list:
    return ["--model", model_dir, "--data", tofu_dir, "--split", SPLIT, "--out", out]


def test_attack_writes_metrics_json(model_dir, tofu_dir, tmp_path, capsys):
    out = tmp_path / "relearn"
    args = parse(
        "relearn", *common(model_dir, tofu_dir, out), "--steps", "0,1", "--max-new-tokens", 4
    )
    assert args.func(args) == 0
    result = json.loads((out / "metrics.json").read_text())
    assert result["attack"] == "relearn" and result["benchmark"] == "tofu"
    assert result["model"] == str(model_dir) and result["split"] == SPLIT
    entries = result["attacks"]["relearn"]
    assert [e["setting"] for e in entries] == ["steps=0", "steps=1"]
    assert entries[1]["lr"] == 2e-3  # the model's own fine-tuning rate
    assert result["metrics"] == entries[0]["metrics"]  # "before", for the report
    assert "metrics written to" in capsys.readouterr().out


def test_quantize_from_the_cli(model_dir, tofu_dir, tmp_path):
    out = tmp_path / "q"
    args = parse(
        "quantize",
        *common(model_dir, tofu_dir, out),
        "--bits",
        4,
        "--group-size",
        16,
        "--max-new-tokens",
        4,
    )
    assert args.func(args) == 0
    result = json.loads((out / "metrics.json").read_text())
    (entry,) = result["attacks"]["quantize"]
    assert entry["setting"] == "int4-group16" and entry["backend"] == "rtn"
    assert set(result["metrics"]) >= {"forget_rouge", "forget_truth_ratio"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nonsense"], "unknown attack 'nonsense'"),
        (["quantize", "--steps", "5"], "--steps is a setting of relearn"),
        (["prefill", "--benchmark", "muse"], "needs TOFU"),
        (["quantize", "--bits", "1"], "bits must be"),
    ],
)
def test_bad_input_is_a_user_error(model_dir, tofu_dir, tmp_path, argv, message):
    out = tmp_path / "never"
    args = parse(*argv, *common(model_dir, tofu_dir, out))
    with pytest.raises(UserError, match=message):
        args.func(args)
    assert not out.exists()  # rejected before anything was written or loaded


@pytest.mark.parametrize(
    ("kind", "setting"), [("quantize", "int8-channel"), ("paraphrase", "paraphrased")]
)
def test_max_items_picks_the_attacked_items(kind, setting, model_dir, tofu_dir, tmp_path):
    """``--max-items 2``: the attack's forget rows are the eval's 2 evenly spaced items, numbered
    by their index in the full set (tests/test_attacks_max_items.py: the same after a run)."""
    from unlearnkit.benchmarks.tofu import forget_records
    from unlearnkit.eval.results import read_rows
    from unlearnkit.eval.tofu import pick_items

    out = tmp_path / kind
    flags = ["--bits", 8] if kind == "quantize" else []
    args = parse(kind, *common(model_dir, tofu_dir, out), *flags, "--max-items", 2)
    args.max_new_tokens = 4
    assert args.func(args) == 0
    rows = read_rows(out / "attacks" / kind / setting)["forget"]
    everything = len(forget_records(str(tofu_dir), SPLIT))
    assert everything > 2 and [r["index"] for r in rows] == pick_items(everything, 2)
