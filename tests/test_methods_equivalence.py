"""Relations between methods (docs/methods.md) and the precomputed reference."""

from __future__ import annotations

import pytest
import torch

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    param_copy,
    tiny_config,
    tiny_tokenizer,
    toy_batch,
    trained_model,
    write_tofu,
)
from tolerance import assert_close_sums, batch_terms, sum_atol
from unlearnkit.methods.base import StepContext
from unlearnkit.methods.registry import get_method
from unlearnkit.train.reference import LiveReference, frozen_copy, precompute_reference
from unlearnkit.train.unlearn import unlearn


def _loss_and_grads(method, model, batch, ctx=None):
    model.zero_grad(set_to_none=True)
    loss, _ = method.compute_loss(model, batch, ctx or StepContext())
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("params", [{"K": 3, "r": 0.0}, {"K": 1, "r": -0.4}])
def test_sga_with_r0_or_k1_is_ga(params):
    model = trained_model()
    sga = get_method("sga", params)
    batch, _ = toy_batch(sga)
    ga_loss, ga_grads = _loss_and_grads(get_method("ga"), model, {"forget": batch["forget"]})
    sga_loss, sga_grads = _loss_and_grads(sga, model, batch)
    n = batch_terms(batch)  # the sums of the forget NLL and its gradient
    assert_close_sums(sga_loss, ga_loss, dtype=torch.float32, n_terms=n, rtol=1e-6)
    big = max(g.abs().max().item() for g in ga_grads)  # one scale: some tensors' gradients are ~0
    for a, b in zip(sga_grads, ga_grads, strict=True):
        assert_close_sums(a, b, dtype=torch.float32, n_terms=n, magnitude=big, rtol=1e-5)


def test_sga_negative_smoothing_descends_normal_samples():
    model = trained_model()
    sga = get_method("sga", {"K": 3, "r": -0.5})
    batch, dataset = toy_batch(sga)
    assert batch["normal"]["input_ids"].shape[0] == 2 * batch["forget"]["input_ids"].shape[0]
    loss, logs = sga.compute_loss(model, batch, StepContext())
    w_f, w_n = 1 + 0.5 * 2 / 3, -0.5 / 3
    expected = -(w_f * logs["forget_nll"] + w_n * 2 * logs["normal_nll"])
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-6)
    assert logs["sga_r"] == -0.5


# The sums in one _one_step update: batch_size 4 rows of at most 64 tokens, forget and retain parts.
UPDATE_TERMS = 2 * 4 * 64


def _one_step(data, out, method, params, **train):
    model = trained_model()
    train = {"max_steps": 1, "optimizer": "sgd", "learning_rate": 0.5, "batch_size": 4, **train}
    unlearn(
        tiny_config(data, method, params, **train), model, tiny_tokenizer(), out, progress=False
    )
    return param_copy(model)


def _assert_same_params(a, b):
    """θ − lr·g from two methods: θ's rounding plus lr·(two orders of the batch's gradient sums)."""
    assert a.keys() == b.keys()
    big = max(v.abs().max().item() for v in b.values())
    atol = sum_atol(torch.float32, UPDATE_TERMS, big)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=atol, msg=k)


