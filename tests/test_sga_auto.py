"""``sga r: auto``: r* on hand-computed gradients, the bound, the sign heuristic, and the update."""

from __future__ import annotations

import pytest
import torch

from grad_engines import AutogradEngine, ScriptedEngine, flat
from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    toy_batch,
    trained_model,
)
from tolerance import assert_close_sums, batch_terms
from unlearnkit.errors import UserError
from unlearnkit.methods.base import StepContext
from unlearnkit.methods.registry import get_method
from unlearnkit.methods.sga.math import auto_rate, optimal_rate, raw_rate, sga_loss

T = torch.tensor
# K = 4, g_f = (2, 0), ḡ_n = (3, 1): ‖g_f‖² = 4, ⟨g_f, ḡ_n⟩ = 6, ‖g_f − ḡ_n‖² = 2
# → r* = (4/3)·(4 − 6)/2 = −4/3.
NEG_F, NEG_N, NEG_R = T([2.0, 0.0]), T([3.0, 1.0]), -4.0 / 3.0
# K = 2, g_f = (1, 0), ḡ_n = (0, 1): r* = 2·(1 − 0)/2 = 1 (positive smoothing).
POS_F, POS_N, POS_R = T([1.0, 0.0]), T([0.0, 1.0]), 1.0


def test_raw_rate_by_hand():
    assert raw_rate(NEG_F, NEG_N, 4) == pytest.approx(NEG_R)
    assert raw_rate(POS_F, POS_N, 2) == pytest.approx(POS_R)
    assert raw_rate(NEG_F, NEG_F.clone(), 4) is None  # g_f = ḡ_n: every r gives the same norm
    assert raw_rate(NEG_F, NEG_N, 1) is None
    assert raw_rate(T([float("nan"), 0.0]), NEG_N, 4) is None


def test_optimal_rate_is_raw_rate_clipped():
    assert optimal_rate(NEG_F, NEG_N, 4, -2.0, 0.0) == pytest.approx(NEG_R)
    assert optimal_rate(NEG_F, NEG_N, 4, -1.0, 0.0) == pytest.approx(-1.0)


@pytest.mark.parametrize(
    "r_star,mode,r_max,expected",
    [
        (NEG_R, "norm", 0.0, -1.0),  # clipped to r_min = −1
        (-0.3, "norm", 0.0, -0.3),
        (NEG_R, "sign", 0.0, -0.4),  # only the sign of r*, magnitude 0.4
        (-0.01, "sign", 0.0, -0.4),
        (POS_R, "norm", 0.0, 0.0),  # the default bound: never positive smoothing
        (POS_R, "sign", 0.0, 0.0),
        (POS_R, "norm", 0.25, 0.25),  # a configured bound
        (POS_R, "sign", 1.0, 0.4),
        (None, "norm", 0.0, -0.2),  # undefined: the (clipped) fallback
        (0.0, "sign", 0.0, -0.2),
    ],
)
def test_auto_rate_modes_and_bound(r_star, mode, r_max, expected):
    assert auto_rate(r_star, mode, 0.4, -1.0, r_max, fallback=-0.2) == pytest.approx(expected)


def test_auto_rate_rejects_unknown_mode():
    with pytest.raises(ValueError, match="norm, sign"):
        auto_rate(-0.5, "both", 0.4, -1.0, 0.0, 0.0)


def test_auto_params_are_checked():
    assert get_method("sga", {"r": "auto"}).params.r_max == 0.0
    with pytest.raises(UserError, match="r_auto"):
        get_method("sga", {"r": "auto", "r_auto": "both"})
    with pytest.raises(UserError, match="r_max <= 1"):
        get_method("sga", {"r": "auto", "r_max": 1.5})


def _scripted_step(params: dict, g_f: torch.Tensor, g_n: torch.Tensor):
    """SGA's custom step with hand-made g_f and ḡ_n (one tensor each) on the toy batch."""
    sga = get_method("sga", {"K": 3, "r": "auto", **params})
    batch, _ = toy_batch(sga)
    engine = ScriptedEngine(trained_model(), [[g_f], [g_n]])
    loss, logs, grads = sga.custom_step(trained_model(), batch, StepContext(), engine)
    return sga, logs, grads[0]


