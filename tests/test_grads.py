"""Gradient-list algebra (``methods/grads.py``) on hand-made lists: ``None`` entries in either list,
lists of different lengths, low-precision dtypes, a given norm, and ρ = 1 in the SAM step.

Written to kill the mutants ``make mutants`` found alive there (docs/quality.md)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from grad_engines import AutogradEngine
from unlearnkit.methods.grads import (
    combine,
    global_dot,
    project_out,
    project_out_per_tensor,
    retain_gradient,
    sam_gradient,
    sam_perturbation,
    squared_distance,
)

T = torch.tensor


def test_combine_by_hand_with_none_on_either_side():
    a = [T([1.0, 2.0]), None, T([3.0]), None]
    b = [T([10.0, 20.0]), T([5.0]), None, None]
    out = combine(a, b, wa=2.0, wb=-0.5)
    assert torch.equal(out[0], T([-3.0, -6.0]))
    assert torch.equal(out[1], T([-2.5]))
    assert torch.equal(out[2], T([6.0]))
    assert out[3] is None
    assert torch.equal(combine(a, b)[0], T([11.0, 22.0]))  # default weights 1, 1


@pytest.mark.parametrize(
    "fn", [combine, global_dot, squared_distance, project_out, project_out_per_tensor]
)
def test_lists_of_different_lengths_are_an_error(fn):
    with pytest.raises(ValueError):
        fn([T([1.0]), T([2.0])], [T([1.0])])


def test_global_dot_skips_none_and_accumulates_in_fp64():
    a = [T([1.0, 2.0]), None, T([[3.0]])]
    b = [T([4.0, -1.0]), T([9.0]), T([[2.0]])]
    dot = global_dot(a, b)
    assert dot.dtype == torch.float64
    assert dot.item() == 8.0
    empty = global_dot([None], [None])
    assert empty.shape == () and empty.dtype == torch.float64 and empty.item() == 0.0


def test_squared_distance_counts_a_none_on_either_side_as_zero():
    a = [None, T([1.0, 2.0]), T([3.0]), None]
    b = [T([3.0, -4.0]), None, T([1.0]), None]
    # ‖0 − (3, −4)‖² + ‖(1, 2) − 0‖² + (3 − 1)² = 25 + 5 + 4
    assert squared_distance(a, b).item() == 34.0
    assert squared_distance(b, a).item() == 34.0


def test_project_out_keeps_a_forget_tensor_whose_retain_gradient_is_none():
    g_f = [T([1.0, 1.0]), T([2.0, -1.0]), None]
    g_r = [T([1.0, 0.0]), None, T([2.0])]
    # ⟨g_f, g_r⟩ = 1, ‖g_r‖² = 5 → coefficient 0.2 on every tensor g_r holds
    out = project_out(g_f, g_r)
    torch.testing.assert_close(out[0], T([0.8, 1.0]))
    assert torch.equal(out[1], g_f[1])
    assert out[1] is not g_f[1]
    torch.testing.assert_close(out[2], T([-0.4]))  # −0.2·2, not −0.2/2


def test_project_out_with_zero_retain_gradient_keeps_none_entries():
    out = project_out([None, T([1.0, -2.0])], [T([0.0]), T([0.0, 0.0])])
    assert out[0] is None
    assert torch.equal(out[1], T([1.0, -2.0]))


def test_per_tensor_projection_by_hand_with_none_in_the_middle():
    g_f = [T([1.0, 1.0]), T([5.0]), None, T([0.0, 3.0])]
    g_r = [T([1.0, 0.0]), None, T([1.0]), T([0.0, 2.0])]
    out = project_out_per_tensor(g_f, g_r, eps=0.0)
    assert len(out) == 4
    torch.testing.assert_close(out[0], T([0.0, 1.0]))
    assert torch.equal(out[1], T([5.0])) and out[1] is not g_f[1]
    assert out[2] is None
    torch.testing.assert_close(out[3], T([0.0, 0.0]))
    # ε keeps a zero retain tensor harmless: coefficient 0, the forget tensor unchanged
    torch.testing.assert_close(project_out_per_tensor([T([2.0])], [T([0.0])])[0], T([2.0]))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_results_keep_each_tensor_dtype(dtype):
    g_f = [T([1.0, 1.0], dtype=dtype), None]
    g_r = [T([1.0, 0.0], dtype=dtype), T([2.0], dtype=dtype)]
    assert [g.dtype for g in project_out(g_f, g_r)] == [dtype, dtype]
    assert project_out_per_tensor(g_f, g_r)[0].dtype == dtype
    assert sam_perturbation(g_f, rho=0.1)[0].dtype == dtype


def test_sam_perturbation_uses_the_given_norm_and_rho_one():
    g = [T([3.0]), T([4.0])]
    eps = sam_perturbation(g, rho=0.5, norm=T(10.0))  # not the true norm 5: the given one
    torch.testing.assert_close(eps, [T([0.15]), T([0.2])])
    eps = sam_perturbation(g, rho=1.0)
    torch.testing.assert_close(eps, [T([0.6]), T([0.8])])


class Quartic(nn.Module):
    """ℓ(θ) = Σθ⁴/4, ∇ℓ = θ³."""

    def __init__(self, theta: torch.Tensor):
        super().__init__()
        self.theta = nn.Parameter(theta.clone())

    def loss(self) -> tuple[torch.Tensor, dict]:
        return (self.theta**4).sum() / 4, {"part": 1.0}


def _engine(model: nn.Module) -> AutogradEngine:
    return AutogradEngine(model)


# What every SAM step logs, a skipped one included.
SAM_LOG_KEYS = {"part", "sam_forget_loss", "sam_applied_norm", "sam_seen_cos", "sam_skipped"}


def test_sam_gradient_with_rho_one_and_rho_zero():
    theta = T([1.0, -2.0, 0.5])
    model = Quartic(theta)
    engine = _engine(model)
    _, logs, (g,) = sam_gradient(engine, model.loss, rho=1.0)
    eps = theta**3 / (theta**3).norm()
    torch.testing.assert_close(g, (theta + eps) ** 3)
    assert set(logs) == SAM_LOG_KEYS

    engine = _engine(model)
    loss, logs, (g,) = sam_gradient(engine, model.loss, rho=0.0)
    assert engine.perturbations == []  # ρ = 0: one plain gradient, no perturbed pass
    assert logs == {"part": 1.0}
    torch.testing.assert_close(g, theta**3)
    assert loss.item() == pytest.approx(float((theta**4).sum() / 4))


def test_skipped_sam_step_logs_the_same_keys_as_a_normal_one():
    model = Quartic(T([1.0, 2.0]))

    def nan_loss():
        w = model.theta
        return (w**2).sum() + torch.sqrt(w.sum() * 0.0), {"part": 1.0}

    engine = _engine(model)
    _, logs, grads = sam_gradient(engine, nan_loss, rho=0.1)
    assert grads == [None]
    assert set(engine.warnings) == {"sam_skipped"}
    assert set(logs) == SAM_LOG_KEYS
    assert logs["sam_skipped"] == 1.0 and logs["sam_applied_norm"] == 0.0
    assert logs["sam_forget_loss"].item() == 5.0  # the loss at θ (finite), not ε's


def test_retain_gradient_none_and_value():
    model = Quartic(T([2.0]))
    assert retain_gradient(_engine(model), lambda: (None, {"a": 1.0})) == (None, {"a": 1.0}, None)
    loss, logs, (g,) = retain_gradient(_engine(model), model.loss)
    assert loss.item() == 4.0 and logs == {"part": 1.0}
    torch.testing.assert_close(g, T([8.0]))


def test_sam_warns_once_when_bf16_weights_swallow_the_perturbation():
    rho = 1e-4  # far below bf16's spacing at 0.5 (2⁻⁸)
    small = Quartic(T([0.5, 0.5]))  # ‖g¹‖ = 0.18 < 1
    engine = _engine(small.to(torch.bfloat16))
    sam_gradient(engine, small.loss, rho)
    assert set(engine.warnings) == {"sam_swallowed"}
    assert "norm 0 (" in engine.warnings["sam_swallowed"]
    assert "rho = 0.0001" in engine.warnings["sam_swallowed"]

    for theta in (T([0.5, 0.5]), T([0.0, 0.0])):  # fp32 holds ε; a zero gradient has no ε
        model = Quartic(theta)
        engine = _engine(model)
        sam_gradient(engine, model.loss, rho)
        assert engine.warnings == {}


def test_project_out_keeps_none_where_both_gradients_are_none():
    out = project_out([T([1.0]), None], [T([1.0]), None])
    assert out[1] is None
    torch.testing.assert_close(out[0], T([0.0]))
