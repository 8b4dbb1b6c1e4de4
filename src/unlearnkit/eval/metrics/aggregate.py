"""Benchmark aggregates (the numbers in metrics.json) from per-item rows (the JSON Lines kept).

Every row is a flat dict; extra fields (ids, texts, generations) are ignored here. Field and set
names are the constants below and nowhere else.

TOFU, ``tofu_aggregate(rows_by_set, retain_truth_ratios, retain_mia_mink)``:
- sets ``forget``, ``retain``: ``nll`` (ℓ of the answer), ``para_nll`` (ℓ of the paraphrased
  answer), ``perturbed_nlls`` (ℓ of each perturbed answer), ``rougeL_recall``, ``rouge1_recall``,
  ``rougeL_f1`` (greedy generation against the answer); optionally ``exact_memorization`` and
  ``extraction_strength`` (from teacher-forced argmaxes, see :func:`memorization_fields`).
- sets ``real_authors``, ``world_facts``: ``nll`` (ℓ of the true answer), ``wrong_nlls`` (ℓ of each
  wrong option), and the three ROUGE fields.

MUSE, ``muse_aggregate(rows_by_set, retain_mia_mink)``:
- sets ``verbmem_f``, ``knowmem_f``, ``knowmem_r``: ``rougeL_f1`` (and the other ROUGE fields).

Copyright, ``copyright_aggregate(rows_by_set, retain_bleu, retain_rougeL)``:
- set ``continuations``: ``bleu`` (sentence BLEU, 0–1), ``rougeL_recall``.
- set ``ppl``: ``total_nll`` (summed NLL of a text's tokens), ``n_tokens``.
- set ``utility``: ``nll``, ``wrong_nlls`` as for ``real_authors``.

Membership inference, in any of the three (``mia_aggregate(members, nonmembers)``):
- sets ``mia_members`` (forget texts; MUSE: privleak forget), ``mia_nonmembers`` (holdout):
  one field per attack of :data:`mia.HIGHER_IS_MEMBER`: ``loss``, ``zlib``, ``mink``, ``minkpp``
  and optionally ``ref``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from . import copyright, memorization, mia, muse, tofu
from .text import rouge

# Per-item row fields.
NLL = "nll"
PARA_NLL = "para_nll"
PERTURBED_NLLS = "perturbed_nlls"
WRONG_NLLS = "wrong_nlls"
ROUGEL_RECALL = "rougeL_recall"
ROUGE1_RECALL = "rouge1_recall"
ROUGEL_F1 = "rougeL_f1"
BLEU = "bleu"
TOTAL_NLL = "total_nll"
N_TOKENS = "n_tokens"
EXACT_MEMORIZATION = "exact_memorization"
EXTRACTION_STRENGTH = "extraction_strength"
# Membership-inference fields: the attack names of mia (mia.LOSS, ... mia.REF).

# Eval sets (keys of rows_by_set).
FORGET = "forget"
RETAIN = "retain"
VALIDATION = "validation"  # a world's other questions about the forget authors (for selection)
REAL_AUTHORS = "real_authors"
WORLD_FACTS = "world_facts"
VERBMEM_F = "verbmem_f"
KNOWMEM_F = "knowmem_f"
KNOWMEM_R = "knowmem_r"
CONTINUATIONS = "continuations"
PPL = "ppl"
UTILITY = "utility"
MIA_MEMBERS = "mia_members"
MIA_NONMEMBERS = "mia_nonmembers"

Row = Mapping[str, object]
Rows = Sequence[Row]


def rouge_fields(prediction: str, reference: str) -> dict[str, float]:
    """The three ROUGE fields of a row."""
    s = rouge(prediction, reference)
    return {ROUGEL_RECALL: s.rougeL_recall, ROUGE1_RECALL: s.rouge1_recall, ROUGEL_F1: s.rougeL_f1}


def mia_fields(
    token_logprobs: Sequence[float],
    mu: Sequence[float],
    sigma: Sequence[float],
    text: str,
    ref_nll: float | None = None,
    k: float = mia.DEFAULT_K,
    count_last: bool = True,
) -> dict[str, float]:
    """The membership-inference fields of a row, from :func:`mia.token_stats` of one text.

    ``count_last=False``: Min-K% and Min-K%++ leave out the last token (open-unlearning's
    convention, when there are at least two); the loss and zlib scores always count every token.
    """
    loss = mia.loss_score(token_logprobs)
    n = len(token_logprobs) - (0 if count_last or len(token_logprobs) < 2 else 1)
    row = {
        mia.LOSS: loss,
        mia.ZLIB: mia.zlib_score(loss, text),
        mia.MINK: mia.min_k_score(token_logprobs[:n], k),
        mia.MINKPP: mia.min_k_plus_plus_score(token_logprobs[:n], mu[:n], sigma[:n], k),
    }
    if ref_nll is not None:
        row[mia.REF] = mia.reference_score(loss, ref_nll)
    return row


def memorization_fields(greedy_tokens_match: Sequence[bool]) -> dict[str, float]:
    """The memorisation fields of a row, from :func:`memorization.teacher_forced_correct`."""
    n = len(greedy_tokens_match)
    return {
        EXACT_MEMORIZATION: memorization.exact_memorization(greedy_tokens_match),
        EXTRACTION_STRENGTH: memorization.extraction_strength(
            n, memorization.min_prefix_len(greedy_tokens_match)
        ),
    }


def item_truth_ratios(rows: Rows) -> list[float]:
    """Per-item truth ratios of forget/retain rows (what forget quality compares)."""
    return [tofu.truth_ratio(r[PARA_NLL], r[PERTURBED_NLLS]) for r in rows]


def option_truth_ratios(rows: Rows) -> list[float]:
    """Per-item truth ratios of real-authors/world-facts rows: the true answer as the paraphrase."""
    return [tofu.truth_ratio(r[NLL], r[WRONG_NLLS]) for r in rows]


def tofu_aggregate(
    rows_by_set: Mapping[str, Rows],
    retain_truth_ratios: Sequence[float] | None = None,
    retain_mia_mink: float | None = None,
    retain_validation_truth_ratios: Sequence[float] | None = None,
) -> dict[str, float]:
    """Every TOFU key of docs/metrics.md for the sets present (model_utility needs all three;
    privleak needs the retain model's ``mia_mink`` on the same forget and holdout items;
    validation_quality the retain model's truth ratios on the same validation items)."""
    out: dict[str, float] = {}
    if FORGET in rows_by_set:
        rows = rows_by_set[FORGET]
        trs = item_truth_ratios(rows)
        out["forget_probability"] = _mean([tofu.probability(r[NLL]) for r in rows])
        out["forget_rouge"] = _field_mean(rows, ROUGEL_RECALL)
        out["forget_truth_ratio"] = tofu.forget_truth_ratio(trs)
        if retain_truth_ratios is not None:
            out["forget_quality"] = tofu.forget_quality(trs, retain_truth_ratios)
    if VALIDATION in rows_by_set:
        rows = rows_by_set[VALIDATION]
        out["validation_probability"] = _mean([tofu.probability(r[NLL]) for r in rows])
        out["validation_rouge"] = _field_mean(rows, ROUGEL_RECALL)
        trs = item_truth_ratios(rows)
        out["validation_truth_ratio"] = tofu.forget_truth_ratio(trs)
        if retain_validation_truth_ratios is not None:
            out["validation_quality"] = tofu.forget_quality(trs, retain_validation_truth_ratios)
    if RETAIN in rows_by_set:
        rows = rows_by_set[RETAIN]
        out["retain_probability"] = _mean([tofu.probability(r[NLL]) for r in rows])
        out["retain_rouge"] = _field_mean(rows, ROUGEL_RECALL)
        out["retain_truth_ratio"] = tofu.retain_truth_ratio(item_truth_ratios(rows))
    for name in (FORGET, RETAIN):
        for field in (EXACT_MEMORIZATION, EXTRACTION_STRENGTH):
            rows = rows_by_set.get(name, ())
            if rows and all(field in r for r in rows):
                out[f"{name}_{field}"] = _field_mean(rows, field)
    for name in (REAL_AUTHORS, WORLD_FACTS):
        if name in rows_by_set:
            rows = rows_by_set[name]
            probs = [tofu.option_probability(r[NLL], r[WRONG_NLLS]) for r in rows]
            out[f"{name}_probability"] = _mean(probs)
            out[f"{name}_rouge"] = _field_mean(rows, ROUGEL_RECALL)
            out[f"{name}_truth_ratio"] = tofu.retain_truth_ratio(option_truth_ratios(rows))
    utility_sets = (RETAIN, REAL_AUTHORS, WORLD_FACTS)
    if all(s in rows_by_set for s in utility_sets):
        out["model_utility"] = tofu.model_utility(
            [out[f"{s}_{m}"] for s in utility_sets for m in ("probability", "rouge", "truth_ratio")]
        )
    out.update(_mia_if_present(rows_by_set))
    if retain_mia_mink is not None and "mia_mink" in out:
        out["privleak"] = muse.privleak(out["mia_mink"], retain_mia_mink)
    return out


def muse_aggregate(
    rows_by_set: Mapping[str, Rows], retain_mia_mink: float | None = None
) -> dict[str, float]:
    """verbmem_f, knowmem_f, knowmem_r, the mia_* keys and (given the retain model's
    ``mia_mink`` on the same sets) privleak, for the sets present."""
    out: dict[str, float] = {}
    for name in (VERBMEM_F, KNOWMEM_F, KNOWMEM_R):
        if name in rows_by_set:
            out[name] = _field_mean(rows_by_set[name], ROUGEL_F1)
    out.update(_mia_if_present(rows_by_set))
    if retain_mia_mink is not None and "mia_mink" in out:
        out["privleak"] = muse.privleak(out["mia_mink"], retain_mia_mink)
    return out


def copyright_aggregate(
    rows_by_set: Mapping[str, Rows],
    retain_bleu: float | None = None,
    retain_rougeL: float | None = None,
) -> dict[str, float]:
    """copyright_bleu, copyright_rougeL, copyright_fq_gap (given the retain model's two numbers),
    ppl, utility_accuracy and the mia_* keys, for the sets present."""
    out: dict[str, float] = {}
    if CONTINUATIONS in rows_by_set:
        rows = rows_by_set[CONTINUATIONS]
        out["copyright_bleu"] = _field_mean(rows, BLEU)
        out["copyright_rougeL"] = _field_mean(rows, ROUGEL_RECALL)
        if retain_bleu is not None and retain_rougeL is not None:
            out["copyright_fq_gap"] = copyright.fq_gap(
                out["copyright_bleu"], out["copyright_rougeL"], retain_bleu, retain_rougeL
            )
    if PPL in rows_by_set:
        rows = rows_by_set[PPL]
        out["ppl"] = copyright.perplexity(
            sum(float(r[TOTAL_NLL]) for r in rows), sum(float(r[N_TOKENS]) for r in rows)
        )
    if UTILITY in rows_by_set:
        # Correct when the true answer is strictly more likely than every wrong option.
        out["utility_accuracy"] = _mean(
            [float(r[NLL] < min(r[WRONG_NLLS])) for r in rows_by_set[UTILITY]]
        )
    out.update(_mia_if_present(rows_by_set))
    return out


def mia_aggregate(members: Rows, nonmembers: Rows) -> dict[str, float]:
    """``mia_<attack>`` AUC for each attack whose field every row has (> 0.5: members detected)."""
    out: dict[str, float] = {}
    for attack, higher in mia.HIGHER_IS_MEMBER.items():
        if all(attack in r for r in (*members, *nonmembers)):
            out[f"mia_{attack}"] = mia.auc(
                [r[attack] for r in members], [r[attack] for r in nonmembers], higher
            )
    return out


def _mia_if_present(rows_by_set: Mapping[str, Rows]) -> dict[str, float]:
    if MIA_MEMBERS in rows_by_set and MIA_NONMEMBERS in rows_by_set:
        return mia_aggregate(rows_by_set[MIA_MEMBERS], rows_by_set[MIA_NONMEMBERS])
    return {}


def _field_mean(rows: Rows, field: str) -> float:
    return _mean([float(r[field]) for r in rows])


def _mean(values: Sequence[float]) -> float:
    if len(values) == 0:
        raise ValueError("cannot aggregate an empty eval set")
    return float(np.mean(values))
