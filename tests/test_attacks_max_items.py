"""``eval.max_items`` reaches the attacks: a run's attack rows cover the items its eval rows cover
(one ``EvalSettings`` constructor for the run, its retain eval and the attacks after it)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from unlearnkit.cli import main
from unlearnkit.eval.metrics import aggregate as agg
from unlearnkit.eval.results import read_metrics, read_rows
from unlearnkit.eval.tofu import EvalSettings, pick_items

ATTACKS = {  # kind → its one setting's folder under attacks/
    "quantize": "int8-channel",
    "paraphrase": "paraphrased",
    "prefill": "k_1",
    "incontext": "shots_1",
}


def test_settings_from_a_section_carry_every_field():
    section = SimpleNamespace(batch_size=3, max_new_tokens=5, max_items=2, convention="no-eos")
    s = EvalSettings.from_section(section, 64, progress=False)
    assert s == EvalSettings(3, 3, 5, 64, False, 2, "no-eos")


SETTINGS = ["--max-length", "128", "--max-new-tokens", "4"]  # world/ga's train.max_length


def _full_retain_eval(world, out) -> list[str]:
    """A retain eval of every item, under the run's settings (`unlearn eval`)."""
    model, tok = world / "models" / "retain", world / "tokenizer"
    argv = ["eval", "--model", model, "--tokenizer", tok, "--data", world, "--split", "forget10"]
    assert main([str(a) for a in [*argv, *SETTINGS, "--device", "cpu", "--out", out]]) == 0
    return ["--retain-eval", str(out)]


@pytest.mark.slow
@pytest.mark.parametrize("retain", ["of every item", "of the same 2 items"])
def test_a_runs_attack_rows_are_its_eval_items(retain, tiny_world, tmp_path, monkeypatch):
    """Against a full retain eval (the attack rows were of every item), and one of the same 2
    items (an attack scored on every item cannot use it: the run failed after training)."""
    monkeypatch.setenv("UNLEARNKIT_HOME", str(tmp_path / "home"))  # the retain eval's cache
    out = tmp_path / "run"
    if retain == "of every item":
        retain_args = _full_retain_eval(tiny_world, tmp_path / "retain")
    else:
        retain_args = ["--retain-model", str(tiny_world / "models" / "retain")]
    argv = [
        "run",
        "--config",
        "world/ga",
        "--data",
        str(tiny_world),
        "--out",
        str(out),
        *retain_args,
        "--attacks",
        ",".join(ATTACKS),
        "train.max_steps=1",
        "eval.max_items=2",
        "eval.max_new_tokens=4",
        "attack_params.quantize.bits=[8]",
        "attack_params.quantize.backend=rtn",
        "attack_params.prefill.k=[1]",
        "attack_params.incontext.shots=[1]",
    ]
    assert main(argv) == 0
    result = read_metrics(out)
    retain_items = read_metrics(result["retain_eval"])["max_items"]
    assert retain_items == (None if retain == "of every item" else 2)
    indices = [r["index"] for r in read_rows(out)[agg.FORGET]]
    assert indices == pick_items(len(_forget(tiny_world)), 2) and len(indices) == 2
    for kind, setting in ATTACKS.items():
        rows = read_rows(out / "attacks" / kind / setting)[agg.FORGET]
        assert [r["index"] for r in rows] == indices, kind
    assert "forget_quality" in result["attacks"]["quantize"][0]["metrics"]


def _forget(world) -> list[dict]:
    from unlearnkit.benchmarks.tofu import forget_records

    return forget_records(world, "forget10")
