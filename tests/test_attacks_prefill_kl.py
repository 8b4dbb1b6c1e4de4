"""KL to the target after k answer tokens: the KL by hand, and the references of the tiny world."""

from __future__ import annotations

import math

import pytest
import torch

from attack_world import world_context, world_model
from test_attacks_common import one_thread, write_tofu_eval  # noqa: F401 - autouse fixture
from unlearnkit.attacks.prefill_kl import PrefillKLParams, after_k, prefill_kl_attack, token_kl
from unlearnkit.attacks.runner import run_attack
from unlearnkit.errors import UserError


def test_token_kl_is_kl_of_the_target_from_the_attacked_model():
    """p = (1/4, 3/4) from the target, q = (1/2, 1/2) from the attacked: KL(p‖q), not KL(q‖p)."""
    target = torch.tensor([[[0.0, math.log(3.0)], [1.0, 1.0]]])
    attacked = torch.tensor([[[0.0, 0.0], [5.0, 5.0]]])
    kl = token_kl(target, attacked)
    expected = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    reverse = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl.shape == (1, 2)
    assert kl[0, 0].item() == pytest.approx(expected, abs=1e-6)
    assert abs(expected - reverse) > 1e-3  # the direction matters
    assert kl[0, 1].item() == pytest.approx(0.0, abs=1e-7)  # same distribution, other logits


def test_after_k_averages_the_response_positions_after_the_first_k():
    values = torch.tensor([[9.0, 1.0, 2.0, 3.0, 4.0]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0]])
    assert [after_k(values, mask, k).item() for k in (0, 1, 2)] == [2.0, 2.5, 3.0]
    assert math.isnan(after_k(values, mask, 3).item())  # nothing left


def test_target_against_itself_is_zero_and_retain_is_far(tiny_world):
    target, tok = world_model(tiny_world, "target")
    retain, _ = world_model(tiny_world, "retain")
    p = PrefillKLParams(k=[0, 1, 4])
    same = prefill_kl_attack(target, tok, world_context(tiny_world), p)
    far = prefill_kl_attack(retain, tok, world_context(tiny_world), p)
    assert [e.setting for e in same] == ["k=0", "k=1", "k=4"]
    for s, f in zip(same, far):
        assert s.metrics["forget_kl"] == pytest.approx(0.0, abs=1e-6)
        assert s.metrics["forget_next_kl"] == pytest.approx(0.0, abs=1e-6)
        assert s.metrics["forget_probability"] == s.metrics["target_probability"] > 0.9
        assert f.metrics["forget_kl"] > 1.0 and f.metrics["forget_probability"] < 0.1
        assert f.metrics["target_probability"] == pytest.approx(s.metrics["target_probability"])
        assert s.extra["items"] == f.extra["items"] == 8


def test_the_target_setting_comes_before_the_runs_and_the_worlds(tiny_world):
    retain, tok = world_model(tiny_world, "retain")
    path = str(tiny_world / "models" / "retain")
    ctx = world_context(tiny_world, target_model=path)
    (own,) = prefill_kl_attack(retain, tok, ctx, PrefillKLParams(k=[2]))
    assert own.metrics["forget_kl"] == pytest.approx(0.0, abs=1e-6)  # the run's target: retain
    other = PrefillKLParams(k=[2], target=str(tiny_world / "models" / "target"))
    (given,) = prefill_kl_attack(retain, tok, ctx, other)
    assert given.metrics["forget_kl"] > 1.0 and given.extra["target"].endswith("target")


def test_max_items_and_the_runner(tiny_world):
    target, tok = world_model(tiny_world, "target")
    (entry,) = run_attack("prefill_kl", target, tok, world_context(tiny_world, 3), {"k": "1"})
    assert entry["items"] == 3 and entry["setting"] == "k=1"
    assert set(entry["metrics"]) == {
        "forget_kl",
        "forget_next_kl",
        "forget_probability",
        "target_probability",
    }


def test_bad_settings_and_no_target_are_user_errors(tmp_path, tiny_world):
    for bad in ("a", [-1], ""):
        with pytest.raises(UserError, match="k must"):
            PrefillKLParams(k=bad)
    target, tok = world_model(tiny_world, "target")
    ctx = world_context(tiny_world)
    ctx.data = str(write_tofu_eval(tmp_path))  # plain TOFU files: no world, no target beside
    ctx.split = "forget01"
    with pytest.raises(UserError, match="needs the target model"):
        prefill_kl_attack(target, tok, ctx, PrefillKLParams())
