"""PRISM's probe as a measured part: Adam steps counted, k-fold splits and the Wilson interval by
hand, the probe/NPO gradient ratio by hand, and ``lambda_max: auto`` hitting ``probe_share``."""

from __future__ import annotations

import math

import pytest
import torch

import unlearnkit.methods.prism.probe as probe_module
from grad_engines import AutogradEngine, flat
from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    tiny_config,
    tiny_tokenizer,
    toy_batch,
    trained_model,
)
from unlearnkit.errors import UserError
from unlearnkit.eval.metrics.interval import wilson_interval
from unlearnkit.methods.base import PrepareData, StepContext
from unlearnkit.methods.prism.method import PROBE_STEPS, probe_weight
from unlearnkit.methods.prism.probe import (
    ProbeMLP,
    epoch_steps,
    fold_count,
    kfold_splits,
    train_probe,
    train_probe_cv,
)
from unlearnkit.methods.registry import get_method
from unlearnkit.train.reference import LiveReference, frozen_copy
from unlearnkit.train.unlearn import unlearn

LAYER = 1


# ---- steps ------------------------------------------------------------------------------------


def _count_steps(monkeypatch) -> list[int]:
    calls: list[int] = []
    objective = probe_module._probe_objective

    def counted(probe, z, *args):
        calls.append(len(z))
        return objective(probe, z, *args)

    monkeypatch.setattr(probe_module, "_probe_objective", counted)
    return calls


def test_probe_takes_exactly_probe_steps_adam_steps_across_passes(monkeypatch):
    calls = _count_steps(monkeypatch)
    x, y = torch.randn(10, 3), torch.tensor([0, 1] * 5)
    train_probe(x, y, steps=7, batch_size=4)
    assert calls == [4, 4, 2, 4, 4, 2, 4]  # batches of 4, 4, 2 per pass; the third pass cut short
    calls.clear()
    train_probe(x, y, epochs=2, batch_size=4)
    assert len(calls) == epoch_steps(10, 2, 4) == 6


def _prepare(params: dict):
    method = get_method("prism", {"layer": LAYER, **params})
    _, dataset = toy_batch(method)  # 4 forget rows, 8 retain rows: the probe sees 4 + 4
    pad = tiny_tokenizer().pad_token_id
    model = trained_model()
    method.prepare(model, PrepareData(dataset.forget, dataset.retain, pad, "cpu", 4, 0))
    return method, model


@pytest.mark.parametrize(
    "params,steps",
    [({"probe_steps": 3}, 3), ({"probe_epochs": 2}, 2), ({}, PROBE_STEPS)],
)
def test_prepare_reports_the_probe_steps(params, steps):
    method, _ = _prepare({"probe_folds": 2, **params})
    assert method.report()["probe_steps"] == steps  # 8 rows: one batch of 64 per epoch


def test_probe_steps_and_epochs_together_and_probe_holdout_are_one_line_errors():
    with pytest.raises(UserError, match="probe_steps or params.probe_epochs, not both"):
        get_method("prism", {"probe_steps": 5, "probe_epochs": 2})
    with pytest.raises(UserError, match="probe_steps must be a whole number >= 1"):
        get_method("prism", {"probe_steps": 0})
    with pytest.raises(UserError, match="replaced by params.probe_folds"):
        get_method("prism", {"probe_holdout": 0.25})


# ---- k-fold cross-validation and the Wilson interval -----------------------------------------


def test_kfold_of_seven_rows_into_three_folds_by_hand():
    targets = torch.tensor([1, 1, 1, 0, 0, 0, 0])  # 3 forget, 4 retain
    assert fold_count(targets, 5) == 3  # k = min(5, the smaller class's 3 rows)
    splits = kfold_splits(targets, 5, seed=1)
    # Dealt round-robin: retain rows to folds 0, 1, 2, 0, then forget rows to folds 1, 2, 0.
    counts = [(sum(targets[h] == 0).item(), sum(targets[h] == 1).item()) for _, h in splits]
    assert counts == [(2, 1), (1, 1), (1, 1)]
    assert sorted(sum((h for _, h in splits), [])) == list(range(7))
    assert all(sorted(t + h) == list(range(7)) and not set(t) & set(h) for t, h in splits)
    assert kfold_splits(targets, 5, seed=2) != splits  # the seed orders the rows


def test_wilson_interval_of_7_of_16_by_hand():
    # p = 7/16, z² = 3.8415: centre (p + z²/32)/(1 + z²/16) = 0.44960, half-width
    # z·sqrt(p(1−p)/16 + z²/1024)/(1 + z²/16) = 0.21862.
    lo, hi = wilson_interval(7, 16)
    assert (lo, hi) == (pytest.approx(0.23099, abs=1e-4), pytest.approx(0.66822, abs=1e-4))


