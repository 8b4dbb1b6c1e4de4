"""In-context attack (TOFU): retain QA pairs as few-shot examples before each forget question.

The examples go in the user turn before the question (chat templates), or as
"Question: …\\nAnswer: …" blocks before the usual prompt; each forget item gets its own ``n``
examples from the retain split of the forget split (forget10 → retain90), drawn with ``seed``.
Scores: ROUGE-L recall of the greedy answer and p_norm of the answer given the whole prompt.
0 shots is the plain evaluation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from unlearnkit.attacks.context import AttackContext, AttackResult
from unlearnkit.attacks.params import int_list, integer
from unlearnkit.attacks.prompted import PromptedItem, prompted_metrics, prompted_rows
from unlearnkit.benchmarks.tofu import forget_records, retain_records
from unlearnkit.data.formatting import (
    QA_PROMPT,
    answer_text,
    encode_pair,
    has_chat_template,
    prompt_adds_own_special_tokens,
    question_prompt,
)
from unlearnkit.errors import UserError


@dataclass
class InContextParams:
    shots: list[int] = field(default_factory=lambda: [3])
    seed: int = 0

    def __post_init__(self):
        self.shots = int_list(self.shots, "shots", 0)
        self.seed = integer(self.seed, "seed")


def shots_text(examples: list[dict]) -> str:
    return "".join(
        QA_PROMPT.format(question=e["question"]) + f" {e['answer']}\n\n" for e in examples
    )


def incontext_prompt(tok, examples: list[dict], question: str) -> str:
    """The prompt of ``question`` with ``examples`` (QA dicts) before it."""
    if not examples:
        return question_prompt(tok, question)
    if has_chat_template(tok):
        return question_prompt(tok, shots_text(examples) + question)
    return shots_text(examples) + question_prompt(tok, question)


def incontext_items(
    tok, records, pool, n: int, seed: int, max_length: int, picked: list[int] | None = None
) -> list[PromptedItem]:
    """One prompted item per record (only those at ``picked``, if given): each draws its ``n``
    examples in turn, so an item's prompt is the same in a subset as in the full set."""
    if n > len(pool):
        raise UserError(f"{n} in-context shots asked but the retain split has {len(pool)} pairs")
    rng = random.Random(seed)
    chat = has_chat_template(tok)
    items = []
    wanted = set(range(len(records)) if picked is None else picked)
    for i, r in enumerate(records):
        examples = rng.sample(pool, n) if n else []
        if i not in wanted:
            continue
        prompt = incontext_prompt(tok, examples, r["question"])
        encoded = encode_pair(
            tok,
            prompt,
            answer_text(r["answer"], chat),
            max_length * (n + 1),  # room for the examples; the answer is never cut for them
            prompt_has_special_tokens=prompt_adds_own_special_tokens(tok),
        )
        items.append(PromptedItem(i, r["question"], prompt, r["answer"], encoded))
    return items


def incontext_attack(model, tok, ctx: AttackContext, p: InContextParams) -> list[AttackResult]:
    records = forget_records(ctx.data, ctx.split)
    _, picked = ctx.settings.subset(records)
    pool = retain_records(ctx.data, ctx.split) if any(p.shots) else []
    results = []
    for n in p.shots:
        items = incontext_items(tok, records, pool, n, p.seed, ctx.settings.max_length, picked)
        rows = prompted_rows(model, tok, items, ctx.settings, f"in-context {n} shots")
        results.append(AttackResult(f"shots={n}", n, prompted_metrics(rows), {"forget": rows}))
    return results
