import math
import zlib

import pytest

from unlearnkit.eval.metrics import aggregate as agg
from unlearnkit.eval.metrics import mia

LN2, LN4, LN8, LN16 = (math.log(x) for x in (2, 4, 8, 16))


def qa(nll, para, perturbed, rouge):
    return {
        "nll": nll,
        "para_nll": para,
        "perturbed_nlls": perturbed,
        "rougeL_recall": rouge,
        "rouge1_recall": rouge,
        "rougeL_f1": rouge,
    }


def opt(nll, wrong, rouge):
    return {"nll": nll, "wrong_nlls": wrong, "rougeL_recall": rouge}


TOFU_ROWS = {
    # p 1/2, tr (1/8)/(1/2) = 0.25 | p 1/4, tr (1/2)/(1/4) = 2.
    "forget": [qa(LN2, LN2, [LN4, LN16], 1.0), qa(LN4, LN4, [LN2, LN2], 0.5)],
    # p 1/2, tr (1/4)/(1/2) = 0.5 | p 1, tr (1/8)/1 = 0.125.
    "retain": [qa(LN2, LN2, [LN4, LN4], 0.8), qa(0.0, 0.0, [LN4, LN16], 0.6)],
    # 0.5/(0.5+0.25+0.25) = 1/2, tr 0.25/0.5 | 0.5/(0.5+0.5+0.125) = 4/9, tr sqrt(1/16)/0.5.
    "real_authors": [opt(LN2, [LN4, LN4], 1.0), opt(LN2, [LN2, LN8], 0.5)],
    # 1/(1+0.5) = 2/3, tr 0.25 | 0.25/(0.25+1) = 1/5, tr 0.5/0.25 = 2.
    "world_facts": [opt(0.0, [LN4, LN4], 1.0), opt(LN4, [LN2, LN2], 0.5)],
}


def test_tofu_aggregate():
    m = agg.tofu_aggregate(TOFU_ROWS, retain_truth_ratios=[4.0, 8.0])
    expected = {
        "forget_probability": (0.5 + 0.25) / 2,
        "forget_rouge": 0.75,
        "forget_truth_ratio": (0.25 + 0.5) / 2,  # min(tr, 1/tr)
        # x = [0.25, 2] all below y = [4, 8]: D = 1, p = 2 / C(4, 2).
        "forget_quality": 2 / 6,
        "retain_probability": 0.75,
        "retain_rouge": 0.7,
        "retain_truth_ratio": (0.5 + 0.875) / 2,  # max(0, 1 - tr)
        "real_authors_probability": (1 / 2 + 4 / 9) / 2,
        "real_authors_rouge": 0.75,
        "real_authors_truth_ratio": (0.5 + 0.5) / 2,
        "world_facts_probability": (2 / 3 + 1 / 5) / 2,
        "world_facts_rouge": 0.75,
        "world_facts_truth_ratio": (0.75 + 0.0) / 2,
    }
    utility = [
        expected[f"{s}_{k}"]
        for s in ("retain", "real_authors", "world_facts")
        for k in ("probability", "rouge", "truth_ratio")
    ]
    expected["model_utility"] = 9 / sum(1 / v for v in utility)
    assert m == pytest.approx(expected)
    assert set(m) == set(expected)


def test_tofu_aggregate_partial_sets():
    m = agg.tofu_aggregate({"forget": TOFU_ROWS["forget"]})
    assert set(m) == {"forget_probability", "forget_rouge", "forget_truth_ratio"}
    assert agg.item_truth_ratios(TOFU_ROWS["forget"]) == pytest.approx([0.25, 2.0])


MEMBERS = [{"loss": 1.0, "mink": -0.5, "ref": 0.1}, {"loss": 2.0, "mink": -1.0}]
NONMEMBERS = [{"loss": 1.5, "mink": -2.0, "ref": 0.3}, {"loss": 3.0, "mink": -0.8, "ref": 0.2}]


def test_mia_aggregate_counts_pairs():
    # loss (lower = member): 3 of 4 pairs; mink (higher = member): -0.5 beats both, -1 beats -2.
    # ref is missing from one row, so no mia_ref.
    assert agg.mia_aggregate(MEMBERS, NONMEMBERS) == pytest.approx(
        {"mia_loss": 0.75, "mia_mink": 0.75}
    )


