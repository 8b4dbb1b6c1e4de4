"""SAM's mechanics in bf16 and fp32: θ + ε (not θ − ε), an exact restore, the applied norm, the skip
of a non-finite first gradient, and a gradient that matches fp32 ∇ℓ(θ + ε) within bf16 tolerance."""

from __future__ import annotations

import contextlib
import copy
import logging
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    tiny_config,
    tiny_tokenizer,
    toy_batch,
    trained_model,
    write_tofu,
)
from tolerance import assert_close_sums, batch_terms, sum_atol
from unlearnkit.logprobs import batch_nll
from unlearnkit.methods.base import forward
from unlearnkit.methods.ga import GA
from unlearnkit.methods.gd import GD
from unlearnkit.methods.grads import global_dot, sam_gradient, sam_perturbation
from unlearnkit.methods.registry import get_method
from unlearnkit.train.trainer import GradientEngine
from unlearnkit.train.unlearn import unlearn


def engine_for(model: nn.Module, autocast: bool = False) -> GradientEngine:
    """A one-process GradientEngine over ``model`` without a Trainer (bf16 autocast if asked)."""
    accelerator = SimpleNamespace(
        num_processes=1,
        is_main_process=True,
        backward=lambda loss, **kw: loss.backward(**kw),
        mixed_precision="bf16" if autocast else "no",
    )

    def context():
        if autocast:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    trainer = SimpleNamespace(
        model=model, accelerator=accelerator, compute_loss_context_manager=context, warned=set()
    )
    return GradientEngine(trainer)


class Quartic(nn.Module):
    """ℓ(θ) = Σθ⁴/4, so ∇ℓ(θ) = θ³: the gradient at θ + ε and at θ − ε differ visibly."""

    def __init__(self, theta: torch.Tensor):
        super().__init__()
        self.theta = nn.Parameter(theta.clone())

    def loss(self) -> tuple[torch.Tensor, dict]:
        return (self.theta**4).sum() / 4, {}


def test_sam_gradient_is_taken_at_theta_plus_eps():
    theta = torch.tensor([1.0, -2.0, 0.5, 3.0])
    model = Quartic(theta)
    rho = 0.3
    _, logs, (g,) = sam_gradient(engine_for(model), model.loss, rho)

    g1 = theta**3
    eps = rho * g1 / g1.norm()
    torch.testing.assert_close(g, (theta + eps) ** 3)
    assert (g - (theta - eps) ** 3).abs().max() > 1.0  # θ − ε would be far off
    assert torch.equal(model.theta.detach(), theta)  # restored
    norm_atol = sum_atol(torch.float32, theta.numel(), rho)  # ‖ε‖: a float32 sum of 4 squares
    assert float(logs["sam_applied_norm"]) == pytest.approx(rho, rel=0, abs=norm_atol)
    assert logs["sam_skipped"] == 0.0


def _forget_nll(model):
    batch, _ = toy_batch(GA())
    part = batch["forget"]
    return lambda: (batch_nll(forward(model, part).logits, part["labels"]), {})


def test_bf16_sam_step_restores_weights_bit_for_bit_and_matches_a_plain_step():
    model = trained_model().to(torch.bfloat16)
    start = copy.deepcopy(model)
    engine = engine_for(model)
    _, logs, grads = sam_gradient(engine, _forget_nll(model), rho=0.05)

    for (name, p), q in zip(model.named_parameters(), start.parameters()):
        assert torch.equal(p, q), f"{name} moved by the perturbation itself"
    assert 0 < float(logs["sam_applied_norm"]) < 0.05  # bf16 weights hold only part of ρ

    def step(m):
        for p, g in zip(m.parameters(), grads):
            p.grad = None if g is None else g.clone()
        torch.optim.AdamW(m.parameters(), lr=1e-3).step()
        return [p.detach().clone() for p in m.parameters()]

    for a, b in zip(step(model), step(start)):
        assert torch.equal(a, b)


def _rel(a, b) -> float:
    """‖a − b‖ / ‖b‖ over gradient lists."""
    diff = [x - y for x, y in zip(a, b)]
    return float(global_dot(diff, diff).sqrt() / global_dot(b, b).sqrt())


def test_mixed_bf16_sam_gradient_matches_fp32_gradient_at_theta_plus_eps():
    rho = 0.1
    master = trained_model()  # fp32 master weights, bf16 autocast: precision mixed-bf16
    bf16 = engine_for(master, autocast=True)
    _, _, got = sam_gradient(bf16, _forget_nll(master), rho)
    with bf16.autocast():
        plain_bf16 = bf16.grad(_forget_nll(master)()[0])

    reference = trained_model()  # all fp32
    fp32 = engine_for(reference)
    g1 = fp32.grad(_forget_nll(reference)()[0])
    with fp32.perturbed(sam_perturbation(g1, rho)):
        want = fp32.grad(_forget_nll(reference)()[0])

    tolerance = _rel(plain_bf16, g1)  # what bf16 autocast costs a plain gradient (~3 %)
    assert tolerance < 0.05
    assert _rel(got, want) < 1.5 * tolerance
    assert _rel(g1, want) > 10 * _rel(got, want)  # the perturbation matters at this ρ


