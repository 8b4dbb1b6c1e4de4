"""The model card (README.md with the Hub's YAML metadata) of every model folder unlearnkit saves."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import ModelCard

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    tiny_config,
    tiny_tokenizer,
    trained_model,
)
from test_reliability_common import cli, run_args
from unlearnkit.model_card import CARD, card_text, headline_metrics, unlearned_card, write_card
from unlearnkit.train.unlearn import save_unlearned, unlearn

TRICKY = "np:o\n---\nevil: 1 # not a key\r\n'quoted' \"too\" - [x]\u2028end"


def _card(folder: Path) -> ModelCard:
    return ModelCard.load(folder / CARD)


def test_save_unlearned_writes_a_card_with_the_runs_metadata(data, tmp_path):
    cfg = tiny_config(data, "npo", {"beta": 0.2}, max_steps=1)
    model = trained_model()
    model.name_or_path = "org/base-model"  # as from_pretrained records it
    summary = unlearn(cfg, model, tiny_tokenizer(), tmp_path / "run", progress=False)
    save_unlearned(model, tiny_tokenizer(), tmp_path / "model", summary=summary)
    card = _card(tmp_path / "model")
    assert card.data.base_model == "org/base-model"
    assert card.data.tags == ["unlearnkit", "machine-unlearning", "npo"]
    meta = card.data.unlearnkit
    assert meta["role"] == "unlearned" and meta["method"] == "npo"
    assert meta["params"]["beta"] == 0.2
    assert meta["forget_set"] == {"benchmark": "tofu", "split": "forget01", "data": str(data)}
    assert meta["evaluated"] is False and meta["metrics"] == {}
    assert "not evaluated" in card.text


def test_save_unlearned_without_a_summary_still_writes_a_card(tmp_path):
    model = trained_model()
    model.name_or_path = ""  # built from a config: no base model to name
    save_unlearned(model, tiny_tokenizer(), tmp_path / "model")
    card = _card(tmp_path / "model")
    assert card.data.base_model is None
    assert card.data.tags[:2] == ["unlearnkit", "machine-unlearning"]


def test_lora_adapter_folder_gets_our_card(data, tmp_path):
    cfg = tiny_config(data, "ga", {}, max_steps=1)
    cfg.lora.r = 2
    model = trained_model()
    summary = unlearn(cfg, model, tiny_tokenizer(), tmp_path / "run", progress=False)
    save_unlearned(model, tiny_tokenizer(), tmp_path / "model", summary=summary)
    assert (tmp_path / "model" / "adapter_config.json").is_file()
    assert _card(tmp_path / "model").data.unlearnkit["method"] == "ga"  # not peft's template


def test_strings_from_the_config_cannot_break_the_metadata(tmp_path):
    summary = {
        "method": TRICKY,
        "params": {"note": TRICKY, "nested": {"k: v": [TRICKY, 1.5]}},
        "benchmark": "tofu",
        "split": "forget01\n---",
        "config": {"data": {"path": "/data: here # x"}},
    }
    result = {"metrics": {"forget_quality": 0.25, "model_utility": float("nan")}}
    text = unlearned_card(
        summary, base_model="a: b\n---\nc", result=result, retain_reference=TRICKY
    )
    assert [line for line in text.splitlines() if line.strip() == "---"] == ["---", "---"]
    write_card(tmp_path, text)
    card = _card(tmp_path)
    assert card.data.base_model == "a: b\n---\nc"
    assert card.data.tags[-1] == TRICKY
    meta = card.data.unlearnkit
    assert meta["method"] == TRICKY and meta["params"] == summary["params"]
    assert meta["forget_set"] == {
        "benchmark": "tofu",
        "split": "forget01\n---",
        "data": "/data: here # x",
    }
    assert meta["retain_reference"] == TRICKY
    assert meta["metrics"] == {"forget_quality": 0.25, "model_utility": None}
    assert "\nevil: 1" not in card.text  # the body keeps each value on one line


def test_headline_metrics_are_the_benchmarks_report_columns():
    metrics = {"forget_quality": 0.5, "model_utility": 0.4, "forget_rouge_items": [1, 2], "x": 3}
    assert headline_metrics("tofu", metrics) == {"forget_quality": 0.5, "model_utility": 0.4}
    assert headline_metrics("nope", metrics) == {} and headline_metrics(None, metrics) == {}


def test_finetuned_card_has_no_forget_set(tmp_path):
    text = card_text(role="finetuned", method="finetune", params={"epochs": 1.0}, data={"x": 1})
    write_card(tmp_path, text)
    meta = _card(tmp_path).data.unlearnkit
    assert meta["training_data"] == {"x": 1} and "forget_set" not in meta


def test_run_save_model_card_carries_the_headline_metrics(capfd, run_data, model_dir, tmp_path):
    retain = tmp_path / "retain_eval"
    evaluate = ["eval", "--data", run_data, "--split", "forget01", "--model", model_dir]
    status, _, err = cli(
        capfd,
        [*evaluate, "--device", "cpu", "--max-new-tokens", "2", "--max-length", "64"]
        + ["--out", retain],
    )
    assert status == 0, err
    out = tmp_path / "run"
    argv = run_args(run_data, model_dir, out, "--save-model", "--retain-eval", retain, method="npo")
    status, _, err = cli(capfd, argv)
    assert status == 0, err
    card = _card(out / "model")
    assert card.data.base_model == str(model_dir)
    assert card.data.tags == ["unlearnkit", "machine-unlearning", "npo"]
    meta = card.data.unlearnkit
    assert meta["evaluated"] is True and meta["retain_reference"] == str(retain.resolve())
    assert set(meta["metrics"]) >= {"forget_quality", "model_utility", "forget_rouge"}
    assert meta["forget_set"]["split"] == "forget01"
    assert "| model\\_utility |" in card.text


def test_finetune_output_has_a_card(capfd, run_data, model_dir, tmp_path):
    out = tmp_path / "ft"
    argv = ["finetune", "--model", model_dir, "--data", run_data, "--split", "forget01"]
    argv += ["--epochs", "1", "--batch-size", "4", "--max-length", "64", "--out", out]
    status, _, err = cli(capfd, argv)
    assert status == 0, err
    card = _card(out)
    assert card.data.base_model == str(model_dir)
    assert card.data.tags == ["unlearnkit", "machine-unlearning", "finetune"]
    meta = card.data.unlearnkit
    assert meta["role"] == "finetuned" and meta["params"]["epochs"] == 1.0
    assert meta["training_data"] == {
        "benchmark": "tofu",
        "split": "forget01",
        "data": str(run_data),
    }
