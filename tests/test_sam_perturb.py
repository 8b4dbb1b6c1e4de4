"""SAM's ε as a bf16-autocast forward sees it (methods.perturb): the measure compares the cast
weights, the additive path makes the forward see ε where writing it into the weights does not, every
weight and hook is gone after, and the trainer hands the run's autocast dtype to it."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    tiny_config,
    tiny_tokenizer,
    trained_model,
)
from test_sam_mechanics import _forget_nll, engine_for
from tolerance import sum_atol
from unlearnkit.casting import parameter_users
from unlearnkit.methods.grads import global_dot, sam_gradient, sam_perturbation
from unlearnkit.methods.perturb import perturbation, seen_perturbation
from unlearnkit.train import trainer as trainer_module
from unlearnkit.train.unlearn import unlearn

BF16 = torch.bfloat16


def _on_bf16_grid(model: nn.Module) -> nn.Module:
    """fp32 master weights equal to their bf16 values (step 0 from a bf16 checkpoint)."""
    return model.to(BF16).float()


def _tiny_eps(params, scale: float, seed: int = 0) -> list[torch.Tensor]:
    """A random ε per parameter with entries of size ``scale`` relative to each weight's spacing."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(p.shape, generator=gen) * scale for p in params]


def test_seen_perturbation_compares_the_cast_weights_not_the_stored_ones():
    theta = torch.tensor([1.0, -0.5, 0.25, 2.0])  # exact in bf16: spacing 2⁻⁷ at 1.0
    eps = torch.tensor([1e-4, -1e-4, 2e-5, 3e-4])  # below half a bf16 step of each weight
    after = theta + eps
    stored = seen_perturbation([theta], [after], [eps], cast=None)
    cast = seen_perturbation([theta], [after], [eps], cast=BF16)
    assert float(stored.cos) == pytest.approx(1.0, abs=1e-6)
    assert float(stored.norm) == pytest.approx(float(eps.norm()), rel=1e-3)
    assert float(cast.norm) == 0.0 and float(cast.cos) == 0.0  # bf16(θ + ε) = bf16(θ)

    big = torch.tensor([0.1, 0.0, 0.0, 0.0])  # above half a step: bf16 sees a rounded ε
    seen = seen_perturbation([theta], [theta + big], [big], cast=BF16)
    assert float(seen.cos) == pytest.approx(1.0, abs=1e-6)
    assert float(seen.norm) != pytest.approx(0.1, rel=1e-4)  # 1.1 rounds to 1.1015625