@pytest.mark.parametrize("accum", [1, 2])
def test_sam_with_rho0_is_the_base_method(data, tmp_path, accum):
    train = {"gradient_accumulation_steps": accum, "batch_size": 4 // accum}
    base = _one_step(data, tmp_path / "npo", "npo", {}, **train)
    sam = _one_step(data, tmp_path / "sam", "sam", {"base": "npo", "rho": 0.0}, **train)
    _assert_same_params(base, sam)
    start = param_copy(trained_model())
    assert any(not torch.equal(base[k], start[k]) for k in base)


def test_sam_with_rho_changes_the_update(data, tmp_path):
    base = _one_step(data, tmp_path / "ga", "ga", {})
    sam = _one_step(data, tmp_path / "sam", "sam", {"base": "ga", "rho": 0.5})
    assert any(not torch.allclose(base[k], sam[k], atol=1e-6) for k in base)


def test_prism_without_probe_sam_gcd_is_npo_plus_retain_nll(data, tmp_path):
    npo = _one_step(data, tmp_path / "npo", "npo", {"alpha": 1.0})
    off = {"lambda_max": 0.0, "rho": 0.0, "gcd": False}
    prism = _one_step(data, tmp_path / "prism", "prism", off)
    _assert_same_params(npo, prism)
    full = _one_step(data, tmp_path / "prism_full", "prism", {"rho": 0.1, "lambda_max": 1.0})
    assert any(not torch.allclose(npo[k], full[k], atol=1e-6) for k in npo)


@pytest.mark.parametrize("name", ["npo", "idkdpo"])
def test_precomputed_reference_matches_live_forward(name):
    model = trained_model()
    method = get_method(name)
    batch, dataset = toy_batch(method)
    with torch.no_grad():  # move the policy away from the reference so the ratio is not 0
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    reference_model = trained_model()
    parts = {n: getattr(dataset, n) for n in method.needs().reference_parts}
    pre = precompute_reference(
        reference_model, parts, tiny_tokenizer().pad_token_id, torch.device("cpu"), 3
    )
    live = LiveReference(frozen_copy(reference_model))
    loss_pre, _ = method.compute_loss(model, batch, StepContext(reference=pre))
    loss_live, _ = method.compute_loss(model, batch, StepContext(reference=live))
    torch.testing.assert_close(loss_pre, loss_live, rtol=1e-5, atol=1e-5)
    assert live.calls == len(parts)


def _count_forwards(model) -> list[int]:
    calls = [0]
    model.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_precomputed_reference_makes_no_reference_forward_per_step(data, tmp_path):
    model = trained_model()
    calls = _count_forwards(model)
    cfg = tiny_config(
        data, "npo", {"alpha": 0.0}, max_steps=3, batch_size=2, reference_batch_size=4
    )
    summary = unlearn(cfg, model, tiny_tokenizer(), tmp_path, progress=False)
    assert summary["reference"] == "precomputed"
    assert calls[0] == 1 + 3  # one reference pass over the 4 forget rows, then one forward a step
    assert (tmp_path / "reference_logprobs.pt").is_file()


def test_live_reference_runs_once_per_step(data, tmp_path):
    model = trained_model()
    calls = _count_forwards(
        model
    )  # the frozen copy inherits the hook: it counts reference calls too
    cfg = tiny_config(data, "npo", {"alpha": 0.0}, max_steps=3, batch_size=2)
    cfg.reference = "live"
    summary = unlearn(cfg, model, tiny_tokenizer(), tmp_path, progress=False)
    assert summary["reference"] == "live" and calls[0] == 3 + 3
    assert not (tmp_path / "reference_logprobs.pt").exists()
    first = next(h for h in summary["log_history"] if "loss" in h)
    assert abs(first["forget_logratio"]) < 1e-5  # π_θ = π_ref before the first update


# ---- each method's loss is its formula in docs/methods.md (which part, which weight, which sign)


class _TableReference:
    """A precomputed reference whose log π_ref is −3 − index (forget) and −6 − 2·index (idk)."""

    kind = "precomputed"

    def logprob(self, name, part, index):
        base, step = {"forget": (-3.0, 1.0), "idk": (-6.0, 2.0)}[name]
        return base - step * index.float()


class _LiveReference:
    kind = "live"

    def __init__(self, model):
        self.model = model

    def outputs(self, part, **kwargs):
        with torch.no_grad():
            return self.model(
                input_ids=part["input_ids"], attention_mask=part["attention_mask"], **kwargs
            )


def _by_hand(name: str, params: dict, model, batch, ref_model) -> torch.Tensor:
    """The loss of docs/methods.md, from the model's logits and the logprobs helpers."""
    from torch.nn import functional as F

    from unlearnkit.logprobs import (
        batch_nll,
        mean_token_prob,
        response_lengths,
        sequence_logprob,
        sequence_nll,
        shift,
    )

    def out(part):
        return model(input_ids=part["input_ids"], attention_mask=part["attention_mask"]).logits

    def retain():
        part = batch["retain"]
        return batch_nll(out(part), part["labels"])

    f = batch.get("forget")
    index = batch["index"].float()
    if name == "ga":
        return -sequence_nll(out(f), f["labels"]).mean()
    if name == "gd":
        return (
            -params["gamma"] * sequence_nll(out(f), f["labels"]).mean() + params["alpha"] * retain()
        )
    if name == "kl":
        part = batch["retain"]
        logits, labels = shift(out(part), part["labels"])
        ref, _ = shift(_LiveReference(ref_model).outputs(part).logits, part["labels"])
        mask = (labels != -100).float()
        p_ref = ref.log_softmax(-1)
        kl = (p_ref.exp() * (p_ref - logits.log_softmax(-1))).sum(-1)
        forget = -sequence_nll(out(f), f["labels"]).mean()
        return forget + params["alpha"] * (kl * mask).sum() / mask.sum()
    if name == "npo":
        beta, logp = params["beta"], sequence_logprob(out(f), f["labels"])
        ratio = logp - (-3.0 - index)
        return -(2 / beta) * F.logsigmoid(-beta * ratio).mean() + params["alpha"] * retain()
    if name == "simnpo":
        beta, logp = params["beta"], sequence_logprob(out(f), f["labels"])
        z = -(beta / response_lengths(f["labels"])) * logp - params["delta"]
        forget = params["gamma"] * (-(2 / beta) * F.logsigmoid(z).mean())
        return forget + params["alpha"] * retain()
    if name == "idk":
        part = batch["idk"]
        return batch_nll(out(part), part["labels"]) + params["alpha"] * retain()
    if name == "idkdpo":
        beta, idk = params["beta"], batch["idk"]
        d_idk = sequence_logprob(out(idk), idk["labels"]) - (-6.0 - 2 * index)
        d_f = sequence_logprob(out(f), f["labels"]) - (-3.0 - index)
        forget = -(2 / beta) * F.logsigmoid(beta * (d_idk - d_f)).mean()
        return forget + params["alpha"] * retain()
    if name == "flat":
        idk = batch["idk"]
        p_f = mean_token_prob(out(f), f["labels"])
        p_e = mean_token_prob(out(idk), idk["labels"])
        return -(p_e - torch.exp(p_f - 1)).mean()  # the KL pair: g*(v) = v, f*(u) = e^(u−1)
    raise AssertionError(name)


LOSS_CASES = {
    "ga": {},
    "gd": {"gamma": 2.0, "alpha": 0.5},
    "kl": {"alpha": 0.7},
    "npo": {"beta": 0.3, "alpha": 0.5},
    "simnpo": {"beta": 2.0, "delta": 0.4, "gamma": 0.5, "alpha": 0.3},
    "idk": {"alpha": 0.6},
    "idkdpo": {"beta": 0.2, "alpha": 0.4},
    "flat": {"divergence": "kl"},
}


@pytest.mark.parametrize("name", sorted(LOSS_CASES))
def test_method_loss_is_its_formula(name):
    params = LOSS_CASES[name]
    method = get_method(name, params)
    model, ref_model = trained_model(), trained_model(seed=1)
    batch, _ = toy_batch(method)
    needs = method.needs()
    reference = {"live": _LiveReference(ref_model), "precomputed": _TableReference()}.get(
        needs.reference
    )
    loss, logs = method.compute_loss(model, batch, StepContext(reference=reference))
    with torch.no_grad():
        want = _by_hand(name, params, model, batch, ref_model)
    torch.testing.assert_close(loss.detach(), want, rtol=1e-5, atol=1e-6)
    assert ("retain_loss" in logs) == needs.retain
    torch.testing.assert_close(
        logs["forget_loss"] + logs.get("retain_loss", 0.0), loss.detach(), rtol=1e-6, atol=1e-6
    )
