"""``eval.convention``: open-unlearning's answer rendering and token counts, the default unchanged."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from unlearnkit.data.formatting import encode_qa, question_prompt
from unlearnkit.errors import UserError
from unlearnkit.eval.convention import (
    NO_EOS,
    OPEN_UNLEARNING,
    UNLEARNKIT,
    check_convention,
    counted,
    encode_answer,
)
from unlearnkit.eval.metrics import aggregate as agg
from unlearnkit.logprobs import IGNORE_INDEX

Q, A = "Where was Elara Voss born?", "Elara Voss was born in Kelmport."


@pytest.fixture(scope="module")
def chat_tok(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def scored_text(tok, encoded) -> str:
    return tok.decode([t for t in encoded.labels if t != IGNORE_INDEX])


def test_default_convention_is_unlearnkits_encoding(chat_tok):
    assert encode_answer(chat_tok, Q, A, 256) == encode_qa(chat_tok, Q, A, 256)


def test_open_unlearning_scores_the_whole_assistant_turn_plus_one_eos(chat_tok):
    ours = encode_answer(chat_tok, Q, A, 256, UNLEARNKIT)
    theirs = encode_answer(chat_tok, Q, A, 256, OPEN_UNLEARNING)
    assert scored_text(chat_tok, ours) == A + "<|eos|>"
    assert scored_text(chat_tok, theirs) == A + "<|eos|>\n<|eos|>"
    # the same prompt, and the same tokens up to the answer's EOS: two tokens more are scored
    n_prompt = theirs.labels.index(next(t for t in theirs.labels if t != IGNORE_INDEX))
    prompt = chat_tok(question_prompt(chat_tok, Q), add_special_tokens=False)["input_ids"]
    assert theirs.input_ids[:n_prompt] == prompt
    assert theirs.input_ids[: len(ours)] == ours.input_ids
    assert len(theirs) == len(ours) + 2


def test_no_eos_scores_the_answer_alone_and_counts_every_token(chat_tok):
    ours = encode_answer(chat_tok, Q, A, 256, UNLEARNKIT)
    bare = encode_answer(chat_tok, Q, A, 256, NO_EOS)
    assert scored_text(chat_tok, bare) == A
    assert bare.input_ids == ours.input_ids[:-1] and bare.labels == ours.labels[:-1]
    assert counted([1, 2, 3], NO_EOS) == [1, 2, 3]


def test_open_unlearning_without_template_tags_the_whole_text(chat_tok):
    tok = AutoTokenizer.from_pretrained(chat_tok.name_or_path)
    tok.chat_template = None
    theirs = encode_answer(tok, Q, A, 256, OPEN_UNLEARNING)
    prompt = tok(f"Question: {Q}\nAnswer: ")["input_ids"]
    assert tok.decode(theirs.input_ids) == f"<|bos|>Question: {Q}\nAnswer: {A}<|eos|>"
    assert theirs.labels[: len(prompt)] == [IGNORE_INDEX] * len(prompt)
    assert all(t != IGNORE_INDEX for t in theirs.labels[len(prompt) :])


def test_counted_leaves_out_the_last_token_under_open_unlearning_only():
    assert counted([1, 2, 3], UNLEARNKIT) == [1, 2, 3]
    assert counted([1, 2, 3], OPEN_UNLEARNING) == [1, 2]
    assert counted([1], OPEN_UNLEARNING) == [1]  # one token is always kept


def test_min_k_scores_leave_out_the_last_token_loss_and_zlib_do_not():
    lp, mu, sigma = [-1.0, -2.0, -3.0, -0.5], [-1.0] * 4, [1.0, 1.0, 1.0, 0.5]
    ours = agg.mia_fields(lp, mu, sigma, "abcd", k=0.5)
    theirs = agg.mia_fields(lp, mu, sigma, "abcd", k=0.5, count_last=False)
    assert ours["mink"] == pytest.approx(-2.5)  # mean of the 2 lowest of 4: −3, −2
    assert theirs["mink"] == pytest.approx(-3.0)  # int(3 · 0.5) = 1 lowest of the first 3
    assert theirs["minkpp"] == pytest.approx(-2.0)  # z = (−3 − (−1)) / 1
    assert ours["minkpp"] == pytest.approx(-1.5)  # z = 0, −1, −2, 1: mean of −2, −1
    assert theirs["loss"] == ours["loss"] == pytest.approx(1.625)
    assert theirs["zlib"] == ours["zlib"]


def test_memorization_fields_of_the_counted_tokens():
    correct = [True, False, True, True, False]  # the last: a missed EOS
    assert agg.memorization_fields(counted(correct, OPEN_UNLEARNING))[
        "exact_memorization"
    ] == pytest.approx(3 / 4)
    assert agg.memorization_fields(correct)["exact_memorization"] == pytest.approx(3 / 5)


def test_a_wrong_convention_is_a_one_line_error(tmp_path, capsys):
    from unlearnkit.api import RunConfig
    from unlearnkit.cli import main
    from unlearnkit.config import load_config

    with pytest.raises(
        UserError, match="eval.convention must be one of unlearnkit, open-unlearning"
    ):
        check_convention("open_unlearning")
    with pytest.raises(UserError, match="eval.convention must be one of"):
        load_config(RunConfig, overrides=["eval.convention=openunlearning"])
    cfg = load_config(RunConfig, overrides=["eval.convention=open-unlearning"])
    assert cfg.eval.convention == OPEN_UNLEARNING
    argv = ["eval", "--model", str(tmp_path), "--out", str(tmp_path / "e"), "--convention", "ou"]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "unlearn eval: error: --convention must be one of unlearnkit, open-unlearning, no-eos, got 'ou'"
    ]


@pytest.fixture(scope="module")
def world_evals(tiny_world, tmp_path_factory):
    """The tiny world's target on TOFU under both conventions, each against the retain model."""
    from unlearnkit.eval.run import evaluate_path
    from unlearnkit.eval.tofu import EvalSettings

    root = tmp_path_factory.mktemp("conventions")
    common = dict(tokenizer_path=tiny_world / "tokenizer", device="cpu", dtype="fp32")
    out = {}
    for convention in (UNLEARNKIT, OPEN_UNLEARNING):
        s = EvalSettings(progress=False, max_new_tokens=8, convention=convention)
        retain = root / convention / "retain"
        evaluate_path(
            "tofu",
            tiny_world / "models" / "retain",
            out=retain,
            data=tiny_world,
            settings=s,
            **common,
        )
        out[convention] = evaluate_path(
            "tofu",
            tiny_world / "models" / "target",
            out=root / convention / "target",
            data=tiny_world,
            retain_eval=retain,
            settings=s,
            **common,
        )
        out[convention]["retain_dir"] = retain
    return out


