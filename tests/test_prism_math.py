import math

import pytest
import torch
from torch import nn

from unlearnkit.methods.grads import global_dot, project_out, sam_perturbation
from unlearnkit.methods.prism.method import probe_weight
from unlearnkit.methods.prism.probe import ProbeMLP, pool_hidden, probe_loss, train_probe


def test_probe_architecture():
    probe = ProbeMLP(10)
    linears = [m for m in probe.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(10, 64), (64, 32), (32, 2)]
    assert sum(isinstance(m, nn.ReLU) for m in probe.modules()) == 2
    assert probe(torch.zeros(3, 10)).shape == (3, 2)


def test_pool_hidden_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    pooled = pool_hidden(hidden, torch.tensor([[1, 1, 0]]))
    assert torch.allclose(pooled, torch.tensor([[2.0, 3.0]]))


def _blobs(n, d, gen):
    x0 = torch.randn(n, d, generator=gen) - 1.0
    x1 = torch.randn(n, d, generator=gen) + 1.0
    return torch.cat([x0, x1]), torch.cat([torch.zeros(n), torch.ones(n)]).long()


def test_probe_training_separates_two_blobs():
    gen = torch.Generator().manual_seed(0)
    x, y = _blobs(100, 8, gen)
    probe = train_probe(x, y, epochs=15, lr=1e-2, seed=0)
    x_test, y_test = _blobs(200, 8, gen)
    accuracy = (probe(x_test).argmax(-1) == y_test).float().mean().item()
    assert accuracy > 0.9
    assert not probe.training
    assert all(not p.requires_grad for p in probe.parameters())


def test_probe_training_is_deterministic_for_a_seed():
    x, y = _blobs(20, 4, torch.Generator().manual_seed(1))
    a = train_probe(x, y, epochs=2, seed=7)
    b = train_probe(x, y, epochs=2, seed=7)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_probe_loss_by_hand():
    probe = nn.Linear(2, 2)
    with torch.no_grad():
        probe.weight.zero_()
        probe.bias.copy_(torch.tensor([0.0, math.log(3.0)]))
    # p(y=0) = 1 / (1 + 3) for every input → −log(1/4)
    assert probe_loss(probe, torch.randn(5, 2)).item() == pytest.approx(math.log(4.0))


def test_probe_loss_flows_into_the_features():
    probe = train_probe(*_blobs(10, 3, torch.Generator().manual_seed(2)), epochs=1)
    z = torch.randn(4, 3, requires_grad=True)
    probe_loss(probe, z).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_probe_weight_schedule():
    assert probe_weight(1.0, 0.05) == pytest.approx(0.05)
    assert probe_weight(0.0, 0.05) == pytest.approx(0.05 * math.exp(-5))
    assert probe_weight(0.5, 0.05) == pytest.approx(0.05 * math.exp(-1.25))
    assert probe_weight(0.3, 0.0) == 0.0


def test_project_out_by_hand():
    g_f = [torch.tensor([1.0, 1.0]), torch.tensor([2.0])]
    g_r = [torch.tensor([1.0, 0.0]), torch.tensor([0.0])]
    # ⟨g_f, g_r⟩ = 1, ‖g_r‖² = 1 → g_f − g_r
    out = project_out(g_f, g_r)
    assert torch.equal(out[0], torch.tensor([0.0, 1.0]))
    assert torch.equal(out[1], torch.tensor([2.0]))


def test_project_out_is_orthogonal_to_retain_gradient():
    gen = torch.Generator().manual_seed(3)
    shapes = [(4, 3), (3,), (2, 2, 2)]
    g_f = [torch.randn(s, generator=gen) for s in shapes]
    g_r = [torch.randn(s, generator=gen) for s in shapes]
    out = project_out(g_f, g_r)
    assert [o.shape for o in out] == [g.shape for g in g_f]
    assert global_dot(out, g_r).item() == pytest.approx(0.0, abs=1e-5)


def test_project_out_with_zero_retain_gradient_keeps_forget_gradient():
    g_f = [torch.tensor([1.0, -2.0])]
    out = project_out(g_f, [torch.zeros(2)])
    assert torch.equal(out[0], g_f[0])
    assert out[0] is not g_f[0]


def test_project_out_treats_none_as_zero():
    g_f = [torch.tensor([1.0, 1.0]), None]
    g_r = [torch.tensor([1.0, 0.0]), torch.tensor([1.0])]
    # ⟨g_f, g_r⟩ = 1, ‖g_r‖² = 2 → coefficient 1/2
    out = project_out(g_f, g_r)
    assert torch.allclose(out[0], torch.tensor([0.5, 1.0]))
    assert torch.allclose(out[1], torch.tensor([-0.5]))