def test_bf16_applied_perturbation_follows_eps_in_fp32_masters_only():
    model = trained_model()
    loss, _ = _forget_nll(model)()
    grads = engine_for(model).grad(loss)
    eps = sam_perturbation(grads, 0.01)
    for dtype, low in ((torch.float32, 0.999), (torch.bfloat16, 0.0)):
        m = copy.deepcopy(model).to(dtype)
        engine = engine_for(m)
        before = [p.detach().double() for p in engine.params]
        with engine.perturbed([e.to(dtype) for e in eps]) as seen:
            applied = [p.detach().double() - b for p, b in zip(engine.params, before)]
        got = float(global_dot(applied, applied).sqrt())
        assert float(seen.norm) == pytest.approx(got, rel=1e-5)
        cos = float(global_dot(applied, eps)) / (got * 0.01)
        assert cos >= low


class NaNGradientGD(GD):
    """GD whose forget loss has a finite value but a NaN gradient (√0 times 0)."""

    def forget_loss(self, model, batch, ctx):
        loss, logs = super().forget_loss(model, batch, ctx)
        w = next(model.parameters())
        return loss + torch.sqrt(w.sum() * 0.0), logs


def test_non_finite_first_gradient_skips_the_step_and_keeps_weights_finite(tmp_path, caplog):
    data = write_tofu(tmp_path / "data")
    sam = get_method("sam", {"base": "gd", "rho": 0.05})
    sam.base = NaNGradientGD()  # its retain term has a finite gradient
    model = trained_model()
    start = [p.detach().clone() for p in model.parameters()]
    cfg = tiny_config(data, "sam", {}, max_steps=2)
    with caplog.at_level(logging.WARNING, logger="unlearnkit.train.trainer"):
        summary = unlearn(
            cfg, model, tiny_tokenizer(), tmp_path / "run", progress=False, method=sam
        )

    steps = [h for h in summary["log_history"] if "loss" in h]
    assert [h["sam_skipped"] for h in steps] == [1.0, 1.0]
    assert [h["sam_applied_norm"] for h in steps] == [0.0, 0.0]
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(p, s) for p, s in zip(model.parameters(), start))  # retain step ran
    assert sum("first gradient is not finite" in r.message for r in caplog.records) == 1


class _KLWithLiveReference:
    """A live reference for KL's retain term (its ``outputs``), from a second model."""

    kind = "live"

    def __init__(self, model):
        self.model = model

    def outputs(self, part, **kwargs):
        with torch.no_grad():
            return forward(self.model, part, **kwargs)


def test_sam_step_reports_the_base_loss_and_passes_ctx_to_both_terms():
    from grad_engines import AutogradEngine
    from unlearnkit.methods.base import StepContext

    sam = get_method("sam", {"base": "kl", "rho": 0.0, "base_params": {"alpha": 0.5}})
    model, ref = trained_model(), trained_model(seed=1)
    batch, _ = toy_batch(sam)
    ctx = StepContext(reference=_KLWithLiveReference(ref))
    loss, logs, grads = sam.custom_step(model, batch, ctx, AutogradEngine(model))
    want, want_logs = sam.base.compute_loss(model, batch, ctx)
    torch.testing.assert_close(loss, want.detach())
    for key in ("forget_loss", "retain_loss", "retain_kl", "forget_nll"):
        torch.testing.assert_close(logs[key], want_logs[key])
    expected = torch.autograd.grad(want, list(model.parameters()))
    big = max(g.abs().max().item() for g in expected)  # one scale: some tensors' gradients are ~0
    for got, g in zip(grads, expected, strict=True):
        assert_close_sums(
            got, g, dtype=torch.float32, n_terms=batch_terms(batch), magnitude=big, rtol=1e-5
        )


def test_sam_prepare_hands_model_and_data_to_the_base():
    sam = get_method("sam", {"base": "gd"})
    seen = []
    sam.base.prepare = lambda model, data: seen.append((model, data))
    sam.prepare("model", "data")
    assert seen == [("model", "data")]


def test_perturbing_nothing_applies_a_zero_norm():
    model = trained_model()
    engine = engine_for(model)
    with engine.perturbed([None] * len(engine.params)) as seen:
        pass
    assert seen.norm.shape == () and float(seen.norm) == 0.0


def test_engine_put_adds_the_scaled_step_gradient_to_what_accumulated():
    class Four(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(1))
            self.c = nn.Parameter(torch.zeros(1))
            self.d = nn.Parameter(torch.zeros(2, dtype=torch.bfloat16))

    engine = engine_for(Four())
    T = torch.tensor
    saved = [T([1.0, 2.0]), None, T([7.0]), T([1.0, 1.0], dtype=torch.bfloat16)]
    grads = [T([4.0, 4.0]), T([6.0]), None, T([2.0, 4.0])]  # fp32, also for the bf16 parameter
    engine.put(saved, grads, scale=0.5)  # e.g. 1 / gradient_accumulation_steps
    a, b, c, d = (p.grad for p in engine.params)
    assert torch.equal(a, T([3.0, 4.0])) and torch.equal(b, T([3.0])) and torch.equal(c, T([7.0]))
    assert d.dtype == torch.bfloat16 and torch.equal(d, T([2.0, 3.0], dtype=torch.bfloat16))
    with pytest.raises(ValueError):
        engine.put(saved[:3], grads[:3], scale=1.0)
    assert torch.equal(engine.take()[2], T([7.0])) and all(p.grad is None for p in engine.params)


def test_engine_grad_keeps_the_graph_when_asked_and_leaves_grad_empty():
    model = Quartic(torch.tensor([1.0, 2.0]))
    engine = engine_for(model)
    loss, _ = model.loss()
    (g,) = engine.grad(loss, retain_graph=True)
    (again,) = engine.grad(loss)  # the graph is still there
    torch.testing.assert_close(g, torch.tensor([1.0, 8.0]))
    torch.testing.assert_close(again, g)
    assert model.theta.grad is None
