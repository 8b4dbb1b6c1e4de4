"""PRISM's parts one at a time: the probe term (by hand), SAM, GCD (global and per tensor), and the
held-out probe accuracy."""

from __future__ import annotations

import logging
import math

import pytest
import torch
import torch.nn.functional as F

from grad_engines import AutogradEngine, flat
from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    one_thread,
    tiny_tokenizer,
    toy_batch,
    trained_model,
)
from tolerance import assert_close_sums, batch_terms
from unlearnkit.errors import UserError
from unlearnkit.methods.base import PrepareData, StepContext
from unlearnkit.methods.grads import project_out, project_out_per_tensor
from unlearnkit.methods.prism.probe import (
    ProbeFit,
    ProbeMLP,
    kfold_splits,
    probe_accuracy,
    train_probe_cv,
)
from unlearnkit.methods.registry import get_method
from unlearnkit.train.reference import LiveReference, frozen_copy

LAYER = 1  # the tiny model has two decoder layers
END = StepContext(step=1, max_steps=1)  # progress 1: λ(p) = λ_max


def _prism(params: dict, probe: torch.nn.Module | None = None):
    method = get_method("prism", {"layer": LAYER, **params})
    method.layer = LAYER
    method.probe = probe if probe is not None else _random_probe()
    return method


def _random_probe(seed: int = 0) -> ProbeMLP:
    torch.manual_seed(seed)
    probe = ProbeMLP(32)
    probe.requires_grad_(False)
    return probe.eval()


def _constant_probe() -> ProbeMLP:
    """p(y = 0 | z) = 1/4 for every z: the probe term is −log(1/4) = log 4 exactly."""
    probe = ProbeMLP(32)
    last = probe.net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([0.0, math.log(3.0)]))
    probe.requires_grad_(False)
    return probe.eval()


def _ctx(model, step=1) -> StepContext:
    return StepContext(reference=LiveReference(frozen_copy(model)), step=step, max_steps=1)


def test_probe_term_adds_lambda_log4_by_hand():
    model = trained_model()
    batch, _ = toy_batch(_prism({}))
    on, off = _prism({"lambda_max": 0.5}, _constant_probe()), _prism({"probe": False})
    loss_on, logs = on.forget_loss(model, batch, _ctx(model))
    loss_off, _ = off.forget_loss(model, batch, _ctx(model))
    assert logs["probe_weight"] == pytest.approx(0.5)
    assert logs["probe_loss"].item() == pytest.approx(math.log(4.0), rel=1e-5)
    assert (loss_on - loss_off).item() == pytest.approx(0.5 * math.log(4.0), rel=1e-5)


def _grads(model, loss) -> list[torch.Tensor]:
    return [
        torch.zeros_like(p) if g is None else g
        for p, g in zip(
            model.parameters(),
            torch.autograd.grad(loss, list(model.parameters()), allow_unused=True),
            strict=True,
        )
    ]


