"""Every method runs a few steps of unlearn() on a tiny Llama that memorised toy QA, and moves
what it should: the forget answers get less likely (IDK: the refusal more likely; RMU: forget
activations move towards c·u)."""

from __future__ import annotations

import time

import pytest
import torch

from test_methods_common import (  # noqa: F401 - one_thread is an autouse fixture
    FORGET,
    forget_nll,
    one_thread,
    tiny_config,
    tiny_tokenizer,
    trained_model,
    write_tofu,
)
from unlearnkit.methods.templates import pick_refusal
from unlearnkit.train.unlearn import unlearn

RAISE_FORGET_NLL = {
    "ga": {},
    "gd": {},
    "kl": {},
    "npo": {},
    "simnpo": {},
    "idkdpo": {},
    "sga": {"K": 3},
    "flat": {},
    "prism": {},
    "sam": {"base": "npo", "rho": 0.05},
}
LR = {"simnpo": 5e-3, "idkdpo": 5e-3, "npo": 3e-3, "prism": 3e-3, "sam": 3e-3, "flat": 3e-3}


def _run(method, params, data, out, **train):
    model = trained_model()
    cfg = tiny_config(data, method, params, **train)
    start = time.perf_counter()
    summary = unlearn(cfg, model, tiny_tokenizer(), out, progress=False)
    summary["wall_s"] = time.perf_counter() - start
    return model, summary


@pytest.mark.parametrize("method", sorted(RAISE_FORGET_NLL))
def test_method_raises_forget_nll(method, data, tmp_path):
    before = forget_nll(trained_model())
    lr = LR.get(method, 1e-3)
    model, summary = _run(
        method, RAISE_FORGET_NLL[method], data, tmp_path, max_steps=4, learning_rate=lr
    )
    after = forget_nll(model)
    assert summary["steps"] == 4 and summary["method"] == method
    assert summary["retain_source"] == "tofu:retain99"
    if method == "prism":  # the probe's held-out accuracy reaches the run summary
        assert 0 <= summary["method_report"]["probe_heldout_accuracy"] <= 1
    steps = [h for h in summary["log_history"] if "loss" in h]
    assert len(steps) == 4 and all("forget_loss" in h for h in steps)
    assert after > before + 0.05, f"{method}: forget NLL {before:.3f} -> {after:.3f}"


def test_idk_makes_refusals_likely(data, tmp_path):
    refusals = [(q, pick_refusal(i, 0)) for i, (q, _) in enumerate(FORGET)]
    before = forget_nll(trained_model(), refusals)
    model, _ = _run("idk", {}, data, tmp_path, max_steps=4, learning_rate=3e-3)
    assert forget_nll(model, refusals) < before - 0.1


def test_rmu_steers_forget_activations_and_trains_only_chosen_layers(data, tmp_path):
    start = {k: v.clone() for k, v in trained_model().named_parameters()}
    model, summary = _run(
        "rmu", {"layer": 1, "steering_coeff": 4.0}, data, tmp_path, max_steps=4, learning_rate=3e-3
    )
    steps = [h for h in summary["log_history"] if "loss" in h]
    assert steps[-1]["rmu_forget"] < steps[0]["rmu_forget"]
    for name, p in model.named_parameters():
        changed = not torch.equal(p, start[name])
        assert changed == (".mlp.down_proj." in name), name  # layers 0..1, down_proj only
    assert summary["trainable_params"] < sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("method", sorted(RAISE_FORGET_NLL) + ["idk", "rmu"])
def test_world_config_runs(method, data, tmp_path):
    from unlearnkit.config import load_config, resolve_config_path
    from unlearnkit.train.unlearn import UnlearnConfig

    overrides = [
        f"data.path={data}",
        "data.split=forget01",
        "train.max_steps=2",
        "train.max_length=64",
    ]
    if method == "sga":
        overrides.append("params.K=3")  # the toy retain set is small
    cfg = load_config(UnlearnConfig, resolve_config_path(f"world/{method}"), overrides)
    summary = unlearn(cfg, trained_model(), tiny_tokenizer(), tmp_path, progress=False)
    assert summary["steps"] == 2 and all(
        torch.isfinite(torch.tensor(h["loss"])) for h in summary["log_history"] if "loss" in h
    )
