"""Paraphrase attack (TOFU): ask the forget set's paraphrased questions instead of the originals.

The forget rows are computed exactly as in the plain evaluation, with ``paraphrased_question`` in
place of ``question``: ROUGE of the greedy answer, p_norm of the answer, and the truth ratio (the
paraphrased and perturbed answers scored under the reworded question). ``forget_quality`` is not
reported: the retain model's truth ratios it compares with were measured on the original questions.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.attacks.context import AttackContext, AttackResult
from unlearnkit.attacks.forget import eval_mode
from unlearnkit.benchmarks.tofu import forget_records
from unlearnkit.eval.metrics import aggregate as agg
from unlearnkit.eval.tofu import perturbed_rows, reindexed

METRICS = ("forget_rouge", "forget_probability", "forget_truth_ratio")


@dataclass
class ParaphraseParams:
    """No settings: the data holds one paraphrase per question."""


def paraphrase_attack(model, tok, ctx: AttackContext, p: ParaphraseParams) -> list[AttackResult]:
    records, picked = ctx.settings.subset(forget_records(ctx.data, ctx.split))
    records = [{**r, "question": r["paraphrased_question"]} for r in records]
    with eval_mode(model):
        rows = perturbed_rows(model, tok, records, ctx.settings, "paraphrased forget")
    rows = reindexed(rows, picked)
    every = agg.tofu_aggregate({agg.FORGET: rows})
    metrics = {k: every[k] for k in METRICS}
    return [AttackResult("paraphrased", 1, metrics, {agg.FORGET: rows})]
