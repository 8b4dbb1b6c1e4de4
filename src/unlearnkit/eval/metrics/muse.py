"""MUSE metrics: KnowMem answer cutting and PrivLeak."""

from __future__ import annotations

import math

KNOWMEM_STOPS = ("\n\n", "Question")


def knowmem_answer_cut(generated: str) -> str:
    """The answer part of a KnowMem generation: cut at the first "\\n\\n" or "Question", stripped."""
    cut = len(generated)
    for stop in KNOWMEM_STOPS:
        i = generated.find(stop)
        if i != -1:
            cut = min(cut, i)
    return generated[:cut].strip()


def privleak(auc_model: float, auc_retain: float) -> float:
    """(AUC_model − AUC_retain) / AUC_retain × 100 in MUSE's orientation of the AUC.

    Both arguments are member-detection AUCs as :func:`unlearnkit.eval.metrics.mia.auc` returns
    them (``mia_mink``: > 0.5 when forget texts look like members). MUSE's AUC puts the holdout set
    as the positive class, i.e. it is 1 − ours, which is what makes a model that still remembers
    score about −100 and an over-unlearned one strongly positive. NaN if the retain model's
    MUSE-oriented AUC is 0 (it separates the sets perfectly: too few texts to measure).
    """
    model, retain = 1.0 - auc_model, 1.0 - auc_retain
    if retain == 0:
        return math.nan
    return (model - retain) / retain * 100.0
