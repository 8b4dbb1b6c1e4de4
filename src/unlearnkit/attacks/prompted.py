"""Forget QA asked with an attacker's prompt (prefilled answer, few-shot context): rows and metrics.

Each item is a prompt to continue greedily, the reference text the continuation should reproduce
and the teacher-forced sequence whose labelled tokens are that reference (for its probability).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unlearnkit.attacks.forget import eval_mode
from unlearnkit.data.formatting import Encoded, prompt_adds_own_special_tokens
from unlearnkit.eval.engine import generate, score_sequences
from unlearnkit.eval.metrics import aggregate as agg
from unlearnkit.eval.metrics.tofu import probability
from unlearnkit.eval.tofu import EvalSettings


@dataclass(frozen=True)
class PromptedItem:
    index: int  # position in the forget set
    question: str
    prompt: str  # what the model continues (chat template or "Question: …\nAnswer:" included)
    reference: str  # what the continuation should say
    encoded: Encoded  # prompt + reference, only the reference labelled


def prompted_rows(model, tok, items: list[PromptedItem], s: EvalSettings, name: str) -> list[dict]:
    with eval_mode(model):
        generations = generate(
            model,
            tok,
            [it.prompt for it in items],
            s.max_new_tokens,
            s.gen_batch_size,
            add_special_tokens=not prompt_adds_own_special_tokens(tok),
            desc=f"generating {name}" if s.progress else None,
        )
        scores = score_sequences(
            model,
            [it.encoded for it in items],
            tok.pad_token_id,
            s.batch_size,
            f"scoring {name}" if s.progress else None,
        )
    return [
        {
            "index": it.index,
            "question": it.question,
            "prompt": it.prompt,
            "reference": it.reference,
            "generation": gen,
            agg.NLL: sc.nll,
            **agg.rouge_fields(gen, it.reference),
        }
        for it, gen, sc in zip(items, generations, scores)
    ]


def prompted_metrics(rows: list[dict]) -> dict[str, float]:
    """``forget_rouge`` (ROUGE-L recall of the continuation) and ``forget_probability``."""
    if not rows:
        return {}
    return {
        "forget_rouge": float(np.mean([float(r[agg.ROUGEL_RECALL]) for r in rows])),
        "forget_probability": float(np.mean([probability(r[agg.NLL]) for r in rows])),
    }
