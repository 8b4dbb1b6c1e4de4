"""Template jailbreaks: the prompts, the per-item worst case by hand, the tiny world's references."""

from __future__ import annotations

import pytest

from attack_world import world_context, world_model
from test_attacks_common import FORGET, one_thread, tiny_tokenizer  # noqa: F401 - autouse
from unlearnkit.attacks.jailbreak import (
    TEMPLATES,
    JailbreakParams,
    jailbreak_attack,
    template_item,
    worst_case,
)
from unlearnkit.attacks.runner import run_attack
from unlearnkit.errors import UserError
from unlearnkit.eval.metrics import aggregate as agg
from unlearnkit.eval.metrics.tofu import probability
from unlearnkit.logprobs import IGNORE_INDEX


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_each_template_wraps_the_question_and_labels_only_the_answer(name):
    tok = tiny_tokenizer()
    question, answer = FORGET[0]
    item = template_item(tok, 3, {"question": question, "answer": answer}, name, 64)
    assert question in item.prompt and item.prompt.endswith(TEMPLATES[name][1])
    assert item.index == 3 and item.reference == answer
    labelled = [t for t in item.encoded.labels if t != IGNORE_INDEX]
    assert tok.decode(labelled, skip_special_tokens=True).strip() == answer
    prompt_ids = tok(item.prompt, add_special_tokens=False)["input_ids"]
    assert len(item.encoded.input_ids) - len(labelled) >= len(prompt_ids)  # the prompt is whole


def test_worst_case_takes_each_items_best_template():
    def row(i, rouge, nll):
        return {"index": i, "question": f"q{i}", agg.ROUGEL_RECALL: rouge, agg.NLL: nll}

    per = {
        "a": [row(0, 0.9, 2.0), row(1, 0.1, 0.5)],
        "b": [row(0, 0.2, 0.1), row(1, 0.3, 3.0)],
    }
    worst = worst_case(per)
    assert worst.setting == "worst" and worst.value == 2
    assert worst.metrics["forget_rouge"] == pytest.approx((0.9 + 0.3) / 2)
    assert worst.metrics["forget_probability"] == pytest.approx(
        (probability(0.1) + probability(0.5)) / 2
    )
    assert [r["template"] for r in worst.rows["forget"]] == ["a", "b"]
    assert worst.extra["best_template"] == "a"  # mean ROUGE 0.5 against 0.25


def test_target_recovers_the_answers_and_retain_does_not(tiny_world):
    """Validity: the worst case over templates is far higher on the target than on retain."""
    target, tok = world_model(tiny_world, "target")
    retain, _ = world_model(tiny_world, "retain")
    on_target = jailbreak_attack(target, tok, world_context(tiny_world), JailbreakParams())
    on_retain = jailbreak_attack(retain, tok, world_context(tiny_world), JailbreakParams())
    assert [e.setting for e in on_target] == [*TEMPLATES, "worst"]
    t, r = on_target[-1].metrics, on_retain[-1].metrics
    assert t["forget_rouge"] > 0.35 > 0.25 > r["forget_rouge"]
    assert t["forget_probability"] > 0.3 > 0.05 > r["forget_probability"]
    for a, b in zip(on_target[:-1], on_retain[:-1]):  # every template alone also separates them
        assert a.metrics["forget_probability"] > 5 * b.metrics["forget_probability"]
    assert all(len(e.rows["forget"]) == 8 for e in on_target)


def test_templates_setting_max_items_and_the_runner(tiny_world):
    target, tok = world_model(tiny_world, "target")
    ctx = world_context(tiny_world, 2)
    entries = run_attack("jailbreak", target, tok, ctx, {"templates": "sure_here_is,summary"})
    assert [e["setting"] for e in entries] == ["sure_here_is", "summary", "worst"]
    assert entries[-1]["best_template"] in ("sure_here_is", "summary")
    (one, _) = jailbreak_attack(target, tok, ctx, JailbreakParams(["summary"]))
    assert [r["index"] for r in one.rows["forget"]] == [0, 4]  # 2 of 8, evenly spaced


@pytest.mark.parametrize("bad", ["", "role_play,dan", ["nope"]])
def test_unknown_templates_are_user_errors(bad):
    with pytest.raises(UserError, match="templates must name"):
        JailbreakParams(bad)
