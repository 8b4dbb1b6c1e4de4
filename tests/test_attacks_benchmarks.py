"""Relearn and quantize on MUSE- and copyright-format toy data: their forget metrics, no TOFU needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_attacks_common import (  # noqa: F401 - one_thread is an autouse fixture
    FAST,
    FORGET,
    RETAIN,
    one_thread,
    tiny_tokenizer,
    trained_model,
)
from unlearnkit.attacks.context import AttackContext
from unlearnkit.attacks.runner import run_attack

TEXTS = [f"{q} {a}" for q, a in FORGET]
COMPLETIONS = [{"prompt": q, "gt": a} for q, a in FORGET[:2]]


def _write(path: Path, rows: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows), encoding="utf-8")


@pytest.fixture(scope="module")
def muse_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("muse")
    qa = [{"question": q, "answer": a} for q, a in FORGET]
    _write(root / "raw" / "forget.json", TEXTS)
    _write(root / "raw" / "retain1.json", [f"{q} {a}" for q, a in RETAIN])
    _write(root / "verbmem" / "forget.json", COMPLETIONS)
    _write(root / "knowmem" / "forget_qa.json", qa[1:])
    _write(root / "knowmem" / "forget_qa_icl.json", qa[:1])
    return root


@pytest.fixture(scope="module")
def copyright_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("copyright")
    _write(root / "forget.json", TEXTS)
    _write(root / "retain.json", [f"{q} {a}" for q, a in RETAIN])
    _write(root / "prompts.json", COMPLETIONS)
    return root


@pytest.mark.parametrize(
    ("benchmark", "keys"),
    [("muse", {"verbmem_f", "knowmem_f"}), ("copyright", {"copyright_rougeL", "copyright_bleu"})],
)
def test_relearn_and_quantize_report_the_benchmarks_forget_metrics(
    benchmark, keys, muse_dir, copyright_dir
):
    data = muse_dir if benchmark == "muse" else copyright_dir
    ctx = AttackContext(benchmark=benchmark, data=str(data), corpus_split="2", settings=FAST)
    model, tok = trained_model(), tiny_tokenizer()
    relearn = run_attack("relearn", model, tok, ctx, {"steps": [0, 1], "lr": 1e-3})
    assert [e["setting"] for e in relearn] == ["steps=0", "steps=1"]
    assert relearn[1]["samples"] == 1  # 10 % of the 2 forget texts, at least one
    quantize = run_attack("quantize", model, tok, ctx, {"bits": [4]})
    for entry in relearn + quantize:
        assert set(entry["metrics"]) == keys
        assert all(0 <= v <= 1 for v in entry["metrics"].values())


@pytest.mark.parametrize(
    ("benchmark", "sets"),
    [("muse", {"verbmem_f": 2, "knowmem_f": 3}), ("copyright", {"continuations": 2})],
)
def test_the_forget_side_rows_honour_max_items(benchmark, sets, muse_dir, copyright_dir):
    """``eval.max_items=1``: the first item of each forget-side set, numbered as in the full set
    (item 0); the full sets have 2 or 3 items, each a row without the subset."""
    from dataclasses import replace

    from unlearnkit.benchmarks import get_benchmark
    from unlearnkit.eval.tofu import pick_items

    data = muse_dir if benchmark == "muse" else copyright_dir
    ctx = AttackContext(benchmark=benchmark, data=str(data), settings=replace(FAST, max_items=1))
    rows = get_benchmark(benchmark).forget_rows(trained_model(), tiny_tokenizer(), ctx)
    assert {name: len(r) for name, r in rows.items()} == {name: 1 for name in sets}
    for name, n in sets.items():
        assert [r["index"] for r in rows[name]] == pick_items(n, 1) == [0]
