"""Text-overlap scores: ROUGE (rouge-score, stemmer on) and BLEU (sacrebleu, on the 0–1 scale)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import sacrebleu
from rouge_score import rouge_scorer


@dataclass(frozen=True)
class RougeScores:
    """The three ROUGE numbers kept per item."""

    rougeL_recall: float
    rouge1_recall: float
    rougeL_f1: float


@lru_cache(maxsize=1)
def _scorer() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)


def rouge(prediction: str, reference: str) -> RougeScores:
    """ROUGE-L recall, ROUGE-1 recall and ROUGE-L F1 of ``prediction`` against ``reference``."""
    s = _scorer().score(reference, prediction)
    return RougeScores(
        rougeL_recall=float(s["rougeL"].recall),
        rouge1_recall=float(s["rouge1"].recall),
        rougeL_f1=float(s["rougeL"].fmeasure),
    )


def rouge_batch(predictions: Sequence[str], references: Sequence[str]) -> list[RougeScores]:
    """:func:`rouge` for each (prediction, reference) pair."""
    _check_same_length(predictions, references)
    return [rouge(p, r) for p, r in zip(predictions, references)]


def rougeL_recall(prediction: str, reference: str) -> float:
    return rouge(prediction, reference).rougeL_recall


def rouge1_recall(prediction: str, reference: str) -> float:
    return rouge(prediction, reference).rouge1_recall


def rougeL_f1(prediction: str, reference: str) -> float:
    return rouge(prediction, reference).rougeL_f1


def sentence_bleu(prediction: str, reference: str) -> float:
    """sacrebleu sentence BLEU (its defaults: 13a tokenizer, exp smoothing) divided by 100."""
    return float(sacrebleu.sentence_bleu(prediction, [reference]).score) / 100.0


def sentence_bleu_batch(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    _check_same_length(predictions, references)
    return [sentence_bleu(p, r) for p, r in zip(predictions, references)]


def corpus_bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu corpus BLEU with one reference per prediction, divided by 100."""
    _check_same_length(predictions, references)
    return float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score) / 100.0


def _check_same_length(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
