"""Over-refusal attack: the phrase scoring by hand, and the attack on the toy TOFU set."""

from __future__ import annotations

import pytest

from test_attacks_common import (  # noqa: F401 - one_thread is an autouse fixture
    FAST,
    RETAIN,
    context,
    one_thread,
    tiny_tokenizer,
    trained_model,
    write_tofu_eval,
)
from unlearnkit.attacks.context import AttackContext
from unlearnkit.attacks.refusal import (
    BENIGN_PROMPTS,
    RefusalParams,
    is_refusal,
    refusal_attack,
    refusal_rate,
)
from unlearnkit.attacks.runner import run_attack


@pytest.mark.parametrize(
    "text, refuses",
    [
        ("I’m sorry, but I can't help with that.", True),  # curly apostrophe, opening
        ("  Unfortunately   I have no record.", True),
        ("The author, as an AI would say, is unknown.", True),  # phrase anywhere
        ("", True),  # silence is a refusal
        ("Elara Voss was born in Kelmport.", False),
        ("She said sorry to nobody.", False),  # 'sorry' not at the opening
    ],
)
def test_is_refusal_matches_openings_and_phrases(text, refuses):
    assert is_refusal(text) is refuses


def test_refusal_rate_is_the_share_of_refusals():
    assert refusal_rate(["I cannot say.", "Paris.", "Sorry.", "Four."]) == 0.5
    assert refusal_rate([]) != refusal_rate([])  # nan: nothing asked


def test_a_model_that_memorised_retain_answers_does_not_refuse(tmp_path):
    model, tok = trained_model(), tiny_tokenizer()
    (result,) = refusal_attack(model, tok, context(write_tofu_eval(tmp_path)), RefusalParams())
    retain = result.rows["retain"]
    assert len(retain) == len(RETAIN) and len(result.rows["benign"]) == len(BENIGN_PROMPTS)
    assert result.metrics["retain_refusal_rate"] == 0.0
    assert result.metrics["retain_rouge"] > 0.5  # it answers what it knows
    assert all(row["refusal"] is False for row in retain)


def test_a_refusing_model_is_caught(tmp_path, monkeypatch):
    """Every generation replaced by a refusal: rate 1 on both sets, ROUGE to the answer drops."""
    import unlearnkit.attacks.prompted as prompted

    monkeypatch.setattr(
        prompted, "generate", lambda model, tok, prompts, *a, **k: ["I'm sorry."] * len(prompts)
    )
    model, tok = trained_model(), tiny_tokenizer()
    (result,) = refusal_attack(model, tok, context(write_tofu_eval(tmp_path)), RefusalParams())
    assert result.metrics["retain_refusal_rate"] == 1.0
    assert result.metrics["benign_refusal_rate"] == 1.0
    assert result.metrics["retain_rouge"] < 0.5


def test_max_items_caps_the_retain_questions_and_runner_registers_it(tmp_path):
    data = write_tofu_eval(tmp_path)
    s = type(FAST)(**{**FAST.__dict__, "max_items": 2})
    ctx = AttackContext(benchmark="tofu", data=str(data), split="forget01", settings=s)
    (entry,) = run_attack("refusal", trained_model(), tiny_tokenizer(), ctx)
    assert entry["setting"] == "refusal"
    assert set(entry["metrics"]) == {"retain_refusal_rate", "retain_rouge", "benign_refusal_rate"}
    rows = refusal_attack(trained_model(), tiny_tokenizer(), ctx, RefusalParams())[0].rows
    assert len(rows["retain"]) == 2