class EmbedLinear(nn.Module):
    """ids → embedding → linear map, weights on the bf16 grid."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.proj = nn.Embedding(11, 16), nn.Linear(16, 8)
        _on_bf16_grid(self)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.proj(self.embed(ids))


def test_additive_path_makes_the_bf16_autocast_forward_see_eps():
    model = EmbedLinear()
    params = list(model.parameters())
    eps = _tiny_eps(params, 1e-5)  # far below half a bf16 step of weights ~0.1-1
    eps[0] = None  # the linear map only: its input is what bf16 rounds, not its ε
    ids = torch.arange(11)
    with torch.no_grad():
        x = model.embed(ids)
        want = nn.functional.linear(x, eps[1], eps[2])  # the change of the output ε makes
        with torch.autocast("cpu", dtype=BF16):
            base = model(ids).float()
            with perturbation(model, params, eps, cast=BF16) as seen:
                additive = model(ids).float() - base
            with perturbation(model, params, eps, cast=None):  # θ + ε written into the weights
                in_place = model(ids).float() - base
    assert float(in_place.abs().max()) < 1e-3 * float(want.abs().max())  # rounded away
    cos = float((additive * want).sum() / (additive.norm() * want.norm()))
    assert cos > 0.999
    assert float(additive.norm() / want.norm()) == pytest.approx(1.0, abs=0.02)
    assert float(seen.cos) > 0.999
    assert float(seen.norm) == pytest.approx(float(global_dot(eps, eps).sqrt()), rel=0.01)


def test_additive_embedding_adds_its_eps_rows_in_fp32():
    model = EmbedLinear()
    eps = [torch.full_like(model.embed.weight, 1e-4), None, None]  # < half a bf16 step
    ids = torch.tensor([3, 5])
    with torch.no_grad(), torch.autocast("cpu", dtype=BF16):
        base = model.embed(ids)
        with perturbation(model, list(model.parameters()), eps, cast=BF16):
            moved = model.embed(ids)
    atol = sum_atol(torch.float32, 2, float(base.abs().max()))  # the fp32 sum θ + ε, rounded
    torch.testing.assert_close(moved - base, eps[0][ids], rtol=0.0, atol=atol)


def test_lora_eps_reaches_the_layer_output_past_peft_s_bf16_cast():
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.2, target_modules=["proj"])
    model = inject_adapter_in_model(config, EmbedLinear())
    params = [p for n, p in model.named_parameters() if "lora_" in n]
    with torch.no_grad():
        for p in params:
            p.normal_(0.0, 0.1)  # B ≠ 0, so that ε of A shows too
    _on_bf16_grid(model).train()  # dropout on: the hooks must use the layer's own mask
    eps = _tiny_eps(params, 1e-5)  # far below half a bf16 step of the adapters' weights
    ids = torch.arange(11)

    def out(**perturb):
        torch.manual_seed(1)  # the same dropout mask in every forward
        if not perturb:
            return model(ids).float()
        with perturbation(model, params, eps, **perturb):
            return model(ids).float()

    with torch.no_grad():
        want = out(cast=None) - out()  # fp32, θ + ε written into the adapters
        with torch.autocast("cpu", dtype=BF16):
            base = out()
            additive = out(cast=BF16) - base
            in_place = out(cast=BF16, additive=False) - base
    assert float(in_place.abs().max()) < 1e-2 * float(want.abs().max())  # rounded away
    cos = float((additive * want).sum() / (additive.norm() * want.norm()))
    assert cos > 0.99
    assert float(additive.norm() / want.norm()) == pytest.approx(1.0, abs=0.05)


def test_perturbation_restores_every_weight_and_removes_its_hooks():
    model = trained_model()
    start = copy.deepcopy(model)
    params = list(model.parameters())
    eps = _tiny_eps(params, 1e-3)
    with perturbation(model, params, eps, cast=BF16):
        hooked = [m for m in model.modules() if m._forward_hooks]
        moved = [not torch.equal(p, q) for p, q in zip(model.parameters(), start.parameters())]
    assert hooked and any(moved)  # linear maps hooked, norm weights written in place
    assert not any(m._forward_hooks for m in model.modules())
    for p, q in zip(model.parameters(), start.parameters()):
        assert torch.equal(p, q)


def test_tied_weights_go_through_the_hooks_of_every_module_that_holds_them():
    model = trained_model()  # tie_word_embeddings: lm_head.weight is embed_tokens.weight
    embed = model.get_input_embeddings()
    users = parameter_users(model)[id(embed.weight)]
    assert {type(m).__name__ for m, _ in users} == {"Embedding", "Linear"}
    params = list(model.parameters())
    eps = _tiny_eps(params, 1e-3)
    with perturbation(model, params, eps, cast=BF16):
        assert embed._forward_hooks and model.lm_head._forward_hooks
        assert torch.equal(embed.weight, trained_model().get_input_embeddings().weight)


def _cos(a, b) -> float:
    return float(global_dot(a, b) / (global_dot(a, a) * global_dot(b, b)).sqrt())


def _sub(a, b):
    return [x - y for x, y in zip(a, b, strict=True)]


def _ratio(a, b) -> float:
    return float((global_dot(a, a) / global_dot(b, b)).sqrt())


def test_bf16_sam_gradient_keeps_the_fp32_shift_where_the_weights_round_eps_away():
    rho = 0.005  # small enough that bf16(θ + ε) = bf16(θ) for most weights of the tiny model
    reference = _on_bf16_grid(trained_model())
    fp32 = engine_for(reference)
    g1 = fp32.grad(_forget_nll(reference)()[0])
    with fp32.perturbed(sam_perturbation(g1, rho)):
        want = fp32.grad(_forget_nll(reference)()[0])
    shift = _sub(want, g1)  # what SAM adds to the plain fp32 gradient: 13 % of it here

    master = _on_bf16_grid(trained_model())
    bf16 = engine_for(master, autocast=True)
    with bf16.autocast():
        plain = bf16.grad(_forget_nll(master)()[0])
    _, logs, got = sam_gradient(bf16, _forget_nll(master), rho)
    # measured: cosine 0.957, norm ratio 1.04 (θ + ε written into the weights: 0.81, 0.47)
    assert _cos(_sub(got, plain), shift) > 0.9
    assert 0.8 < _ratio(_sub(got, plain), shift) < 1.25
    assert float(logs["sam_seen_cos"]) > 0.999

    eps = sam_perturbation(plain, rho)  # what the step did before: θ + ε in the fp32 masters
    with perturbation(master, bf16.params, eps, BF16, additive=False) as seen, bf16.autocast():
        in_place = bf16.grad(_forget_nll(master)()[0])
    assert _ratio(_sub(in_place, plain), shift) < 0.7  # half of SAM's shift is rounded away
    assert float(seen.cos) < 0.6  # and the measure says so


@pytest.mark.parametrize(
    ("method", "params", "lora"),
    [
        ("sam", {"base": "ga", "rho": 0.05}, 0),
        ("prism", {"rho": 0.05, "probe_epochs": 2}, 0),
        ("sam", {"base": "ga", "rho": 0.05}, 2),
    ],
)
def test_trainer_hands_the_runs_autocast_dtype_to_the_perturbation(
    data, tmp_path, monkeypatch, method, params, lora
):
    casts = []
    real = trainer_module.perturbation

    def spy(model, params, eps, cast):
        casts.append(cast)
        return real(model, params, eps, cast)

    monkeypatch.setattr(trainer_module, "perturbation", spy)
    for precision, want in (("mixed-bf16", BF16), ("fp32", None)):
        casts.clear()
        cfg = tiny_config(data, method, params, max_steps=1, precision=precision)
        cfg.lora.r = lora
        model = trained_model()
        summary = unlearn(cfg, model, tiny_tokenizer(), tmp_path / precision, progress=False)
        assert casts == [want]
        (step,) = [h for h in summary["log_history"] if "loss" in h]
        assert step["sam_seen_cos"] > 0.99
        assert step["sam_applied_norm"] == pytest.approx(0.05, rel=0.01)


@pytest.mark.slow
def test_sam_gradient_of_a_135m_llama_under_bf16_autocast_meets_the_fp32_one():
    """Issue 23's goal: cos ≥ 0.99 with fp32 ∇ℓ(θ + ε) at ρ = 0.01 on SmolLM2-135M's shape, from
    a bf16 checkpoint (measured, 1 × 32 tokens: 0.99994; ε written into the weights: 0.9887)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    shape = dict(hidden_size=576, num_hidden_layers=30, num_attention_heads=9)
    shape |= dict(num_key_value_heads=3, intermediate_size=1536, vocab_size=49152)
    model = _on_bf16_grid(LlamaForCausalLM(LlamaConfig(max_position_embeddings=64, **shape)))
    params = list(model.parameters())
    ids = torch.randint(0, 49152, (1, 32), generator=torch.Generator().manual_seed(0))

    def grad(autocast: bool) -> list[torch.Tensor]:
        with torch.autocast("cpu", dtype=BF16, enabled=autocast):
            loss = model(input_ids=ids, labels=ids).loss.float()
        return list(torch.autograd.grad(loss, params))

    eps = sam_perturbation(grad(autocast=True), 0.01)  # from the bf16 gradient, as the step does
    with perturbation(model, params, eps, cast=None):
        want = grad(autocast=False)
    with perturbation(model, params, eps, cast=BF16):
        got = grad(autocast=True)
    with perturbation(model, params, eps, cast=BF16, additive=False):
        in_place = grad(autocast=True)
    assert _cos(got, want) >= 0.999
    assert _cos(in_place, want) < 0.995
