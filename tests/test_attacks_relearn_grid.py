"""Relearning variants and budget: data forget/retain/general, unseen vs trained items, the
rate × full/LoRA grid and its worst case, and the target/retain references on the tiny world."""

from __future__ import annotations

import pytest

from test_attacks_common import (  # noqa: F401 - one_thread is an autouse fixture
    FAST,
    context,
    one_thread,
    same_weights,
    tiny_tokenizer,
    weights,
    write_tofu_eval,
)
from test_methods_common import FORGET, RETAIN, tiny_model
from unlearnkit.attacks.context import AttackContext, AttackResult
from unlearnkit.attacks.relearn import RelearnParams
from unlearnkit.attacks.relearn_data import relearn_samples
from unlearnkit.attacks.relearn_grid import relearn_attack, worst_entry
from unlearnkit.attacks.runner import make_params
from unlearnkit.errors import UserError
from unlearnkit.eval.results import AttackEntry
from unlearnkit.models import load_model_and_tokenizer
from unlearnkit.report.attack_tables import first_cell
from unlearnkit.report.collect import Run
from unlearnkit.report.relearn_worst import relearn_worst_table


@pytest.fixture(scope="module")
def tofu_dir(tmp_path_factory):
    return write_tofu_eval(tmp_path_factory.mktemp("tofu"))


def test_grid_settings_from_yaml_or_the_cli():
    p = make_params("relearn", {"lrs": "1e-3, 1e-2", "lora": "false,true", "references": "true"})
    assert p.lrs == [1e-3, 1e-2] and p.lora == [False, True] and p.references is True
    assert make_params("relearn", {}).lora == [False] and make_params("relearn", {}).lrs is None
    for bad in ({"lrs": "0"}, {"lora": "maybe"}, {"data": "news"}, {"lora_r": 0}):
        with pytest.raises(UserError):
            make_params("relearn", bad)


def test_each_data_variant_trains_on_its_own_samples(tofu_dir):
    ctx = context(tofu_dir)
    picked = {
        d: {(s.question, s.text) for s in relearn_samples(ctx, RelearnParams(data=d, fraction=0.5))}
        for d in ("forget", "retain", "general")
    }
    assert all(len(v) == 2 for v in picked.values())  # the forget subset's budget
    assert picked["forget"] <= set(FORGET) and picked["retain"] <= set(RETAIN)
    assert not picked["general"] & (set(FORGET) | set(RETAIN[:4]))  # world facts / real authors
    with pytest.raises(UserError, match="data"):
        RelearnParams(data="forget,retain")
    model, tok = tiny_model(seed=3), tiny_tokenizer()
    after = {}
    for d in picked:
        params = RelearnParams(steps=[3], fraction=0.5, lr=1e-2, batch_size=2, data=d)
        _, three = relearn_attack(model, tok, ctx, params)
        assert three.extra["data"] == d
        after[d] = three.metrics["forget_probability"]
    assert len(set(after.values())) == 3  # different samples, different models


def test_unseen_and_trained_items_are_disjoint(tofu_dir):
    model, tok = tiny_model(seed=3), tiny_tokenizer()
    for data, n_trained in (("forget", 2), ("retain", 0)):
        params = RelearnParams(steps=[2], fraction=0.5, lr=1e-2, batch_size=2, data=data)
        _, two = relearn_attack(model, tok, context(tofu_dir), params)
        trained = set(two.extra["trained_items"])
        questions = {r["question"] for r in two.rows["forget"]}
        assert len(trained) == n_trained and trained <= questions
        unseen = [r for r in two.rows["forget"] if r["question"] not in trained]
        rouge = sum(r["rougeL_recall"] for r in unseen) / len(unseen)
        assert two.extra["unseen"]["forget_rouge"] == pytest.approx(rouge)
        if data == "retain":  # nothing of the forget set was shown: unseen is all of it
            assert two.extra["unseen"]["forget_rouge"] == pytest.approx(two.metrics["forget_rouge"])


def _made(setting: str, rouge: float, prob: float, unseen: bool = True) -> AttackResult:
    scores = {"forget_rouge": rouge, "forget_probability": prob}
    extra = {"unseen": scores} if unseen else {}
    return AttackResult(setting, 1, {"forget_rouge": 0.9, "forget_probability": 0.9}, {}, extra)


def test_worst_is_the_highest_unseen_level_over_the_grid():
    grid = [_made("a", 0.2, 0.5), _made("b", 0.4, 0.1), _made("c", 0.4, 0.3), _made("d", 0.1, 0.6)]
    worst = worst_entry(grid)
    assert worst.setting == "worst" and worst.extra["worst_of"] == "c"  # ties: probability
    assert worst.extra["worst_each"] == {"forget_rouge": "b", "forget_probability": "d"}
    assert worst.extra["worst_by"] == "unseen.forget_rouge" and worst.extra["grid"] == 4
    plain = [_made("x", 0, 0, unseen=False), _made("y", 0, 0, unseen=False)]
    plain[1].metrics["forget_rouge"] = 0.95
    assert worst_entry(plain).extra["worst_of"] == "y"  # nothing unseen: all forget items


