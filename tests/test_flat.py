import math

import pytest
import torch

from unlearnkit.methods.flat import DIVERGENCES, flat_loss, get_divergence

P_E, P_F = 0.5, 0.25


def one(v):
    return torch.tensor([v], dtype=torch.float64)


def test_registry_names():
    assert set(DIVERGENCES) == {"kl", "js", "pearson", "tv"}


def test_kl_by_hand():
    # g*(v) = v, f*(u) = e^(u−1)
    assert flat_loss(one(P_E), one(P_F), "kl").item() == pytest.approx(-(P_E - math.exp(P_F - 1)))


def test_js_by_hand():
    # g*(v) = log 2 − log(1 + e^−v); f*(g*(v)) = −log(2 − 2/(1 + e^−v)) = log(1 + e^v) − log 2
    g_e = math.log(2) - math.log(1 + math.exp(-P_E))
    f_g_f = math.log(1 + math.exp(P_F)) - math.log(2)
    assert flat_loss(one(P_E), one(P_F), "js").item() == pytest.approx(-(g_e - f_g_f))


def test_pearson_by_hand():
    assert flat_loss(one(P_E), one(P_F), "pearson").item() == pytest.approx(
        -(P_E - (P_F**2 / 4 + P_F))
    )


def test_tv_by_hand():
    expected = -(0.5 * math.tanh(P_E) - 0.5 * math.tanh(P_F))
    assert flat_loss(one(P_E), one(P_F), "tv").item() == pytest.approx(expected)


def test_default_is_kl():
    p_e, p_f = one(0.3), one(0.6)
    assert flat_loss(p_e, p_f).item() == flat_loss(p_e, p_f, "kl").item()


def test_expectation_is_over_sequences_outside_g_and_f():
    p_e = torch.tensor([0.1, 0.9], dtype=torch.float64)
    p_f = torch.tensor([0.2, 0.8], dtype=torch.float64)
    for name in DIVERGENCES:
        per_seq = [flat_loss(p_e[i : i + 1], p_f[i : i + 1], name).item() for i in range(2)]
        assert flat_loss(p_e, p_f, name).item() == pytest.approx(sum(per_seq) / 2)
    # With a non-linear f*, applying it to the batch mean would give another number.
    batch_mean = flat_loss(p_e.mean().view(1), p_f.mean().view(1), "kl").item()
    assert flat_loss(p_e, p_f, "kl").item() != pytest.approx(batch_mean)


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
@pytest.mark.parametrize("p_e,p_f", [(0.01, 0.99), (0.3, 0.6), (0.5, 0.5), (0.9, 0.05)])
def test_gradient_raises_template_and_lowers_forget(name, p_e, p_f):
    p_e_t = one(p_e).requires_grad_()
    p_f_t = one(p_f).requires_grad_()
    flat_loss(p_e_t, p_f_t, name).backward()
    assert p_e_t.grad.item() < 0  # descent raises P_e
    assert p_f_t.grad.item() > 0  # descent lowers P_f


def test_unknown_divergence_is_a_clear_error():
    with pytest.raises(
        ValueError, match="unknown FLAT divergence 'hellinger'.*js, kl, pearson, tv"
    ):
        flat_loss(one(0.5), one(0.5), "hellinger")
    with pytest.raises(ValueError):
        get_divergence("KL ")


@pytest.mark.parametrize("divergence", ["js", "pearson", "tv"])
def test_method_uses_its_divergence_and_logs_both_probabilities(divergence):
    from test_methods_common import toy_batch, trained_model
    from unlearnkit.logprobs import mean_token_prob
    from unlearnkit.methods.base import StepContext
    from unlearnkit.methods.registry import get_method

    method = get_method("flat", {"divergence": divergence})
    model = trained_model()
    batch, _ = toy_batch(method)
    loss, logs = method.forget_loss(model, batch, StepContext())

    def p(part):
        logits = model(input_ids=part["input_ids"], attention_mask=part["attention_mask"]).logits
        return mean_token_prob(logits, part["labels"])

    with torch.no_grad():
        p_f, p_e = p(batch["forget"]), p(batch["idk"])
    torch.testing.assert_close(loss.detach(), flat_loss(p_e, p_f, divergence), rtol=1e-5, atol=1e-6)
    assert loss.item() != pytest.approx(flat_loss(p_e, p_f, "kl").item(), rel=1e-3)
    torch.testing.assert_close(logs["p_forget"], p_f.mean(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logs["p_template"], p_e.mean(), rtol=1e-5, atol=1e-6)