def test_probe_term_gradient_is_lambda_times_the_probe_gradient():
    model, probe = trained_model(), _random_probe()
    batch, _ = toy_batch(_prism({}))
    on, off = _prism({"lambda_max": 0.5}, probe), _prism({"probe": False})
    g_on = flat(_grads(model, on.forget_loss(model, batch, _ctx(model))[0]))
    g_off = flat(_grads(model, off.forget_loss(model, batch, _ctx(model))[0]))
    diff = g_on - g_off
    # The term by hand: mean over forget rows of −log softmax(probe(mean of non-pad h_L))[0].
    part = batch["forget"]
    hidden = model(
        input_ids=part["input_ids"],
        attention_mask=part["attention_mask"],
        output_hidden_states=True,
    ).hidden_states[LAYER + 1]
    mask = part["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    term = -F.log_softmax(probe(pooled), -1)[:, 0].mean()
    expected = 0.5 * flat(_grads(model, term))
    assert expected.norm() > 1e-6
    # diff cancels two full gradients: its rounding scales with them, not with the probe term.
    big = max(g_on.abs().max().item(), g_off.abs().max().item())
    assert_close_sums(
        diff, expected, dtype=torch.float32, n_terms=batch_terms(batch), magnitude=big, rtol=1e-3
    )


OFF = {"probe": False, "sam": False, "gcd": False, "lambda_max": 0.5, "rho": 0.05}


@pytest.fixture  # per test: a mutation tool maps a fixture's calls to the first test only
def steps():
    """The update of one PRISM step with no part, and with each part alone, on one model."""
    model = trained_model()
    batch, _ = toy_batch(_prism({}))
    ctx = _ctx(model)
    out = {}
    for name, change in {
        "off": {},
        "probe": {"probe": True},
        "sam": {"sam": True},
        "gcd": {"gcd": True},
        "per_tensor": {"gcd": "per_tensor"},
    }.items():
        method = _prism({**OFF, **change})
        engine = AutogradEngine(model)
        _, logs, grads = method.custom_step(model, batch, ctx, engine)
        out[name] = (grads, logs, engine)
    return model, batch, ctx, out


def _g_r(model, batch) -> list[torch.Tensor]:
    part = batch["retain"]
    from unlearnkit.logprobs import batch_nll

    logits = model(input_ids=part["input_ids"], attention_mask=part["attention_mask"]).logits
    return _grads(model, batch_nll(logits, part["labels"]))


@pytest.mark.parametrize("part", ["probe", "sam", "gcd", "per_tensor"])
def test_each_part_alone_changes_the_update(steps, part):
    _, _, _, out = steps
    base, changed = flat(out["off"][0]), flat(out[part][0])
    assert (changed - base).norm() > 1e-4 * base.norm()


def test_off_is_npo_plus_retain_gradient(steps):
    model, batch, ctx, out = steps
    method = _prism(OFF)
    npo, _ = method.forget_loss(model, batch, ctx)
    expected = flat(_grads(model, npo)) + flat(_g_r(model, batch))
    assert_close_sums(
        flat(out["off"][0]), expected, dtype=torch.float32, n_terms=batch_terms(batch), rtol=1e-4
    )


def test_sam_alone_takes_the_forget_gradient_at_theta_plus_eps(steps):
    model, batch, ctx, out = steps
    method = _prism(OFF)
    g1 = _grads(model, method.forget_loss(model, batch, ctx)[0])
    scale = 0.05 / flat(g1).norm()
    assert len(out["sam"][2].perturbations) == 1
    with torch.no_grad():
        for p, g in zip(model.parameters(), g1, strict=True):
            p.add_(scale.float() * g)
    g_sam = flat(_grads(model, method.forget_loss(model, batch, ctx)[0]))
    with torch.no_grad():
        for p, g in zip(model.parameters(), g1, strict=True):
            p.sub_(scale.float() * g)
    expected = g_sam + flat(_g_r(model, batch))
    assert_close_sums(
        flat(out["sam"][0]), expected, dtype=torch.float32, n_terms=batch_terms(batch), rtol=1e-3
    )


def test_gcd_alone_removes_the_retain_component(steps):
    model, batch, _, out = steps
    g_r = _g_r(model, batch)
    forget_part = flat(out["gcd"][0]) - flat(g_r)  # w_f = w_r = 1
    cos = forget_part @ flat(g_r) / (forget_part.norm() * flat(g_r).norm())
    assert abs(cos.item()) < 1e-4
    off_forget = flat(out["off"][0]) - flat(g_r)
    assert abs((off_forget @ flat(g_r) / (off_forget.norm() * flat(g_r).norm())).item()) > 1e-3


def test_per_tensor_gcd_removes_the_retain_component_of_each_tensor(steps):
    model, batch, _, out = steps
    g_r = _g_r(model, batch)
    for got, r in zip(out["per_tensor"][0], g_r, strict=True):
        f = (got - r).reshape(-1).double()
        r = r.reshape(-1).double()
        if r.norm() > 0 and f.norm() > 0:
            assert abs((f @ r / (f.norm() * r.norm())).item()) < 1e-3


def test_per_tensor_projection_by_hand():
    g_f = [torch.tensor([1.0, 1.0]), torch.tensor([2.0, 0.0]), torch.tensor([3.0]), None]
    g_r = [torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0]), torch.zeros(1), torch.ones(2)]
    # tensor 0: ⟨·⟩ = 2, ‖g_r‖² = 4 → (1, 1) − ½(2, 0) = (0, 1)
    # tensor 1: ⟨·⟩ = 2, ‖g_r‖² = 2 → (2, 0) − (1, 1) = (1, −1); tensor 2: g_r = 0 → unchanged
    out = project_out_per_tensor(g_f, g_r, eps=0.0 + 1e-12)
    torch.testing.assert_close(out[0], torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(out[1], torch.tensor([1.0, -1.0]))
    torch.testing.assert_close(out[2], torch.tensor([3.0]))
    assert out[3] is None
    # The global projection differs: ⟨g_f, g_r⟩ = 4, ‖g_r‖² = 8 (None counts as zero) → coef ½.
    glob = project_out(g_f, g_r)
    torch.testing.assert_close(glob[0], torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(glob[1], torch.tensor([1.5, -0.5]))


def test_per_tensor_eps_damps_the_projection():
    out = project_out_per_tensor([torch.tensor([1.0])], [torch.tensor([1.0])], eps=1.0)
    torch.testing.assert_close(out[0], torch.tensor([0.5]))  # 1 − (1/(1 + 1))·1


def test_gcd_param_is_checked():
    assert get_method("prism", {"gcd": "per_tensor"}).gcd_mode == "per_tensor"
    assert get_method("prism", {"gcd": False}).gcd_mode == "off"
    assert get_method("prism").gcd_mode == "global"
    with pytest.raises(UserError, match="per_tensor"):
        get_method("prism", {"gcd": "sometimes"})


# ---- the probe: held-out split and accuracy --------------------------------------------------


def test_kfold_splits_are_stratified_disjoint_and_cover_every_row():
    targets = torch.tensor([1] * 10 + [0] * 5)
    splits = kfold_splits(targets, 5, seed=3)
    assert len(splits) == 5
    held = [h for _, h in splits]
    assert sorted(sum(held, [])) == list(range(15))  # each row held out exactly once
    for train, h in splits:
        assert not set(train) & set(h) and sorted(train + h) == list(range(15))
        assert sorted(int(targets[i]) for i in h) == [0, 1, 1]  # 5/5 retain, 10/5 forget
    assert kfold_splits(targets, 5, seed=3) == splits
    assert kfold_splits(torch.tensor([1, 0]), 5, 0) == []  # one row a class: no folds


def _blobs(n, d, gen, shift=1.0):
    x = torch.cat(
        [torch.randn(n, d, generator=gen) - shift, torch.randn(n, d, generator=gen) + shift]
    )
    return x, torch.cat([torch.zeros(n), torch.ones(n)]).long()


def test_heldout_accuracy_separates_signal_from_chance():
    gen = torch.Generator().manual_seed(0)
    x, y = _blobs(100, 8, gen)
    fit = train_probe_cv(x, y, 4, seed=0, steps=30, lr=1e-2)
    assert fit.accuracy > 0.9 and fit.train_accuracy > 0.9 and fit.rows == 200
    assert probe_accuracy(fit.probe, x, y) > 0.9
    noise = torch.randn(200, 8, generator=gen)  # labels independent of the features
    fit = train_probe_cv(noise, y, 4, seed=0, steps=100, lr=1e-2)
    assert fit.accuracy < 0.7 < fit.train_accuracy  # memorised, not generalised


def _prepare(method, caplog=None):
    model = trained_model()
    _, dataset = toy_batch(method)
    data = PrepareData(
        dataset.forget, dataset.retain, tiny_tokenizer().pad_token_id, torch.device("cpu"), 4, 0
    )
    method.prepare(model, data)
    return model


def test_prepare_reports_the_heldout_accuracy_and_logs_it(caplog):
    method = get_method("prism", {"probe_layers": [0, 1], "probe_folds": 2, "probe_steps": 2})
    with caplog.at_level(logging.WARNING, logger="unlearnkit.methods.prism"):
        model = _prepare(method)
    report = method.report()
    assert set(report["probe_layer_scores"]) == {"0", "1"}
    acc = report["probe_heldout_accuracy"]
    assert 0.0 <= acc <= 1.0 and report["probe_layer"] in (0, 1)
    assert acc == max(report["probe_layer_scores"].values())
    assert method.layer == report["probe_layer"]
    if acc < 0.6:
        assert "near chance" in caplog.text
    batch, _ = toy_batch(method)
    _, logs = method.forget_loss(model, batch, _ctx(model))
    assert logs["probe_heldout_acc"] == acc  # log_history carries it into metrics.json


def test_near_chance_probe_warns(caplog):
    from unlearnkit.methods.prism.method import _warn_if_chance

    with caplog.at_level(logging.WARNING, logger="unlearnkit.methods.prism"):
        _warn_if_chance(0.55, 3)
    assert "near chance" in caplog.text and "0.55" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="unlearnkit.methods.prism"):
        _warn_if_chance(0.9, 3)
    assert caplog.text == ""


def _probe_rows(params: dict, swap: bool = False) -> int:
    method = get_method("prism", {"layer": LAYER, "probe_epochs": 1, **params})
    _, dataset = toy_batch(method)  # 4 forget rows, 8 retain rows
    forget, retain = (dataset.retain, dataset.forget) if swap else (dataset.forget, dataset.retain)
    pad = tiny_tokenizer().pad_token_id
    method.prepare(trained_model(), PrepareData(forget, retain, pad, torch.device("cpu"), 4, 0))
    return method.report()["probe_rows"]


def test_probe_trains_on_as_many_forget_as_retain_rows_up_to_probe_samples():
    assert _probe_rows({}) == 8  # min(512, 4 forget, 8 retain) of each
    assert _probe_rows({}, swap=True) == 8  # min(512, 8, 4)
    assert _probe_rows({"probe_samples": 2}) == 4  # a seeded subset of each


def test_probe_needs_forget_and_retain_rows():
    method = get_method("prism", {"layer": LAYER})
    _, dataset = toy_batch(method)
    pad = tiny_tokenizer().pad_token_id
    with pytest.raises(UserError, match="needs both forget and retain"):
        method.prepare(trained_model(), PrepareData(dataset.forget, [], pad, "cpu", 4, 0))


def test_default_layer_is_three_quarters_of_the_depth_and_checked():
    from test_methods_common import tiny_model

    for layers, expected in ((2, 1), (8, 6)):
        method = get_method("prism", {"probe": False})
        method.prepare(tiny_model(layers=layers), None)
        assert method.layer == expected and isinstance(method.layer, int)
    with pytest.raises(UserError, match="prism layer must be in 0..1"):
        get_method("prism", {"probe": False, "layer": 2}).prepare(trained_model(), None)


def test_decouple_follows_the_gcd_mode():
    g_f, g_r = [torch.tensor([1.0, 1.0]), torch.tensor([1.0])], [torch.tensor([1.0, 0.0]), None]
    glob = _prism({"gcd": True}).decouple(g_f, g_r)
    torch.testing.assert_close(glob[0], torch.tensor([0.0, 1.0]))
    per = _prism({"gcd": "per_tensor", "gcd_eps": 1.0}).decouple(g_f, g_r)
    torch.testing.assert_close(per[0], torch.tensor([0.5, 1.0]))  # ⟨·⟩/(‖g_r‖² + ε) = 1/2
    assert _prism({"gcd": False}).decouple(g_f, g_r) is g_f


def test_step_weights_the_forget_and_retain_parts():
    model = trained_model()
    batch, _ = toy_batch(_prism({}))
    ctx = _ctx(model)
    method = _prism({**OFF, "w_f": 2.0, "w_r": 0.5})
    engine = AutogradEngine(model)
    loss, logs, grads = method.custom_step(model, batch, ctx, engine)
    assert engine.perturbations == []  # sam: false takes one plain forget gradient
    npo, _ = method.forget_loss(model, batch, ctx)
    from unlearnkit.logprobs import batch_nll

    part = batch["retain"]
    logits = model(input_ids=part["input_ids"], attention_mask=part["attention_mask"]).logits
    retain = batch_nll(logits, part["labels"])
    torch.testing.assert_close(loss, 2.0 * npo.detach() + 0.5 * retain.detach())
    torch.testing.assert_close(logs["forget_loss"], npo.detach())
    assert {"npo_loss", "retain_nll", "probe_weight"} <= set(logs)
    g_npo = flat(_grads(model, npo))
    expected = 2.0 * g_npo + 0.5 * flat(_g_r(model, batch))
    assert_close_sums(
        flat(grads), expected, dtype=torch.float32, n_terms=batch_terms(batch), rtol=1e-4
    )

    no_retain = _prism({**OFF, "w_f": 2.0, "w_r": 0.0})
    loss, logs, grads = no_retain.custom_step(model, batch, ctx, AutogradEngine(model))
    torch.testing.assert_close(loss, 2.0 * npo.detach())
    assert "retain_nll" not in logs
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(model.parameters(), grads)]
    assert_close_sums(
        flat(grads), 2.0 * g_npo, dtype=torch.float32, n_terms=batch_terms(batch), rtol=1e-4
    )