def test_the_report_curve_is_the_grids_first_cell():
    entry = lambda s, lr, lora: AttackEntry(s, 1, {}, {"lr": lr, "lora": lora})  # noqa: E731
    grid = [entry("a", 1e-3, False), entry("b", 1e-3, True), entry("c", 1e-3, False)]
    assert [e.setting for e in first_cell([*grid, AttackEntry("worst", 1, {}, {})])] == ["a", "c"]
    assert first_cell([]) == []


def test_the_grid_runs_every_cell_and_lora_leaves_the_model_alone(tofu_dir):
    model, tok = tiny_model(seed=3), tiny_tokenizer()
    saved, modules = weights(model), [type(m) for m in model.modules()]
    params = RelearnParams(steps=[2], lrs=[1e-3, 1e-2], lora=[False, True], lora_r=2, batch_size=2)
    results = relearn_attack(model, tok, context(tofu_dir), params)
    settings = [r.setting for r in results]
    assert settings[:4] == ["lr=0.001 full steps=0", "lr=0.001 full steps=2"] + [
        "lr=0.001 lora steps=0",
        "lr=0.001 lora steps=2",
    ]
    assert len(results) == 9 and settings[-1] == "worst"
    assert same_weights(model, saved) and [type(m) for m in model.modules()] == modules
    lora = {r.setting: r.metrics["forget_probability"] for r in results if "lora" in r.setting}
    assert lora["lr=0.01 lora steps=2"] != lora["lr=0.01 lora steps=0"]  # the adapters learnt
    full = next(r for r in results if r.setting == "lr=0.01 full steps=2")
    assert full.metrics != results[7].metrics  # LoRA and full training differ
    best = max(results[:-1], key=lambda r: r.extra["unseen"]["forget_rouge"])  # 3 unseen items
    assert results[-1].extra["unseen"]["forget_rouge"] == best.extra["unseen"]["forget_rouge"]


def test_references_relearned_the_same_way(tiny_world):
    """Validity on the tiny world: the retain model, relearned on 2 of the 8 forget items, stays
    below the target's level on the 6 unseen ones."""
    s = type(FAST)(**{**FAST.__dict__, "max_length": 256})
    ctx = AttackContext(benchmark="tofu", data=str(tiny_world), split="forget10", settings=s)
    model, tok = load_model_and_tokenizer(
        tiny_world / "models" / "retain", tiny_world / "tokenizer", device="cpu", dtype="fp32"
    )
    params = RelearnParams(steps=[4], fraction=0.25, lrs=[1e-3, 3e-3], references=True)
    results = relearn_attack(model, tok, ctx, params)
    for r in results:
        refs = r.extra["reference_rows"]
        assert set(refs) == {"target", "retain"}
        t, rt = refs["target"]["unseen"], refs["retain"]["unseen"]
        assert rt["forget_probability"] < t["forget_probability"]
        assert rt["forget_rouge"] < t["forget_rouge"]
        # the attacked model is the retain model: its rows are the retain reference's
        assert r.extra["unseen"] == pytest.approx(rt)
    worst = results[-1]
    assert worst.setting == "worst" and worst.extra["reference_rows"]["target"]["worst_of"]


def test_the_report_shows_the_worst_case_beside_the_references(tmp_path):
    refs = {
        "retain": {"unseen": {"forget_rouge": 0.2, "forget_probability": 0.02}},
        "target": {"unseen": {"forget_rouge": 1.0, "forget_probability": 0.98}},
    }
    extra = {
        "unseen": {"forget_rouge": 0.3, "forget_probability": 0.7},
        "worst_of": "lr=0.001 lora",
    }
    worst = AttackEntry("worst", 5, {"forget_rouge": 0.9}, {**extra, "reference_rows": refs})
    run = Run(tmp_path, tmp_path, "unlearned", "idk", None, "tofu", None, {}, {"relearn": [worst]})
    run.label = "idk"
    (row,) = relearn_worst_table([run]).rows
    assert row.labels == ["idk", "lr=0.001 lora"]
    assert [c.value for c in row.cells] == [0.3, 0.7, 0.2, 0.02, 1.0, 0.98]  # unseen, not metrics
    plain = Run(tmp_path, tmp_path, "unlearned", "ga", None, "tofu", None, {}, {})
    assert relearn_worst_table([plain]) is None