def test_method_uses_the_bound_by_default():
    # K = 3, g_f = (1, 0), ḡ_n = (0, 1): r* = 1.5·1/2 = 0.75 > 0 → r = 0 (plain GA) by default.
    sga, logs, update = _scripted_step({}, POS_F, POS_N)
    assert sga.r == 0.0 and logs["sga_r"] == 0.0
    assert logs["sga_r_star"] == pytest.approx(0.75)
    torch.testing.assert_close(update, -POS_F)


@pytest.mark.parametrize("mode,expected_r", [("norm", -1.0), ("sign", -0.4)])
def test_method_update_by_hand(mode, expected_r):
    # K = 3, g_f = (2, 0), ḡ_n = (3, 1): r* = 1.5·(4 − 6)/2 = −1.5, clipped to −1 (norm).
    sga, logs, update = _scripted_step({"r_auto": mode}, NEG_F, NEG_N)
    assert sga.r == pytest.approx(expected_r) and logs["sga_r_star"] == pytest.approx(-1.5)
    # ∇L = −(1 − r + r/3) g_f − (r/3)·2·ḡ_n, the gradient of L_SGA (the trainer descends it).
    w_f, w_n = 1 - expected_r + expected_r / 3, expected_r / 3
    torch.testing.assert_close(update, -w_f * NEG_F - 2 * w_n * NEG_N)


@pytest.fixture  # per test: a mutation tool maps a fixture's calls to the first test only
def free_auto_step():
    """One real custom step with r: auto on the tiny model, r* unclipped, and its own gradients."""
    model = trained_model()
    sga = get_method("sga", {"K": 3, "r": "auto", "r_min": -50.0, "r_max": 1.0})
    batch, _ = toy_batch(sga)
    engine = AutogradEngine(model)
    f, n = sga._nll(model, batch)
    g_f = engine.grad(f.mean(), retain_graph=True)
    g_n = engine.grad(n.mean())
    loss, logs, grads = sga.custom_step(model, batch, StepContext(), engine)
    return model, sga, batch, logs, g_f, g_n, grads


def test_auto_rate_equals_the_formula_on_real_gradients(free_auto_step):
    _, sga, _, logs, g_f, g_n, _ = free_auto_step
    a, b = flat(g_f), flat(g_n)
    r_star = 1.5 * float(a @ a - a @ b) / float((a - b) @ (a - b))
    assert abs(r_star) > 1e-2  # a test that a constant r = 0 cannot pass
    assert -50.0 < r_star < 1.0
    assert sga.r == pytest.approx(r_star, rel=1e-4)
    assert logs["sga_r"] == sga.r and logs["sga_r_star"] == pytest.approx(r_star, rel=1e-4)


def test_auto_update_is_the_gradient_of_the_sga_loss(free_auto_step):
    model, sga, batch, _, _, _, grads = free_auto_step
    f, n = sga._nll(model, batch)
    expected = torch.autograd.grad(sga_loss(f, n, sga.r, 3), list(model.parameters()))
    big = max(g.abs().max().item() for g in expected)  # one scale: some tensors' gradients are ~0
    for got, want in zip(grads, expected, strict=True):
        assert_close_sums(
            got, want, dtype=torch.float32, n_terms=batch_terms(batch), magnitude=big, rtol=1e-4
        )


def test_auto_update_ascends_the_forget_rows(free_auto_step):
    model, sga, batch, _, g_f, _, grads = free_auto_step
    # The trainer steps θ − lr·update: to first order the forget NLL changes by −lr·⟨update, g_f⟩.
    assert float(flat(grads) @ flat(g_f)) < 0
    with torch.no_grad():
        before = float(sga._nll(model, batch)[0].mean())
        for p, g in zip(model.parameters(), grads, strict=True):
            p.sub_(1e-3 * g)
        assert float(sga._nll(model, batch)[0].mean()) > before


def test_auto_rate_allows_a_single_point_range_and_rejects_an_empty_one():
    assert auto_rate(-0.5, "norm", 0.4, 0.0, 0.0, fallback=0.0) == 0.0
    with pytest.raises(ValueError, match="must not exceed"):
        auto_rate(-0.5, "norm", 0.4, 0.5, 0.0, fallback=0.0)