class _SaysForget(torch.nn.Module):
    """A probe that answers 'forget' (class 1) for every row."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.tensor([0.0, 1.0]))

    def forward(self, z):
        return self.bias.expand(len(z), 2)


def test_cv_counts_every_held_out_prediction_once(monkeypatch):
    monkeypatch.setattr(probe_module, "train_probe", lambda *a, **k: _SaysForget())
    targets = torch.tensor([1, 1, 1, 0, 0, 0, 0])
    fit = train_probe_cv(torch.randn(7, 2), targets, folds=5, seed=0)
    assert (fit.folds, fit.correct, fit.rows) == (3, 3, 7)  # right on the 3 forget rows only
    assert fit.accuracy == pytest.approx(3 / 7)
    assert fit.interval == list(wilson_interval(3, 7))


def test_prepare_reports_accuracy_interval_and_n():
    method, _ = _prepare({"probe_folds": 5, "probe_steps": 5})
    r = method.report()
    assert (r["probe_folds"], r["probe_heldout_rows"]) == (4, 8)  # 4 rows a class: k = 4
    assert r["probe_heldout_accuracy"] == r["probe_heldout_correct"] / 8
    assert r["probe_heldout_interval"] == list(wilson_interval(r["probe_heldout_correct"], 8))


# ---- the probe/NPO gradient ratio and lambda_max: auto ---------------------------------------


def _random_probe() -> ProbeMLP:
    torch.manual_seed(0)
    probe = ProbeMLP(32)
    probe.requires_grad_(False)
    return probe.eval()


def _ready(params: dict, probe: ProbeMLP):
    method = get_method("prism", {"layer": LAYER, "sam": False, "gcd": False, **params})
    method.layer, method.probe = LAYER, probe
    return method


def _norms_by_hand(model, batch, ctx, probe) -> tuple[float, float]:
    method = _ready({"lambda_max": 1.0}, probe)
    npo, term, _ = method.forget_terms(model, batch, ctx, hidden=True)
    params = list(model.parameters())
    g_npo = flat(torch.autograd.grad(npo, params, retain_graph=True, allow_unused=True))
    g_probe = flat(torch.autograd.grad(term, params, allow_unused=True))
    return g_npo.norm().item(), g_probe.norm().item()


def _zeros_for_none(model, grads):
    return [torch.zeros_like(p) if g is None else g for p, g in zip(model.parameters(), grads)]


@pytest.fixture
def setting():
    model, probe = trained_model(), _random_probe()
    batch, _ = toy_batch(_ready({}, probe))
    ctx = StepContext(reference=LiveReference(frozen_copy(model)), step=0, max_steps=4)
    return model, batch, ctx, probe


def test_grad_ratio_is_logged_at_the_first_step_by_hand(setting):
    model, batch, ctx, probe = setting
    n_npo, n_probe = _norms_by_hand(model, batch, ctx, probe)
    method = _ready({"lambda_max": 0.5}, probe)
    _, logs, _ = method.custom_step(model, batch, ctx, AutogradEngine(model))
    assert logs["prism_grad_ratio_at_max"] == pytest.approx(0.5 * n_probe / n_npo, rel=1e-4)
    lam0 = probe_weight(0.0, 0.5)  # 0.5·e^{-5} at step 0
    assert logs["prism_grad_ratio"] == pytest.approx(lam0 * n_probe / n_npo, rel=1e-4)
    report = method.report()
    assert report["prism_npo_grad_norm"] == pytest.approx(n_npo, rel=1e-4)
    assert (report["lambda_max"], report["lambda_max_auto"]) == (0.5, False)
    _, later, _ = method.custom_step(model, batch, ctx, AutogradEngine(model))
    assert "prism_grad_ratio" not in later  # measured once


def test_lambda_max_auto_gives_the_probe_share_of_npo_gradient(setting):
    model, batch, ctx, probe = setting
    n_npo, n_probe = _norms_by_hand(model, batch, ctx, probe)
    auto = _ready({"lambda_max": "auto", "probe_share": 0.1}, probe)
    _, logs, g_auto = auto.custom_step(model, batch, ctx, AutogradEngine(model))
    assert auto.lambda_max == pytest.approx(0.1 * n_npo / n_probe, rel=1e-4)
    assert auto.lambda_max * n_probe / n_npo == pytest.approx(0.1, rel=1e-4)  # by hand
    assert logs["prism_grad_ratio_at_max"] == pytest.approx(0.1, rel=1e-4)
    fixed = _ready({"lambda_max": auto.lambda_max}, probe)  # the step uses the λ it set
    _, _, g_fixed = fixed.custom_step(model, batch, ctx, AutogradEngine(model))
    torch.testing.assert_close(
        flat(_zeros_for_none(model, g_auto)), flat(_zeros_for_none(model, g_fixed))
    )
    doubled = _ready({"lambda_max": "auto", "probe_share": 0.2}, probe)
    doubled.custom_step(model, batch, ctx, AutogradEngine(model))
    assert doubled.lambda_max == pytest.approx(2 * auto.lambda_max, rel=1e-6)


def test_lambda_max_auto_checks_and_switches():
    assert get_method("prism", {"lambda_max": "auto"}).uses_probe
    assert not get_method("prism", {"lambda_max": 0.0}).uses_probe
    with pytest.raises(UserError, match="lambda_max must be a finite number >= 0"):
        get_method("prism", {"lambda_max": "big"})
    with pytest.raises(UserError, match="probe_share must be a finite number > 0"):
        get_method("prism", {"lambda_max": "auto", "probe_share": 0})


def test_a_run_logs_ratio_and_probe_cv_in_method_report(data, tmp_path):
    params = {"lambda_max": "auto", "probe_share": 0.1, "probe_steps": 4, "layer": LAYER}
    cfg = tiny_config(data, "prism", params, max_steps=2, logging_steps=1)
    summary = unlearn(cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=False)
    report = summary["method_report"]
    assert report["prism_grad_ratio_at_max"] == pytest.approx(0.1, rel=1e-4)
    assert report["lambda_max_auto"] and report["lambda_max"] > 0
    assert report["probe_steps"] == 4 and report["probe_heldout_rows"] == 8
    steps = [h for h in summary["log_history"] if "loss" in h]
    assert steps[0]["prism_grad_ratio"] == pytest.approx(
        report["prism_grad_ratio_at_max"] * math.exp(-5.0), rel=1e-4
    )