def test_muse_aggregate():
    rows = {
        "verbmem_f": [{"rougeL_f1": 0.2}, {"rougeL_f1": 0.4}],
        "knowmem_f": [{"rougeL_f1": 1.0}, {"rougeL_f1": 0.0}],
        "knowmem_r": [{"rougeL_f1": 0.5}, {"rougeL_f1": 0.7}],
        "mia_members": MEMBERS,
        "mia_nonmembers": NONMEMBERS,
    }
    m = agg.muse_aggregate(rows, retain_mia_mink=0.5)
    # privleak: MUSE-oriented AUCs 1 - 0.75 and 1 - 0.5: (0.25 - 0.5) / 0.5 * 100.
    expected = {
        "verbmem_f": 0.3,
        "knowmem_f": 0.5,
        "knowmem_r": 0.6,
        "mia_loss": 0.75,
        "mia_mink": 0.75,
        "privleak": -50.0,
    }
    assert m == pytest.approx(expected)
    assert "privleak" not in agg.muse_aggregate(rows)


def test_copyright_aggregate():
    rows = {
        "continuations": [{"bleu": 0.2, "rougeL_recall": 0.5}, {"bleu": 0.4, "rougeL_recall": 0.7}],
        # exp((2 ln 2 + 4 ln 2) / 3) = 4.
        "ppl": [{"total_nll": 2 * LN2, "n_tokens": 1}, {"total_nll": 4 * LN2, "n_tokens": 2}],
        # Right (1 < 2, 3) and wrong (2 > 1).
        "utility": [{"nll": 1.0, "wrong_nlls": [2.0, 3.0]}, {"nll": 2.0, "wrong_nlls": [1.0, 3.0]}],
    }
    m = agg.copyright_aggregate(rows, retain_bleu=0.1, retain_rougeL=0.2)
    expected = {
        "copyright_bleu": 0.3,
        "copyright_rougeL": 0.6,
        "copyright_fq_gap": 0.2 + 0.4,
        "ppl": 4.0,
        "utility_accuracy": 0.5,
    }
    assert m == pytest.approx(expected)


def test_row_builders():
    assert agg.rouge_fields("sat the cat", "the cat sat") == pytest.approx(
        {"rougeL_recall": 2 / 3, "rouge1_recall": 1.0, "rougeL_f1": 2 / 3}
    )
    row = agg.mia_fields([-1.0, -2.0, -3.0], [-1.5] * 3, [0.5, 1.0, 2.0], "abc", ref_nll=1.5)
    assert row == pytest.approx(
        {
            "loss": 2.0,
            "zlib": 2.0 / len(zlib.compress(b"abc")),
            "mink": -3.0,
            "minkpp": -0.75,
            "ref": 0.5,
        }
    )


def test_memorising_model_gets_auc_above_half_on_every_attack():
    # Members: every token likely (and the most likely under the model); non-members: unlikely.
    text = "the same kind of text"
    members = [
        agg.mia_fields([-0.1 - 0.01 * i] * 6, [-0.5] * 6, [0.3] * 6, text, ref_nll=2.0)
        for i in range(3)
    ]
    nonmembers = [
        agg.mia_fields([-2.0 - 0.01 * i] * 6, [-0.5] * 6, [0.3] * 6, text, ref_nll=2.0)
        for i in range(3)
    ]
    m = agg.mia_aggregate(members, nonmembers)
    assert set(m) == {f"mia_{a}" for a in mia.HIGHER_IS_MEMBER}
    assert all(v == 1.0 for v in m.values())


def test_memorization_fields_and_their_aggregate():
    # 3 of 4 tokens right; the rest is reproduced from prefix length 2: 1 - 2/4.
    row = agg.memorization_fields([True, False, True, True])
    assert row == pytest.approx({"exact_memorization": 0.75, "extraction_strength": 0.5})
    other = agg.memorization_fields([False, False])  # k = |y| = 2 -> 0
    forget = [{**TOFU_ROWS["forget"][0], **row}, {**TOFU_ROWS["forget"][1], **other}]
    m = agg.tofu_aggregate({"forget": forget})
    assert m["forget_exact_memorization"] == pytest.approx((0.75 + 0.0) / 2)
    assert m["forget_extraction_strength"] == pytest.approx((0.5 + 0.0) / 2)
