"""RMU: response-token averaging, the trained module set, and the steering scale."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    tiny_model,
    tiny_tokenizer,
    toy_batch,
    trained_model,
)
from unlearnkit.errors import UserError
from unlearnkit.logprobs import IGNORE_INDEX
from unlearnkit.methods.base import MethodNeeds, PrepareData, StepContext
from unlearnkit.methods.registry import get_method
from unlearnkit.methods.rmu import activation_norm, response_token_mask, warn_if_far_off

# One row: a prompt token with h = (10, 10), two response tokens (1, 0) and (0, 1).
HIDDEN = torch.tensor([[[10.0, 10.0], [1.0, 0.0], [0.0, 1.0]]])
PART = {
    "input_ids": torch.tensor([[5, 6, 7]]),
    "attention_mask": torch.ones(1, 3, dtype=torch.long),
    "labels": torch.tensor([[IGNORE_INDEX, 6, 7]]),
}


def _stub(hidden: torch.Tensor):
    """A 'model' whose every forward returns ``hidden`` as the output of layer 0."""
    return lambda **kwargs: SimpleNamespace(hidden_states=(None, hidden))


def _rmu(**params):
    rmu = get_method("rmu", params)
    rmu.layer, rmu.control = 0, torch.zeros(2)
    return rmu


def test_response_token_mask():
    mask = response_token_mask(PART["labels"])
    assert mask.dtype == torch.float32 and mask.tolist() == [[0.0, 1.0, 1.0]]


def test_forget_term_averages_over_response_tokens_by_hand():
    # c·u = 0: mean over the 2 response tokens of mean_d h² = ((1 + 0)/2 + (0 + 1)/2)/2 = 0.5.
    # Over attention_mask it would be (100 + 0.5 + 0.5)/3.
    loss, _ = _rmu().forget_loss(_stub(HIDDEN), {"forget": PART}, StepContext())
    assert loss.item() == pytest.approx(0.5)


def test_retain_term_averages_over_response_tokens_by_hand():
    ref = SimpleNamespace(outputs=lambda part, **kw: _stub(torch.zeros(1, 3, 2))())
    loss, logs = _rmu(alpha=2.0).retain_loss(
        _stub(HIDDEN), {"retain": PART}, StepContext(reference=ref)
    )
    assert logs["rmu_retain"].item() == pytest.approx(0.5) and loss.item() == pytest.approx(1.0)


def _trained_names(method, model) -> set[str]:
    method.locate(model)
    keep = method.trainable()
    return {name for name, _ in model.named_parameters() if keep(name)}


def test_default_trains_down_proj_of_three_layers_as_the_reference():
    model = tiny_model(layers=4)
    rmu = get_method("rmu")
    rmu.layer = 2  # the middle of 4: train layers 0, 1, 2
    assert _trained_names(rmu, model) == {
        f"model.layers.{i}.mlp.down_proj.weight" for i in (0, 1, 2)
    }


@pytest.mark.parametrize(
    "module,parts",
    [
        ("mlp", {"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}),
        ("self_attn.o_proj", {"self_attn.o_proj"}),
    ],
)
def test_module_option_widens_or_moves_the_trained_set(module, parts):
    model = tiny_model(layers=4)
    rmu = get_method("rmu", {"module": module, "train_layers": [3]})
    rmu.layer = 2
    assert _trained_names(rmu, model) == {f"model.layers.3.{p}.weight" for p in parts}


def _prepare(params: dict, model=None):
    rmu = get_method("rmu", {"layer": 1, **params})
    model = model or trained_model()
    _, dataset = toy_batch(rmu)
    data = PrepareData(
        dataset.forget, dataset.retain, tiny_tokenizer().pad_token_id, torch.device("cpu"), 4, 0
    )
    rmu.prepare(model, data)
    return rmu, model, dataset


def test_activation_norm_by_hand_on_the_model():
    rmu, model, dataset = _prepare({})
    rows = dataset.forget
    from unlearnkit.data.collate import pad_batch

    batch = pad_batch(rows, tiny_tokenizer().pad_token_id)
    with torch.no_grad():
        h = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            output_hidden_states=True,
        ).hidden_states[2]
    mask = batch["labels"] != IGNORE_INDEX
    expected = h.norm(dim=-1)[mask].mean().item()
    assert rmu.activation_norm == pytest.approx(expected, rel=1e-4)
    assert activation_norm(
        model, rows, 1, tiny_tokenizer().pad_token_id, "cpu", 2
    ) == pytest.approx(expected, rel=1e-4)


def test_relative_c_scales_with_the_activation_norm():
    absolute, _, _ = _prepare({"steering_coeff": 2.0})
    relative, _, _ = _prepare({"steering_coeff": 2.0, "c_mode": "relative"})
    norm = absolute.activation_norm
    assert absolute.control.norm().item() == pytest.approx(2.0, rel=1e-5)
    assert relative.control.norm().item() == pytest.approx(2.0 * norm, rel=1e-5)
    assert relative.report()["rmu_c"] == pytest.approx(2.0 * norm, rel=1e-5)


def test_absolute_c_far_from_the_activation_norm_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="unlearnkit.methods.rmu"):
        rmu, _, _ = _prepare({"steering_coeff": 2.0})
    scale = rmu.activation_norm
    assert ("x the mean activation norm" in caplog.text) == (not 0.1 < 2.0 / scale < 10)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="unlearnkit.methods.rmu"):
        _prepare({"steering_coeff": 20.0 * scale})
    assert "x the mean activation norm" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="unlearnkit.methods.rmu"):
        _prepare({"steering_coeff": scale / 20.0})
    assert "x the mean activation norm" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="unlearnkit.methods.rmu"):
        _prepare({"steering_coeff": 3.0 * scale})
    assert caplog.text == ""


def _layered(*states: torch.Tensor):
    """A 'model' returning ``states`` as hidden_states, only when the caller asks for them."""

    def model(**kwargs):
        return SimpleNamespace(hidden_states=states if kwargs.get("output_hidden_states") else None)

    return model


def test_both_terms_read_the_output_of_the_configured_layer():
    # hidden_states[0] is the embeddings; layer 1's output is hidden_states[2].
    states = (torch.full((1, 3, 2), 7.0), torch.full((1, 3, 2), 5.0), HIDDEN)
    rmu = _rmu()
    rmu.layer = 1
    loss, logs = rmu.forget_loss(_layered(*states), {"forget": PART}, StepContext())
    assert loss.item() == pytest.approx(0.5) and logs == {"rmu_forget": loss}
    ref_states = (None, None, torch.ones(1, 3, 2))
    seen = []

    def outputs(part, **kwargs):
        seen.append(part)
        return _layered(*ref_states)(**kwargs)

    ref = SimpleNamespace(outputs=outputs)
    loss, logs = rmu.retain_loss(_layered(*states), {"retain": PART}, StepContext(reference=ref))
    # response tokens (1, 0) and (0, 1) against (1, 1): mean_d = 0.5 each
    assert loss.item() == pytest.approx(0.5) and set(logs) == {"rmu_retain"}
    assert seen == [PART]  # the reference runs on the retain rows


def test_default_layers_needs_and_state_before_prepare():
    rmu = get_method("rmu")
    assert rmu.needs() == MethodNeeds(retain=True, reference="live", frozen_base=True)
    assert rmu.report() == {"rmu_c": None, "rmu_activation_norm": None}
    with pytest.raises(UserError):
        rmu.trainable()
    rmu.layer = 5
    assert rmu.train_layers() == [3, 4, 5]  # l−2..l
    rmu.layer = 1
    assert rmu.train_layers() == [0, 1]


def test_prepare_picks_the_middle_layer_and_checks_the_range():
    model = trained_model()  # two decoder layers: the middle one is 1
    rmu, _, _ = _prepare({"layer": None}, model)
    assert rmu.layer == 1
    assert _prepare({"layer": 0}, model)[0].layer == 0
    with pytest.raises(UserError, match="rmu layer must be in 0..1"):
        _prepare({"layer": 2}, model)


def test_c_samples_bounds_the_rows_that_measure_the_norm():
    model = trained_model()
    rmu, _, dataset = _prepare({"c_samples": 1}, model)
    pad = tiny_tokenizer().pad_token_id
    one = activation_norm(model, list(dataset.forget)[:1], 1, pad, "cpu")
    assert rmu.activation_norm == pytest.approx(one, rel=1e-5)
    assert one != pytest.approx(activation_norm(model, list(dataset.forget)[:2], 1, pad, "cpu"))


@pytest.mark.parametrize(
    "c,scale,warns",
    [
        (10.0, 1.0, False),
        (10.01, 1.0, True),
        (0.1, 1.0, False),
        (0.15, 1.0, False),
        (0.09, 1.0, True),
        (0.0, 1.0, False),
        (2.0, 0.0, False),
        (2.0, None, False),
    ],
)
def test_far_off_warning_bounds(caplog, c, scale, warns):
    with caplog.at_level(logging.WARNING, logger="unlearnkit.methods.rmu"):
        warn_if_far_off(c, scale, 3)
    assert ("x the mean activation norm" in caplog.text) == warns


def test_c_mode_is_checked():
    with pytest.raises(UserError, match="absolute, relative"):
        get_method("rmu", {"c_mode": "auto"})
