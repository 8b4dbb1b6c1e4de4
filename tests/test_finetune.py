"""`unlearn finetune` on the real TOFU forget01 split with a tiny model, through the CLI."""

from __future__ import annotations

import json

import pytest

from unlearnkit.cli import main
from unlearnkit.models import load_model_and_tokenizer


@pytest.mark.slow
def test_finetune_one_epoch_on_real_forget01(shared_data, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "ft"
    argv = [
        "finetune",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(shared_data / "tofu"),
        "--split",
        "forget01",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--lr",
        "1e-3",
        "--max-length",
        "96",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    summary = json.loads((out / "finetune.json").read_text())
    assert summary["examples"] == 40 and summary["steps"] == 5  # 40 QA pairs, batch 8, one epoch
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    model, tok = load_model_and_tokenizer(out, device="cpu", dtype="fp32")
    assert model.config.num_hidden_layers == 2 and tok.pad_token_id is not None
    assert f"saved to {out}" in capsys.readouterr().out


@pytest.mark.slow
def test_finetune_lowers_the_loss(tiny_model_dir, tmp_path):
    data = tmp_path / "qa.json"
    data.write_text(
        json.dumps(
            [
                {"question": f"What is item {i}?", "answer": f"Item {i} is a red stone."}
                for i in range(8)
            ]
        )
    )
    out = tmp_path / "ft"
    assert (
        main(
            [
                "finetune",
                "--model",
                str(tiny_model_dir),
                "--data",
                str(data),
                "--epochs",
                "20",
                "--batch-size",
                "8",
                "--lr",
                "3e-3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    losses = json.loads((out / "finetune.json").read_text())["logged_losses"]
    assert losses[-1] < losses[0] - 0.5  # 20 steps of a 2-layer, 32-wide model: a clear drop
