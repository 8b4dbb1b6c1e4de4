import math

import pytest
import torch

from tolerance import sum_atol
from unlearnkit.methods.losses import (
    ga_loss,
    gd_loss,
    idkdpo_loss,
    kl_retain,
    npo_loss,
    random_control_vector,
    rmu_forget_loss,
    rmu_retain_loss,
    simnpo_loss,
)


def t(*values):
    return torch.tensor(values, dtype=torch.float32)


def test_ga_is_minus_mean_nll():
    assert ga_loss(t(1.0, 3.0)).item() == pytest.approx(-2.0)


def test_gd_weights_forget_and_retain():
    # −2·mean(1, 3) + 0.5·mean(0.5, 1.5) = −4 + 0.5
    assert gd_loss(t(1.0, 3.0), t(0.5, 1.5), gamma=2.0, alpha=0.5).item() == pytest.approx(-3.5)


@pytest.mark.parametrize("beta", [0.1, 1.0, 4.5])
def test_npo_at_reference_is_two_over_beta_log_two(beta):
    logp = t(-3.0, -12.0, -0.5)
    assert npo_loss(logp, logp.clone(), beta).item() == pytest.approx(2 / beta * math.log(2))


def test_npo_by_hand():
    # β(logp − ref) = (−1, 0): −log σ(1) = log(1 + e^−1), −log σ(0) = log 2; times 2/β = 20.
    loss = npo_loss(t(-12.0, -5.0), t(-2.0, -5.0), beta=0.1)
    expected = 20 * (math.log(1 + math.exp(-1)) + math.log(2)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_npo_is_finite_far_from_reference():
    loss = npo_loss(t(-1e4, 1e4), t(0.0, 0.0), beta=1.0)
    # −log σ(1e4) ≈ 0 and −log σ(−1e4) ≈ 1e4: mean 5e3, times 2.
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(1e4, rel=1e-4)


def test_npo_gradient_lowers_forget_logprob():
    logp = t(-2.0).requires_grad_()
    npo_loss(logp, t(-2.0), beta=0.1).backward()
    assert logp.grad.item() > 0  # a descent step lowers log π_θ


def test_simnpo_by_hand():
    # −(β/|y|) log π − δ = −(2/3)(−6) − 0.5 = 3.5; loss = −(2/2) log σ(3.5) = log(1 + e^−3.5)
    loss = simnpo_loss(t(-6.0), t(3.0), beta=2.0, delta=0.5)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-3.5)), rel=1e-5)