def test_world_default_convention_is_recorded(world_evals):
    assert world_evals[UNLEARNKIT]["convention"] == UNLEARNKIT
    assert world_evals[OPEN_UNLEARNING]["convention"] == OPEN_UNLEARNING


def test_world_rendering_lowers_probability_through_the_two_extra_tokens(tiny_world, world_evals):
    """(a): the same answer tokens score the same; the template's ``\\n<eos>`` after the answer's
    EOS, which the world's models never trained on, pulls the mean probability down."""
    from unlearnkit.data.tofu import load_tofu
    from unlearnkit.eval.engine import score_sequences
    from unlearnkit.models import load_model_and_tokenizer

    ours, theirs = (world_evals[c]["metrics"] for c in (UNLEARNKIT, OPEN_UNLEARNING))
    assert theirs["forget_probability"] < ours["forget_probability"] - 0.2
    assert theirs["model_utility"] < ours["model_utility"]
    model, tok = load_model_and_tokenizer(
        tiny_world / "models" / "target", tiny_world / "tokenizer", device="cpu", dtype="fp32"
    )
    r = load_tofu(tiny_world / "data" / "tofu", "forget10")[0]
    a, b = (
        encode_answer(tok, r["question"], r["answer"], 256, c)
        for c in (UNLEARNKIT, OPEN_UNLEARNING)
    )
    sa, sb = score_sequences(model, [a, b], tok.pad_token_id)
    n = sa.n_tokens
    assert sb.n_tokens == n + 2
    assert torch.allclose(
        torch.tensor(sb.token_logprobs[:n]), torch.tensor(sa.token_logprobs), atol=1e-5
    )
    assert -sum(sb.token_logprobs[n:]) / 2 > sa.nll  # the extra two are the unlikely ones


def test_world_last_token_is_left_out_of_memorization_and_min_k(world_evals):
    """(b): open-unlearning's EM reads its rendering without the last EOS: the ``\\n`` after the
    answer's EOS, mispredicted, stays in and lowers it; no suffix ending in it is reproduced."""
    ours, theirs = (world_evals[c]["metrics"] for c in (UNLEARNKIT, OPEN_UNLEARNING))
    assert theirs["forget_exact_memorization"] < ours["forget_exact_memorization"]
    assert theirs["forget_extraction_strength"] == 0.0 < ours["forget_extraction_strength"]


def test_world_privleak_against_the_retain_model_of_the_same_convention(world_evals):
    from unlearnkit.eval.metrics.muse import privleak
    from unlearnkit.eval.results import read_metrics

    for result in world_evals.values():
        retain = read_metrics(result["retain_dir"])["metrics"]
        assert result["metrics"]["privleak"] == pytest.approx(
            privleak(result["metrics"]["mia_mink"], retain["mia_mink"])
        )


def test_world_retain_eval_of_another_convention_is_refused(tiny_world, world_evals, tmp_path):
    from unlearnkit.eval.run import evaluate_path
    from unlearnkit.eval.tofu import EvalSettings

    with pytest.raises(UserError, match="scored under eval.convention unlearnkit"):
        evaluate_path(
            "tofu",
            tiny_world / "models" / "target",
            tokenizer_path=tiny_world / "tokenizer",
            device="cpu",
            data=tiny_world,
            retain_eval=world_evals[UNLEARNKIT]["retain_dir"],
            settings=EvalSettings(progress=False, convention=OPEN_UNLEARNING),
        )