def test_probe_params_reach_the_probe_training():
    from unlearnkit.methods.prism.method import _subset
    from unlearnkit.methods.prism.probe import pooled_states

    params = {"probe_steps": 3, "probe_lr": 5e-2, "probe_folds": 2}
    method = get_method("prism", {"layer": LAYER, **params})
    _, dataset = toy_batch(method)
    pad = tiny_tokenizer().pad_token_id
    model = trained_model()
    method.prepare(model, PrepareData(dataset.forget, dataset.retain, pad, "cpu", 4, seed=3))
    f = pooled_states(model, list(dataset.forget), LAYER, pad, "cpu")
    r = pooled_states(model, _subset(dataset.retain, 4, 4), LAYER, pad, "cpu")
    x, y = torch.cat([f, r]), torch.cat([torch.ones(4), torch.zeros(4)]).long()
    fit = train_probe_cv(x, y, 2, 3, steps=3, lr=5e-2)  # the run's seed, for folds and probe
    for a, b in zip(method.probe.parameters(), fit.probe.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    report = method.report()
    assert (report["probe_train_accuracy"], report["probe_heldout_accuracy"]) == (
        fit.train_accuracy,
        fit.accuracy,
    )
    assert (report["probe_steps"], report["probe_folds"], report["probe_heldout_rows"]) == (3, 2, 8)


@pytest.mark.parametrize(
    "scores,best",
    [({0: 0.5, 1: 0.7}, 1), ({0: 0.9, 1: 0.5}, 0), ({0: 0.6, 1: 0.6}, 0), ({0: None, 1: 0.3}, 1)],
)
def test_the_best_heldout_layer_wins_first_on_ties(monkeypatch, scores, best):
    import unlearnkit.methods.prism.method as prism_method

    def states(model, rows, layer, *args):
        return torch.full((len(rows), 2), float(layer))

    def train(x, y, *args, **kwargs):
        acc = scores[int(x[0, 0])]
        rows = 0 if acc is None else 10
        fit = ProbeFit(f"probe{int(x[0, 0])}", 1.0, 2, round(10 * (acc or 0)), rows)
        return fit

    monkeypatch.setattr(prism_method, "pooled_states", states)
    monkeypatch.setattr(prism_method, "train_probe_cv", train)
    method = get_method("prism", {"probe_layers": [0, 1]})
    _, dataset = toy_batch(method)
    method.prepare(trained_model(), PrepareData(dataset.forget, dataset.retain, 0, "cpu", 4, 0))
    assert (method.layer, method.probe) == (best, f"probe{best}")
    assert method.report()["probe_layer_scores"] == {"0": scores[0], "1": scores[1]}


def test_probe_holdout_names_its_replacement_weight_clamp_and_subset_seed():
    from unlearnkit.methods.prism.method import _subset, probe_weight

    with pytest.raises(UserError, match="replaced by params.probe_folds"):
        get_method("prism", {"probe_holdout": 0.2})
    assert probe_weight(1.5, 0.05) == pytest.approx(0.05)  # progress clamped to 1
    rows = list(range(10))
    pick = torch.randperm(10, generator=torch.Generator().manual_seed(7))[:3].tolist()
    assert _subset(rows, 3, 7) == pick == _subset(rows, 3, 7)