def test_simnpo_accepts_integer_lengths():
    loss = simnpo_loss(t(-6.0, -2.0), torch.tensor([3, 1]), beta=2.0, delta=0.0)
    expected = (math.log(1 + math.exp(-4.0)) + math.log(1 + math.exp(-4.0))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_idkdpo_by_hand():
    # Δ_idk = −2 − (−3) = 1, Δ_f = −1 − (−1.5) = 0.5; β·margin = 0.05; −(2/β) log σ(0.05)
    loss = idkdpo_loss(t(-2.0), t(-3.0), t(-1.0), t(-1.5), beta=0.1)
    assert loss.item() == pytest.approx(20 * math.log(1 + math.exp(-0.05)), rel=1e-5)


def test_idkdpo_at_reference_is_two_over_beta_log_two():
    a, b = t(-4.0, -1.0), t(-9.0, -3.0)
    assert idkdpo_loss(a, a, b, b, beta=0.5).item() == pytest.approx(4 * math.log(2))


def _kl_by_hand():
    # ref logits (0, log 2, 0) → (1/4, 1/2, 1/4); θ logits (0, 0, 0) → uniform 1/3.
    return 2 * 0.25 * math.log(0.25 * 3) + 0.5 * math.log(0.5 * 3)


def test_kl_retain_single_token_by_hand():
    # labels (−100, −100, 0): after the shift only logits position 1 predicts a response token.
    labels = torch.tensor([[-100, -100, 0]])
    logits = torch.tensor([[[9.0, -9.0, 0.0], [0.0, 0.0, 0.0], [5.0, 1.0, 2.0]]])
    ref = torch.tensor([[[-9.0, 9.0, 0.0], [0.0, math.log(2), 0.0], [0.0, 3.0, 0.0]]])
    assert kl_retain(logits, ref, labels).item() == pytest.approx(_kl_by_hand(), rel=1e-5)


def test_kl_retain_averages_over_response_tokens_of_the_batch():
    # Sequence 0: one response token with the hand KL; sequence 1: two with KL 0 → mean = KL / 3.
    labels = torch.tensor([[-100, -100, 0, -100], [-100, 1, 2, -100]])
    logits = torch.zeros(2, 4, 3)
    ref = torch.zeros(2, 4, 3)
    ref[0, 1] = torch.tensor([0.0, math.log(2), 0.0])
    ref[0, 0] = torch.tensor([7.0, 0.0, 0.0])  # prompt position: must be ignored
    ref[1, 3] = torch.tensor([0.0, 7.0, 0.0])  # last position predicts nothing: must be ignored
    assert kl_retain(logits, ref, labels).item() == pytest.approx(_kl_by_hand() / 3, rel=1e-5)


def test_kl_retain_is_zero_for_identical_models():
    logits = torch.randn(2, 5, 7, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([[-100, 3, 4, 5, 6], [-100, -100, 1, 2, -100]])
    assert kl_retain(logits, logits.clone(), labels).item() == pytest.approx(0.0, abs=1e-6)


def test_rmu_forget_by_hand():
    hidden = torch.tensor([[[1.0, 2.0], [5.0, 5.0]]])
    mask = torch.tensor([[1, 0]])
    # token 0: (1−1, 2−0)² = (0, 4), mean over dims 2; token 1 is masked out.
    assert rmu_forget_loss(hidden, mask, t(1.0, 0.0)).item() == pytest.approx(2.0)


def test_rmu_retain_by_hand():
    hidden = torch.tensor([[[1.0, 1.0], [0.0, 2.0], [9.0, 9.0]]])
    ref = torch.zeros(1, 3, 2)
    mask = torch.tensor([[1, 1, 0]])
    # token 0: mean(1, 1) = 1; token 1: mean(0, 4) = 2; token 2 masked → 1.5
    assert rmu_retain_loss(hidden, ref, mask).item() == pytest.approx(1.5)


def test_random_control_vector_is_a_fixed_unit_vector():
    u = random_control_vector(16, seed=3)
    assert u.shape == (16,)
    assert u.norm().item() == pytest.approx(1.0, rel=0, abs=sum_atol(torch.float32, 16, 1.0))
    assert torch.equal(u, random_control_vector(16, seed=3))
    assert not torch.allclose(u, random_control_vector(16, seed=4))


def test_rmu_retain_is_the_distance_to_a_nonzero_reference():
    # h − h_ref, not h + h_ref: token 0 (3, 1) − (1, 1) → mean(4, 0) = 2; token 1 equal → 0.
    hidden = torch.tensor([[[3.0, 1.0], [2.0, -1.0]]])
    ref = torch.tensor([[[1.0, 1.0], [2.0, -1.0]]])
    assert rmu_retain_loss(hidden, ref, torch.tensor([[1, 1]])).item() == pytest.approx(1.0)


def test_random_control_vector_is_the_normalised_fp64_uniform_draw():
    gen = torch.Generator().manual_seed(3)
    u64 = torch.rand(16, generator=gen, dtype=torch.float64)
    u = random_control_vector(16, seed=3)
    assert u.dtype == torch.float32
    torch.testing.assert_close(u, (u64 / u64.norm()).float(), rtol=0, atol=0)
    assert random_control_vector(16, seed=3, dtype=torch.bfloat16).dtype == torch.bfloat16
