"""The copy an attack changes: adapters merged, same function, the original untouched."""

from __future__ import annotations

import torch

from test_attacks_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    same_weights,
    trained_model,
    weights,
)
from unlearnkit.attacks.copying import attack_copy
from unlearnkit.attacks.quantize import quantize_model


def lora_model(wrap: bool):
    """The tiny model with LoRA adapters (non-zero), as a PeftModel or injected in place."""
    from peft import LoraConfig, get_peft_model

    model = trained_model()
    config = LoraConfig(
        r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"
    )
    peft_model = get_peft_model(model, config)
    torch.manual_seed(0)
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.5)
    return peft_model if wrap else model


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=torch.tensor([[5, 9, 14, 3, 22]])).logits


def test_copy_merges_adapters_and_keeps_the_function():
    for wrap in (True, False):
        model = lora_model(wrap)
        model.eval()
        saved, expected = weights(model), logits(model)
        clone = attack_copy(model)
        assert not any("lora_" in n for n, _ in clone.named_parameters())
        assert all(p.requires_grad for p in clone.parameters())
        assert torch.allclose(logits(clone.eval()), expected, atol=1e-5)
        assert same_weights(model, saved) and torch.allclose(logits(model), expected)
        assert "lora_" not in str(quantize_model(model, 8))


def test_copy_in_another_dtype():
    model = trained_model()
    clone = attack_copy(model, torch.bfloat16)
    assert next(clone.parameters()).dtype == torch.bfloat16
    assert next(model.parameters()).dtype == torch.float32
