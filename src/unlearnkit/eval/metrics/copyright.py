"""Copyright-style metrics: the forget-quality gap to the retain model, and perplexity."""

from __future__ import annotations

import math


def fq_gap(bleu: float, rouge: float, bleu_retain: float, rouge_retain: float) -> float:
    """|BLEU − BLEU_retain| + |ROUGE-L − ROUGE-L_retain|, BLEU on the 0–1 scale."""
    return abs(bleu - bleu_retain) + abs(rouge - rouge_retain)


def perplexity(total_nll: float, total_tokens: float) -> float:
    """exp(total NLL / number of tokens): token-weighted perplexity of a set of texts."""
    if total_tokens <= 0:
        raise ValueError("perplexity needs at least one token")
    return math.exp(total_nll / total_tokens)
