"""Relearning: 0 steps is the plain evaluation; training works on a copy and brings answers back."""

from __future__ import annotations

import pytest
import torch

from test_attacks_common import (  # noqa: F401 - one_thread is an autouse fixture
    FAST,
    SPLIT,
    context,
    one_thread,
    same_weights,
    tiny_tokenizer,
    trained_model,
    weights,
    write_tofu_eval,
)
from test_methods_common import tiny_model
from unlearnkit.attacks.relearn import RelearnParams
from unlearnkit.attacks.relearn_data import relearn_examples, relearn_samples, relearn_subset
from unlearnkit.attacks.relearn_grid import relearn_attack
from unlearnkit.eval.run import evaluate


@pytest.fixture(scope="module")
def tofu_dir(tmp_path_factory):
    return write_tofu_eval(tmp_path_factory.mktemp("tofu"))


def test_subset_is_seeded_and_never_empty():
    items = list(range(50))
    assert relearn_subset(items, 0.1, 0) == relearn_subset(items, 0.1, 0)
    assert len(relearn_subset(items, 0.1, 0)) == 5
    assert relearn_subset(items, 0.1, 0) != relearn_subset(items, 0.1, 1)
    assert len(relearn_subset(items[:3], 0.1, 0)) == 1
    assert relearn_subset(items, 1.0, 0) == items


def test_zero_steps_is_the_plain_evaluation(tofu_dir):
    model, tok = trained_model(), tiny_tokenizer()
    model.train()
    saved = weights(model)
    plain = evaluate("tofu", model, tok, data=str(tofu_dir), split=SPLIT, settings=FAST)["metrics"]
    (entry,) = relearn_attack(model, tok, context(tofu_dir), RelearnParams(steps=[0]))
    assert entry.setting == "steps=0" and entry.value == 0
    assert entry.metrics == {k: plain[k] for k in entry.metrics}
    assert set(entry.metrics) == {"forget_rouge", "forget_probability", "forget_truth_ratio"}
    assert all(v == 0 for v in entry.extra["recovery"].values())
    assert same_weights(model, saved) and model.training  # mode restored too


def test_relearning_trains_a_copy_and_recovers_forget_answers(tofu_dir):
    model, tok = tiny_model(seed=3), tiny_tokenizer()  # knows nothing yet: "fully unlearned"
    saved = weights(model)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    params = RelearnParams(steps=[5, 20], fraction=1.0, lr=1e-2, batch_size=2)
    results = relearn_attack(model, tok, context(tofu_dir), params)
    assert [r.setting for r in results] == ["steps=0", "steps=5", "steps=20"]  # 0 always measured
    assert same_weights(model, saved)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    before, after = results[0].metrics, results[-1].metrics
    assert after["forget_probability"] > 5 * before["forget_probability"]
    recovery = results[-1].extra["recovery"]
    for key in before:
        assert recovery[key] == pytest.approx(after[key] - before[key])
    assert results[-1].extra["lr"] == 1e-2 and results[-1].extra["samples"] == 4


def test_learning_rate_defaults_to_the_original_fine_tune(tofu_dir):
    model, tok = trained_model(), tiny_tokenizer()
    ctx = context(tofu_dir, finetune_lr=3e-3)
    (entry,) = relearn_attack(model, tok, ctx, RelearnParams(steps=[0]))
    assert entry.extra["lr"] == 3e-3
    subset = relearn_samples(ctx, RelearnParams(fraction=0.5))
    assert len(subset) == 2 and len(relearn_examples(tok, subset, 64)) == 2


def test_items_not_trained_on_are_measured_apart(tofu_dir):
    model, tok = tiny_model(seed=3), tiny_tokenizer()
    params = RelearnParams(steps=[4], fraction=0.5, lr=1e-2, batch_size=2)
    trained = {s.question for s in relearn_samples(context(tofu_dir), params)}
    zero, four = relearn_attack(model, tok, context(tofu_dir), params)
    unseen_rows = [r for r in four.rows["forget"] if r["question"] not in trained]
    assert len(unseen_rows) == 2
    rouge = sum(r["rougeL_recall"] for r in unseen_rows) / 2
    assert four.extra["unseen"]["forget_rouge"] == pytest.approx(rouge)
    assert set(four.extra["unseen"]) == {"forget_rouge", "forget_probability", "forget_truth_ratio"}
    assert all(v == 0 for v in zero.extra["unseen_recovery"].values())
    gain = four.extra["unseen"]["forget_probability"] - zero.extra["unseen"]["forget_probability"]
    assert four.extra["unseen_recovery"]["forget_probability"] == pytest.approx(gain)


def test_a_bf16_model_is_relearned_on_an_fp32_copy(tofu_dir):
    model, tok = trained_model().to(torch.bfloat16), tiny_tokenizer()
    saved = weights(model)
    params = RelearnParams(steps=[1], lr=1e-3)
    zero, one = relearn_attack(model, tok, context(tofu_dir), params)
    assert same_weights(model, saved) and next(model.parameters()).dtype == torch.bfloat16
    assert one.metrics["forget_probability"] != zero.metrics["forget_probability"]
