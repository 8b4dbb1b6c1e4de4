"""train.precision: how it resolves, what the Trainer gets, and that the weights really move at
lr 1e-5 (fp32 master weights), with pure bf16 only when asked and then with a warning."""

from __future__ import annotations

import logging

import pytest
import torch

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    tiny_config,
    tiny_tokenizer,
    trained_model,
    write_tofu,
)
from unlearnkit import models
from unlearnkit.errors import UserError
from unlearnkit.models import apply_precision, resolve_precision, train_load_dtype
from unlearnkit.train.unlearn import TrainSection, training_arguments, unlearn


def test_precision_resolves_auto_and_the_older_bf16_key(monkeypatch):
    monkeypatch.setattr(models, "cuda_bf16", lambda: False)
    assert resolve_precision("auto") == "fp32"
    monkeypatch.setattr(models, "cuda_bf16", lambda: True)
    assert resolve_precision("auto") == "mixed-bf16"
    assert resolve_precision("auto", bf16=True) == "mixed-bf16"
    assert resolve_precision("auto", bf16=False) == "fp32"
    assert resolve_precision("mixed-bf16", bf16=True) == "mixed-bf16"
    assert resolve_precision("bf16") == "bf16"
    with pytest.raises(UserError, match="train.bf16: true contradicts train.precision: bf16"):
        resolve_precision("bf16", bf16=True)
    with pytest.raises(UserError, match="unknown train.precision 'fp16'"):
        resolve_precision("fp16")


def test_load_dtype_follows_the_precision_unless_given():
    assert train_load_dtype("auto", "mixed-bf16") == "fp32"
    assert train_load_dtype(None, "fp32") == "fp32"
    assert train_load_dtype("auto", "bf16") == "bf16"
    assert train_load_dtype("bf16", "mixed-bf16") == "bf16"  # loaded so, upcast for training


@pytest.mark.parametrize(
    ("precision", "autocast", "mixed"),
    [("fp32", False, "no"), ("mixed-bf16", True, "bf16"), ("bf16", True, "bf16")],
)
def test_trainer_autocasts_unless_fp32(tmp_path, monkeypatch, precision, autocast, mixed):
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")  # as a launcher config may say
    args = training_arguments(TrainSection(precision=precision), tmp_path, progress=False)
    assert args.bf16 is autocast and args.mixed_precision == mixed


def _changed(before: dict, model) -> float:
    """Share of the trained weights that differ from ``before`` (compared in fp32)."""
    total = changed = 0
    for name, p in model.named_parameters():
        if p.requires_grad:
            total += p.numel()
            changed += int((p.detach().float() != before[name].float()).sum())
    return changed / total


def _train(data, tmp_path, model, **train) -> dict:
    cfg = tiny_config(data, "ga", {}, max_steps=5, learning_rate=1e-5, bf16=None, **train)
    return unlearn(cfg, model, tiny_tokenizer(), tmp_path, progress=False)


def test_default_precision_moves_every_weight_at_lr_1e_5(data, tmp_path):
    model = trained_model()  # on CPU the default (auto) is fp32
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    _train(data, tmp_path, model)
    assert _changed(before, model) >= 0.99


def test_mixed_bf16_trains_fp32_masters_of_a_bf16_model(data, tmp_path):
    model = trained_model().to(torch.bfloat16)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    _train(data, tmp_path, model, precision="mixed-bf16")
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert _changed(before, model) >= 0.99


def test_pure_bf16_only_when_asked_and_with_a_warning(data, tmp_path, caplog):
    model = trained_model().to(torch.bfloat16)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    with caplog.at_level(logging.WARNING, logger="unlearnkit.train.unlearn"):
        _train(data, tmp_path, model, precision="bf16")
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    assert any("rounded away" in r.message for r in caplog.records)
    assert _changed(before, model) < 0.5  # what it costs (measured: 2.4 % moved; mixed: 99.99 %)


def test_lora_keeps_the_frozen_base_in_its_dtype():
    from peft import LoraConfig, get_peft_model

    model = trained_model().to(torch.bfloat16)
    lora = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    for p in lora.parameters():
        if p.requires_grad:
            p.data = p.data.bfloat16()
    apply_precision(lora, "mixed-bf16")
    for name, p in lora.named_parameters():
        assert p.dtype == (torch.float32 if p.requires_grad else torch.bfloat16), name
