"""Prefilling attack (TOFU): the first k answer tokens are given after the prompt; does the model
complete the rest?

The answer is split at its k-th token (the same tokens the model was trained on); the prompt gets
the text of the first k, generation is greedy, and the score is ROUGE-L recall of the generation
against the rest of the answer, plus p_norm of the remaining answer tokens given the true prefix.
Items whose answer has no more than k tokens have nothing left to complete and are left out (the
entry's ``items`` says how many were scored). k = 0 is the plain evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from unlearnkit.attacks.context import AttackContext, AttackResult
from unlearnkit.attacks.params import int_list
from unlearnkit.attacks.prompted import PromptedItem, prompted_metrics, prompted_rows
from unlearnkit.benchmarks.tofu import forget_records
from unlearnkit.data.formatting import answer_text, encode_qa, has_chat_template, question_prompt
from unlearnkit.logprobs import IGNORE_INDEX


@dataclass
class PrefillParams:
    k: list[int] = field(default_factory=lambda: [1, 3, 5])
    # Multiple-choice benchmarks (``answer_prefill``): lead-ins written before the answer letter.
    lead: list[str] = field(default_factory=lambda: ["The answer is", "I know this one: it is"])

    def __post_init__(self):
        self.k = int_list(self.k, "k", 0)


def split_answer(tok, answer: str, k: int) -> tuple[str, str] | None:
    """(prefix, rest) of the answer as it follows the prompt, cut after its k-th token.

    None when the answer has at most k tokens. The cut is a character offset of the answer text
    (tokenizer offsets), so prompt + prefix + rest is exactly the prompt + answer of training.
    """
    full = answer_text(answer, has_chat_template(tok))
    if k == 0:
        return "", answer
    ids = tok(full, add_special_tokens=False)["input_ids"]
    if len(ids) <= k:
        return None
    if getattr(tok, "is_fast", False):
        offsets = tok(full, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        cut = offsets[k - 1][1]
        return full[:cut], full[cut:]
    prefix = tok.decode(ids[:k], skip_special_tokens=True)  # slow tokenizers have no offsets
    return prefix, full[len(prefix) :] if full.startswith(prefix) else tok.decode(ids[k:])


def prefill_item(tok, index: int, record: dict, k: int, max_length: int) -> PromptedItem | None:
    parts = split_answer(tok, record["answer"], k)
    if parts is None:
        return None
    prefix, rest = parts
    encoded = encode_qa(tok, record["question"], record["answer"], max_length)
    start = next(i for i, label in enumerate(encoded.labels) if label != IGNORE_INDEX)
    labels = list(encoded.labels)
    labels[start : start + k] = [IGNORE_INDEX] * k  # the given prefix is not scored
    return PromptedItem(
        index=index,
        question=record["question"],
        prompt=question_prompt(tok, record["question"]) + prefix,
        reference=rest.strip(),
        encoded=replace(encoded, labels=labels),
    )


def prefill_attack(model, tok, ctx: AttackContext, p: PrefillParams) -> list[AttackResult]:
    from unlearnkit.benchmarks import get_benchmark

    if get_benchmark(ctx.benchmark).answer_prefill:
        return lead_attack(model, tok, ctx, p)
    records, picked = ctx.settings.subset(forget_records(ctx.data, ctx.split))
    results = []
    for k in p.k:
        n = ctx.settings.max_length
        items = [prefill_item(tok, i, r, k, n) for i, r in zip(picked, records, strict=True)]
        items = [it for it in items if it is not None]
        rows = prompted_rows(model, tok, items, ctx.settings, f"prefill k={k}")
        extra = {"items": len(rows)}
        results.append(AttackResult(f"k={k}", k, prompted_metrics(rows), {"forget": rows}, extra))
    return results


def lead_attack(model, tok, ctx: AttackContext, p: PrefillParams) -> list[AttackResult]:
    """Multiple choice: each lead-in written after "Answer:", then the letters scored as usual."""
    from unlearnkit.attacks.forget import eval_mode, forget_metrics
    from unlearnkit.benchmarks import get_benchmark

    results = []
    for lead in p.lead:
        with eval_mode(model):
            rows = get_benchmark(ctx.benchmark).prefilled_forget_rows(model, tok, ctx, lead)
        extra = {"lead": lead}
        results.append(
            AttackResult(f"lead={lead}", len(lead.split()), forget_metrics(rows, ctx), rows, extra)
        )
    return results
