import pytest
import torch

from unlearnkit.methods.losses import ga_loss
from unlearnkit.methods.sga.math import optimal_rate, sga_loss, sga_weights


def test_weights_negative_smoothing():
    w_f, w_n = sga_weights(-0.4, 4)
    assert w_f == pytest.approx(1 + 0.4 * 3 / 4)  # forget ascended harder
    assert w_n == pytest.approx(-0.4 / 4)  # normal samples descended


@pytest.mark.parametrize("r,K", [(-0.4, 4), (0.5, 3), (1.0, 2), (-2.0, 5)])
def test_weights_sum_to_one(r, K):
    w_f, w_n = sga_weights(r, K)
    assert w_f + (K - 1) * w_n == pytest.approx(1.0)


def test_sga_loss_by_hand():
    # −(1.3·2 + (−0.1)·(1 + 1 + 1)) = −2.3
    loss = sga_loss(torch.tensor([2.0]), torch.tensor([[1.0, 1.0, 1.0]]), r=-0.4, K=4)
    assert loss.item() == pytest.approx(-2.3)


def test_sga_with_r_zero_is_ga():
    forget = torch.tensor([1.5, 2.5])
    normal = torch.tensor([[0.3, 0.7, 0.1], [2.0, 1.0, 0.5]])
    assert sga_loss(forget, normal, r=0.0, K=4).item() == pytest.approx(ga_loss(forget).item())


@pytest.mark.parametrize("r", [-0.4, 0.0, 0.7])
def test_sga_with_k_one_is_ga(r):
    forget = torch.tensor([1.5, 2.5])
    normal = torch.empty(2, 0)
    assert sga_loss(forget, normal, r=r, K=1).item() == pytest.approx(ga_loss(forget).item())


def test_sga_loss_rejects_wrong_normal_shape():
    with pytest.raises(ValueError, match="K-1"):
        sga_loss(torch.ones(2), torch.ones(2, 2), r=-0.4, K=4)


def test_optimal_rate_by_hand():
    # ‖g_f‖² = 1, ⟨g_f, ḡ_n⟩ = 0, ‖g_f − ḡ_n‖² = 2, K = 2 → r* = 2 · 1/2 = 1
    r = optimal_rate(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), 2, -10.0, 10.0)
    assert r == pytest.approx(1.0)


def _brute_force_rate(g_f, g_n, K, lo, hi):
    grid = torch.linspace(lo, hi, 200001, dtype=torch.float64)
    updates = g_f + (grid * (K - 1) / K).unsqueeze(-1) * (g_n - g_f)
    return grid[updates.norm(dim=-1).argmin()].item()


@pytest.mark.parametrize("seed,K", [(0, 4), (1, 2), (2, 8)])
def test_optimal_rate_matches_brute_force(seed, K):
    gen = torch.Generator().manual_seed(seed)
    g_f = torch.randn(6, generator=gen, dtype=torch.float64)
    g_n = g_f + 0.8 * torch.randn(6, generator=gen, dtype=torch.float64)
    best = _brute_force_rate(g_f, g_n, K, -10.0, 10.0)
    assert -10.0 < best < 10.0
    assert optimal_rate(g_f, g_n, K, -10.0, 10.0) == pytest.approx(best, abs=2e-4)


def test_optimal_rate_clipped_matches_brute_force_on_the_range():
    gen = torch.Generator().manual_seed(5)
    g_f = torch.randn(6, generator=gen, dtype=torch.float64)
    g_n = torch.randn(6, generator=gen, dtype=torch.float64)
    r_star = optimal_rate(g_f, g_n, 4, -100.0, 100.0)
    lo, hi = r_star + 0.5, r_star + 1.5
    assert optimal_rate(g_f, g_n, 4, lo, hi) == pytest.approx(
        _brute_force_rate(g_f, g_n, 4, lo, hi)
    )


def test_optimal_rate_is_clipped_to_the_range():
    g_f, g_n = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])  # r* = 1
    assert optimal_rate(g_f, g_n, 2, -1.0, 0.25) == pytest.approx(0.25)
    # g_f = (1, 0), ḡ_n = (2, 0): r* = 2 · (1 − 2) / 1 = −2, below the range.
    assert optimal_rate(g_f, torch.tensor([2.0, 0.0]), 2, 0.5, 0.9) == pytest.approx(0.5)
    assert optimal_rate(g_f, g_n, 2, 2.0, 3.0) == pytest.approx(2.0)
    assert optimal_rate(g_f, g_n, 2, 0.0, 0.0) == 0.0  # r_min = r_max: a fixed rate, allowed
    with pytest.raises(ValueError, match="must not exceed"):
        optimal_rate(g_f, g_n, 2, 0.5, 0.0)


def test_optimal_rate_accepts_parameter_lists():
    g_f = [torch.tensor([[1.0, 2.0]]), torch.tensor([0.5])]
    g_n = [torch.tensor([[0.0, 1.0]]), torch.tensor([-1.0])]
    flat = optimal_rate(
        torch.cat([g.flatten() for g in g_f]), torch.cat([g.flatten() for g in g_n]), 4, -5, 5
    )
    assert optimal_rate(g_f, g_n, 4, -5.0, 5.0) == pytest.approx(flat)


def test_optimal_rate_degenerate_cases_use_the_clipped_fallback():
    g = torch.tensor([1.0, -2.0])
    assert optimal_rate(g, g.clone(), 4, -1.0, 1.0) == 0.0
    assert optimal_rate(g, torch.zeros(2), 1, -1.0, 1.0, fallback=-0.4) == pytest.approx(-0.4)
    assert optimal_rate(g, g.clone(), 4, 0.2, 1.0) == pytest.approx(0.2)
