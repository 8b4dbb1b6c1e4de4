"""Round-to-nearest quantization: error within half a step, only linear weights, a copy."""

from __future__ import annotations

import pytest
import torch

from test_attacks_common import (  # noqa: F401 - one_thread is an autouse fixture
    context,
    one_thread,
    same_weights,
    tiny_tokenizer,
    trained_model,
    weights,
    write_tofu_eval,
)
from unlearnkit.attacks.forget import evaluate_forget
from unlearnkit.attacks.quantize import (
    QuantizeParams,
    pick_backend,
    qmax,
    quant_scales,
    quantize_attack,
    quantize_model,
    quantize_tensor,
)
from unlearnkit.errors import UserError


@pytest.fixture(scope="module")
def tofu_dir(tmp_path_factory):
    return write_tofu_eval(tmp_path_factory.mktemp("tofu"))


def _expanded(scales: torch.Tensor, shape: torch.Size, group_size: int | None) -> torch.Tensor:
    """Per-group scales (out, n_groups, 1) as one scale per weight (out, in)."""
    size = group_size or shape[1]
    return scales.squeeze(-1).repeat_interleave(size, dim=1)[:, : shape[1]]


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("group_size", [None, 8, 16])  # 40 columns: 16 leaves a partial group
def test_error_is_at_most_half_a_step(bits, group_size):
    torch.manual_seed(bits)
    w = torch.randn(12, 40) * torch.logspace(-3, 1, 12).unsqueeze(1)
    q = quantize_tensor(w, bits, group_size)
    scale = _expanded(quant_scales(w, bits, group_size), w.shape, group_size)
    assert q.shape == w.shape and q.dtype == w.dtype
    assert torch.all((w - q).abs() <= scale / 2 * (1 + 1e-5))
    levels = q / scale
    assert torch.allclose(levels, levels.round(), atol=1e-3)
    assert levels.abs().max() <= qmax(bits) + 1e-3


def test_group_scales_are_per_group_and_zero_rows_stay_zero():
    w = torch.zeros(3, 8)
    w[0, :4], w[0, 4:] = 1.0, 100.0
    w[1] = torch.linspace(-2, 2, 8)
    scales = quant_scales(w, 8, group_size=4)
    assert scales.shape == (3, 2, 1)
    assert scales[0, 0].item() == pytest.approx(1 / 127) and scales[0, 1].item() == pytest.approx(
        100 / 127
    )
    q = quantize_tensor(w, 4, group_size=4)
    assert torch.equal(q[2], torch.zeros(8)) and torch.equal(q[0, :4], w[0, :4])


def test_dtype_is_kept_and_bad_bits_rejected():
    w = torch.randn(4, 16, dtype=torch.bfloat16)
    assert quantize_tensor(w, 4).dtype == torch.bfloat16
    with pytest.raises(UserError):
        quantize_tensor(w, 1)
    with pytest.raises(UserError):
        QuantizeParams(bits=[32])


def test_quantize_model_is_a_copy_of_linear_weights_only():
    model = trained_model()
    saved = weights(model)
    q = quantize_model(model, 4)
    assert same_weights(model, saved)  # the original is untouched
    qs = q.state_dict()
    embed = "model.embed_tokens.weight"
    assert torch.equal(qs[embed], saved[embed])  # embeddings (and the tied lm_head) kept
    changed = [k for k in saved if not torch.equal(qs[k], saved[k])]
    assert changed and all(k.endswith("proj.weight") for k in changed)
    assert pick_backend(model, 4) == "rtn"  # CPU: the PyTorch path


def test_sixteen_bits_leave_the_tofu_metrics_unchanged(tofu_dir):
    model, tok = trained_model(), tiny_tokenizer()
    ctx = context(tofu_dir)
    plain, _ = evaluate_forget(model, tok, ctx)
    (result,) = quantize_attack(model, tok, ctx, QuantizeParams(bits=[16]))
    assert result.setting == "int16-channel" and result.value == 16
    assert result.metrics.keys() == plain.keys()
    for key, value in plain.items():
        assert result.metrics[key] == pytest.approx(value, abs=1e-3), key
