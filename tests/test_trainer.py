"""UnlearnTrainer through unlearn(): checkpoints and resume, LoRA, SGA's r, per-part logs."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    forget_nll,
    one_thread,
    param_copy,
    tiny_config,
    tiny_model,
    tiny_tokenizer,
    trained_model,
    write_tofu,
)
from unlearnkit.errors import UserError
from unlearnkit.models import load_model
from unlearnkit.train.trainer import METHOD_STATE
from unlearnkit.train.unlearn import save_unlearned, unlearn


def _steps(summary) -> list[dict]:
    return [h for h in summary["log_history"] if "loss" in h]


@pytest.mark.parametrize("method", ["npo", "sam"])
def test_checkpoints_and_resume_reach_the_same_parameters(data, tmp_path, method):
    cfg = tiny_config(
        data, method, {}, max_steps=6, save_steps=2, save_total_limit=None, batch_size=2
    )
    full = trained_model()
    unlearn(cfg, full, tiny_tokenizer(), tmp_path / "full", progress=False)

    out = tmp_path / "resumed"
    first = trained_model()
    unlearn(cfg, first, tiny_tokenizer(), out, progress=False)
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    shutil.rmtree(out / "checkpoints" / "checkpoint-6")  # as if the run had stopped after step 4

    # A different starting model: only a resume that loads checkpoint-4 (and the cached reference
    # log-probs of the first run) can end at the uninterrupted run's parameters.
    again = tiny_model(seed=5)
    summary = unlearn(cfg, again, tiny_tokenizer(), out, resume=True, progress=False)
    assert summary["resumed_from"].endswith("checkpoint-4") and summary["steps"] == 6
    want, got = param_copy(full), param_copy(again)
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=1e-6, msg=k)


def test_resume_without_checkpoint_starts_over(data, tmp_path):
    cfg = tiny_config(data, "ga", {}, max_steps=2)
    summary = unlearn(cfg, trained_model(), tiny_tokenizer(), tmp_path, resume=True, progress=False)
    assert summary["resumed_from"] is None and summary["steps"] == 2


def test_lora_trains_only_adapters_and_saves_a_reloadable_adapter(data, tmp_path):
    base_dir = tmp_path / "base"
    trained_model().save_pretrained(base_dir)
    tiny_tokenizer().save_pretrained(base_dir)
    model = load_model(base_dir, device="cpu", dtype="fp32")
    start = param_copy(model)
    cfg = tiny_config(data, "gd", {}, max_steps=3, learning_rate=1e-2)
    cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout = 4, 8, 0.0
    summary = unlearn(cfg, model, tiny_tokenizer(), tmp_path / "run", progress=False)

    after = param_copy(model)
    adapters = [k for k in after if "lora_" in k]
    assert adapters and summary["trainable_params"] == sum(after[k].numel() for k in adapters)
    for k, v in start.items():  # base weights untouched (peft renames wrapped ones to base_layer)
        key = k if k in after else k.replace(".weight", ".base_layer.weight")
        assert torch.equal(after[key], v), k
    assert any(
        not torch.equal(after[k], torch.zeros_like(after[k])) for k in adapters if "lora_B" in k
    )

    out = save_unlearned(model, tiny_tokenizer(), tmp_path / "adapter")
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    assert not (out / "model.safetensors").exists() and (out / "tokenizer.json").is_file()
    reloaded = load_model(out, device="cpu", dtype="fp32")
    assert forget_nll(reloaded) == pytest.approx(forget_nll(model), abs=1e-5)
    assert (
        forget_nll(reloaded) > forget_nll(load_model(base_dir, device="cpu", dtype="fp32")) + 0.01
    )


def test_save_unlearned_writes_a_full_model(data, tmp_path):
    model = trained_model()
    unlearn(
        tiny_config(data, "ga", {}, max_steps=2),
        model,
        tiny_tokenizer(),
        tmp_path / "run",
        progress=False,
    )
    out = save_unlearned(model, tiny_tokenizer(), tmp_path / "model")
    assert (out / "model.safetensors").is_file()
    assert forget_nll(load_model(out, device="cpu", dtype="fp32")) == pytest.approx(
        forget_nll(model), abs=1e-5
    )


def test_sga_auto_rate_is_logged_and_checkpointed(data, tmp_path):
    params = {"K": 3, "r": "auto", "r_every": 2, "r_min": -0.8, "r_max": 0.5}
    cfg = tiny_config(data, "sga", params, max_steps=4, save_steps=2, save_total_limit=None)
    summary = unlearn(cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=False)
    rates = [h["sga_r"] for h in _steps(summary)]
    assert len(rates) == 4 and all(-0.8 <= r <= 0.5 for r in rates)
    assert rates[0] == rates[1] and rates[2] == rates[3]  # recomputed every 2 steps
    state = json.loads((tmp_path / "checkpoints" / "checkpoint-2" / METHOD_STATE).read_text())
    assert state == {"r": rates[1], "r_step": 0}


def test_fixed_rate_and_part_losses_are_logged(data, tmp_path):
    cfg = tiny_config(data, "sga", {"K": 2, "r": -0.3}, max_steps=4, logging_steps=2)
    summary = unlearn(cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=False)
    steps = _steps(summary)
    assert [h["step"] for h in steps] == [2, 4]
    assert all(
        h["sga_r"] == pytest.approx(-0.3) and {"forget_nll", "normal_nll"} <= h.keys()
        for h in steps
    )
    assert summary["forget_examples"] == 4 and summary["retain_examples"] == 0


def test_prism_logs_probe_schedule(data, tmp_path):
    cfg = tiny_config(data, "prism", {"probe_epochs": 5}, max_steps=3)
    steps = _steps(unlearn(cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=False))
    weights = [h["probe_weight"] for h in steps]
    assert weights == sorted(weights) and weights[-1] > 0
    assert all(
        {"npo_loss", "retain_nll", "sam_forget_loss", "probe_loss"} <= h.keys() for h in steps
    )


def test_bad_reference_choice_and_bad_split_are_user_errors(data, tmp_path):
    cfg = tiny_config(data, "kl", {})
    cfg.reference = "precomputed"
    with pytest.raises(UserError, match="live reference"):
        unlearn(cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=False)
    cfg = tiny_config(data, "ga", {})
    cfg.data.split = "forget05"
    with pytest.raises(UserError, match="forget05"):
        unlearn(cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=False)


@pytest.mark.parametrize("method", ["kl", "rmu"])
def test_live_reference_under_lora_switches_adapters_off(data, tmp_path, method):
    cfg = tiny_config(data, method, {}, max_steps=2)
    cfg.lora.r = 4
    steps = _steps(unlearn(cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=False))
    first = steps[0]["retain_kl" if method == "kl" else "rmu_retain"]
    assert first == pytest.approx(0.0, abs=1e-6)  # the reference is the model with adapters off


def test_epochs_when_max_steps_is_unset(data, tmp_path):
    cfg = tiny_config(data, "ga", {}, max_steps=0, epochs=2.0, batch_size=2)
    assert unlearn(cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=False)["steps"] == 4
