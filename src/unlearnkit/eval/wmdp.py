"""WMDP evaluation: per-item multiple-choice rows of the WMDP sets and MMLU, scored like lm-eval."""

from __future__ import annotations

from collections.abc import Sequence

from unlearnkit.data.formatting import Encoded
from unlearnkit.data.wmdp import has_mmlu, load_mmlu, load_wmdp_set, wmdp_sets, wmdp_source
from unlearnkit.eval.engine import score_groups
from unlearnkit.eval.metrics import multiple_choice as mc
from unlearnkit.eval.tofu import EvalSettings, reindexed
from unlearnkit.logprobs import IGNORE_INDEX

MMLU = "mmlu"


def set_key(name: str) -> str:
    """The rows' set name of a WMDP set: ``wmdp-bio`` → ``wmdp_bio``."""
    return name.replace("-", "_")


def encode_choice(tok, context: str, continuation: str, max_length: int) -> Encoded:
    """Context and continuation token ids as lm-eval's ``_encode_pair`` makes them, labels on the continuation.

    Trailing spaces of the context move to the continuation; the whole string and the context are
    tokenised with the tokenizer's default special tokens and the continuation is the whole's ids
    after the context's. The last ``max_length + 1`` ids are kept (lm-eval's left truncation).
    """
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    whole = list(tok(context + continuation)["input_ids"])
    n_context = len(tok(context)["input_ids"])
    cont = whole[n_context:]
    ids = (whole[:n_context] + cont)[-(max_length + 1) :]
    return Encoded(ids, [IGNORE_INDEX] * (len(ids) - len(cont)) + cont)


def mc_rows(
    model,
    tok,
    records: Sequence[dict],
    s: EvalSettings,
    desc: str,
    mmlu: bool = False,
    lead: str = "",
) -> list[dict]:
    """One row per item: the four log-likelihoods, the prediction and whether it is the answer.

    ``lead`` (the prefill attack) is written after "Answer:", before the scored letter.
    """
    prompts = [
        mc.mc_prompt(r["question"], r["choices"], mc.mmlu_description(r["subject"]) if mmlu else "")
        + (f" {lead}" if lead else "")
        for r in records
    ]
    groups = [[encode_choice(tok, p, c, s.max_length) for c in mc.continuations()] for p in prompts]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    scores = score_groups(model, groups, pad, s.batch_size, desc if s.progress else None)
    rows = []
    for i, (r, sc) in enumerate(zip(records, scores, strict=True)):
        logliks = [-x.total_nll for x in sc]
        pred = mc.prediction(logliks)
        rows.append(
            {
                "index": i,
                "question": r["question"],
                "subject": r.get("subject", ""),
                "answer": r["answer"],
                "logliks": logliks,
                "prediction": pred,
                "correct": pred == r["answer"],
            }
        )
    return rows


def wmdp_rows(
    model, tok, data, s: EvalSettings, with_mmlu: bool = True, lead: str = ""
) -> dict[str, list[dict]]:
    """Rows of every WMDP set the data holds, and of MMLU when asked and present."""
    source = data if hasattr(data, "folder") else wmdp_source(data)
    rows: dict[str, list[dict]] = {}
    for name in wmdp_sets(source):
        records, picked = s.subset(load_wmdp_set(source, name))
        rows[set_key(name)] = reindexed(mc_rows(model, tok, records, s, name, lead=lead), picked)
    if with_mmlu and has_mmlu(source):
        records, picked = s.subset(load_mmlu(source))
        rows[MMLU] = reindexed(mc_rows(model, tok, records, s, MMLU, mmlu=True), picked)
    return rows


def wmdp_aggregate(rows: dict[str, list[dict]]) -> dict[str, float]:
    """``<set>_acc`` per set, ``wmdp_acc`` over every WMDP item and ``mmlu_acc``."""
    out: dict[str, float] = {}
    wmdp_items: list[dict] = []
    for name, set_rows in rows.items():
        acc = mc.accuracy(set_rows)
        if acc is None:
            continue
        out[f"{name}_acc"] = acc
        if name != MMLU:
            wmdp_items += set_rows
    if wmdp_items:
        out["wmdp_acc"] = mc.accuracy(wmdp_items)
    return out
