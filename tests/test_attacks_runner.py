"""run_attacks: the structure `unlearn run --attacks` merges into metrics.json, checks first."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from test_attacks_common import (  # noqa: F401 - one_thread is an autouse fixture
    FAST,
    SPLIT,
    one_thread,
    same_weights,
    single_thread,
    tiny_tokenizer,
    trained_model,
    weights,
    write_tofu_eval,
)
from unlearnkit.attacks import KINDS
from unlearnkit.attacks.runner import corpus_split, original_finetune_lr, run_attacks
from unlearnkit.errors import UserError
from unlearnkit.eval.run import evaluate


@pytest.fixture(scope="module")
def tofu_dir(tmp_path_factory):
    return write_tofu_eval(tmp_path_factory.mktemp("tofu"))


PARAMS = {
    "relearn": {"steps": [0, 2], "fraction": 0.5, "lr": 1e-3},
    "prefill": {"k": [1]},
    "incontext": {"shots": [1]},
    "quantize": {"bits": [8]},
    "prefill_kl": {"k": [1]},
    "jailbreak": {"templates": ["sure_here_is"]},
    "embedding": {"steps": 1, "k": 2},
}


def run_config(data, benchmark: str = "tofu", split: str | None = SPLIT, model=None):
    """The parts of ``unlearnkit.api.RunConfig`` that run_attacks reads."""
    return SimpleNamespace(
        model=model,
        data=SimpleNamespace(benchmark=benchmark, path=str(data), split=split),
        train=SimpleNamespace(learning_rate=1e-3, max_length=FAST.max_length),
        eval=SimpleNamespace(
            batch_size=FAST.batch_size,
            max_new_tokens=FAST.max_new_tokens,
            max_items=None,
            convention=FAST.convention,
        ),
        attack_params=PARAMS,
    )


@pytest.fixture(scope="module")
def start_model(tmp_path_factory):
    """The memorising model saved, as the model an `unlearn run` started from (prefill_kl's target)."""
    out = tmp_path_factory.mktemp("start_model")
    with single_thread():
        trained_model().save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def retain_eval(tofu_dir, tmp_path_factory):
    """An eval folder standing in for the retain model's (here: the same model, so FQ = 1)."""
    out = tmp_path_factory.mktemp("retain_eval")
    with single_thread():
        evaluate(
            "tofu", trained_model(), tiny_tokenizer(), str(tofu_dir), SPLIT, out, settings=FAST
        )
    return out


# The score of each attack that is not a forget ROUGE (utility, or a hidden-state reading).
SCORES = {
    "refusal": "retain_rouge",
    "prefill_kl": "forget_probability",
    "lens": "lens_last_probability",
    "patch": "patch_drop",
}


def test_every_attack_returns_the_documented_structure(
    tofu_dir, retain_eval, start_model, tmp_path
):
    model, tok = trained_model(), tiny_tokenizer()
    saved = weights(model)
    cfg = run_config(tofu_dir, model=str(start_model))
    result = run_attacks(
        ",".join(KINDS), model, tok, cfg, SPLIT, retain_eval, False, cfg.attack_params, tmp_path
    )
    assert list(result) == list(KINDS)
    json.dumps(result)  # metrics.json material
    for kind, entries in result.items():
        assert entries, kind
        for e in entries:
            assert isinstance(e["setting"], str) and isinstance(e["value"], (int, float))
            assert e["metrics"] and all(isinstance(v, float) for v in e["metrics"].values())
            assert 0 <= e["metrics"][SCORES.get(kind, "forget_rouge")] <= 1
    assert [e["setting"] for e in result["relearn"]] == ["steps=0", "steps=2"]
    assert "recovery" in result["relearn"][1]
    assert result["relearn"][0]["metrics"]["forget_quality"] == pytest.approx(1.0)
    assert "forget_quality" in result["quantize"][0]["metrics"]
    assert result["quantize"][0]["setting"] == "int8-channel"
    assert result["prefill_kl"][0]["metrics"]["forget_kl"] == pytest.approx(0.0, abs=1e-6)
    assert same_weights(model, saved)
    assert (tmp_path / "attacks" / "relearn" / "steps_2" / "items" / "forget.jsonl").is_file()


def test_kinds_and_settings_are_checked_before_anything_runs(tofu_dir):
    model, tok = trained_model(), tiny_tokenizer()
    cfg = run_config(tofu_dir)
    with pytest.raises(UserError, match="unknown attack 'nonsense'"):
        run_attacks(["relearn", "nonsense"], model, tok, cfg, SPLIT)
    with pytest.raises(UserError, match="unknown quantize attack setting"):
        run_attacks(["quantize"], model, tok, cfg, SPLIT, params={"quantize": {"bitz": 4}})
    with pytest.raises(UserError, match="attack_params has unknown attack"):
        run_attacks(["quantize"], model, tok, cfg, SPLIT, params={"quantise": {}})
    with pytest.raises(UserError, match="needs TOFU"):
        run_attacks(["quantize", "prefill"], model, tok, run_config(tofu_dir, "muse", None), SPLIT)


def test_defaults_of_the_context(tmp_path):
    assert corpus_split("muse", "forget10") is None and corpus_split("muse", "20") == "20"
    assert corpus_split("tofu", "20") is None
    assert original_finetune_lr(None, tmp_path) == 1e-5
    (tmp_path / "finetune.json").write_text(json.dumps({"config": {"learning_rate": 3e-3}}))
    assert original_finetune_lr(tmp_path / "missing", tmp_path) == 3e-3