def test_sam_perturbation_by_hand():
    eps = sam_perturbation([torch.tensor([3.0]), torch.tensor([[4.0]])], rho=0.5)
    assert torch.allclose(eps[0], torch.tensor([0.3]))
    assert torch.allclose(eps[1], torch.tensor([[0.4]]))


def test_sam_perturbation_has_norm_rho_and_gradient_direction():
    gen = torch.Generator().manual_seed(4)
    grads = [torch.randn(5, 2, generator=gen), torch.randn(7, generator=gen), None]
    eps = sam_perturbation(grads, rho=0.05)
    assert eps[2] is None
    assert global_dot(eps, eps).sqrt().item() == pytest.approx(0.05, rel=1e-5)
    cos = global_dot(eps, grads) / (global_dot(eps, eps) * global_dot(grads, grads)).sqrt()
    assert cos.item() == pytest.approx(1.0, rel=1e-5)


def test_sam_perturbation_zero_cases():
    grads = [torch.tensor([1.0, 2.0])]
    assert torch.equal(sam_perturbation(grads, rho=0.0)[0], torch.zeros(2))
    assert torch.equal(sam_perturbation([torch.zeros(3)], rho=0.1)[0], torch.zeros(3))


def test_pool_hidden_of_a_single_token_row_is_that_token():
    hidden = torch.tensor([[[4.0, 6.0], [9.0, 9.0]]])
    pooled = pool_hidden(hidden, torch.tensor([[1, 0]]))
    assert torch.equal(pooled, torch.tensor([[4.0, 6.0]]))


def test_probe_loss_casts_the_states_to_the_probe_dtype():
    probe = nn.Linear(2, 2).to(torch.bfloat16)
    with torch.no_grad():
        probe.weight.zero_()
        probe.bias.copy_(torch.tensor([0.0, math.log(3.0)]))
    loss = probe_loss(probe, torch.randn(3, 2))  # fp32 states, bf16 probe
    assert loss.item() == pytest.approx(math.log(4.0), rel=1e-2)


def test_probe_objective_by_hand():
    from unlearnkit.methods.prism.probe import _probe_objective

    probe = nn.Linear(2, 2)
    with torch.no_grad():
        probe.weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 1.0]]))
        probe.bias.copy_(torch.tensor([0.1, -0.3]))
    z, y = torch.tensor([[0.2, 0.4], [-1.0, 0.3]]), torch.tensor([0, 1])
    eps, adv_weight, l1 = 0.5, 0.3, 0.01

    def ce(x):
        return torch.nn.functional.cross_entropy(probe(x), y)

    x = z.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(ce(x), x)
    z_adv = z + eps * grad.sign()  # the step that raises the CE (FGSM)
    assert ce(z_adv) > ce(z)
    l1_norm = probe.weight.abs().sum() + probe.bias.abs().sum()
    expected = ce(z) + adv_weight * ce(z_adv) + l1 * l1_norm
    got = _probe_objective(probe, z, y, eps, adv_weight, l1)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


def test_probe_training_defaults_are_the_documented_ones():
    import inspect

    from unlearnkit.methods.prism.probe import train_probe_cv

    defaults = {
        k: v.default
        for k, v in inspect.signature(train_probe).parameters.items()
        if k not in ("features", "targets")
    }
    assert defaults == {
        "epochs": 20,
        "lr": 1e-3,
        "eps": 0.01,
        "adv_weight": 0.4,
        "l1": 1e-4,
        "seed": 0,
        "batch_size": 64,
        "steps": None,
    }
    cv = inspect.signature(train_probe_cv).parameters
    assert (cv["folds"].default, cv["seed"].default) == (5, 0)


def test_kfold_edge_cases():
    from unlearnkit.methods.prism.probe import fold_count, kfold_splits, train_probe_cv

    targets = torch.tensor([0, 0, 1, 1, 1, 1])
    assert fold_count(targets, 5) == 2  # the smaller class has two rows
    held = [h for _, h in kfold_splits(targets, 5, seed=0)]
    assert [sorted(targets[h].tolist()) for h in held] == [[0, 1, 1], [0, 1, 1]]
    assert kfold_splits(targets, 1, seed=0) == []  # probe_folds 1: no cross-validation
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    fit = train_probe_cv(x, targets, folds=1, epochs=1)
    assert (fit.accuracy, fit.interval, fit.folds, fit.rows) == (None, None, 0, 0)


def test_probe_training_defaults_are_used_when_not_given():
    gen = torch.Generator().manual_seed(5)
    x, y = _blobs(50, 4, gen)  # 100 rows: more than one batch of 64
    a = train_probe(x, y, epochs=2)
    b = train_probe(
        x, y, epochs=2, lr=1e-3, eps=0.01, adv_weight=0.4, l1=1e-4, seed=0, batch_size=64
    )
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert all(torch.isfinite(p).all() for p in a.parameters())
