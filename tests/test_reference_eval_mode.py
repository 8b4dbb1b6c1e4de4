"""The LoRA live reference (adapters off) runs with dropout off and gives the training mode back."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    tiny_tokenizer,
    trained_model,
)
from unlearnkit.train.reference import LiveReference, eval_mode


class DropoutModel(nn.Module):
    """Ones through a heavy dropout: training mode shows as zeros and 10s, eval mode as ones."""

    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.9)
        self.frozen = nn.Dropout(0.9)
        self.adapters_disabled = 0

    @contextlib.contextmanager
    def disable_adapter(self):
        self.adapters_disabled += 1
        yield

    def forward(self, input_ids, attention_mask):
        return self.drop(torch.ones(64))


def _part():
    return {"input_ids": torch.zeros(1, 2, dtype=torch.long), "attention_mask": torch.ones(1, 2)}


def test_adapters_off_reference_runs_in_eval_mode_and_restores_train_mode():
    model = DropoutModel()
    model.train()
    model.frozen.eval()  # a submodule kept in eval by its owner stays so
    torch.manual_seed(0)
    out = LiveReference(model, adapters_off=True).outputs(_part())
    assert model.adapters_disabled == 1
    assert torch.equal(out, torch.ones(64))  # no dropout
    assert model.training and model.drop.training and not model.frozen.training


def test_eval_mode_restores_after_an_error():
    model = DropoutModel()
    model.train()
    try:
        with eval_mode(model):
            assert not model.training
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert model.training and model.drop.training


def test_lora_reference_with_dropout_is_the_base_model_in_eval():
    from peft import LoraConfig, get_peft_model

    base = trained_model()
    with torch.no_grad():
        ids = torch.tensor([tiny_tokenizer()("Where was Zorbel Quint born?")["input_ids"]])
        base.eval()
        expected = base(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    base.config.attention_dropout = 0.5  # dropout inside the base model, as many checkpoints have
    for layer in base.model.layers:
        layer.self_attn.attention_dropout = 0.5
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.5, target_modules=["q_proj", "v_proj"])
    model = get_peft_model(base, config)
    model.train()
    ref = LiveReference(model, adapters_off=True)
    part = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    torch.manual_seed(0)
    first = ref.outputs(part).logits
    second = ref.outputs(part).logits
    torch.testing.assert_close(first, second)
    torch.testing.assert_close(first, expected, rtol=1e-5, atol=1e-5)
    assert model.training
