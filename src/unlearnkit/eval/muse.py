"""MUSE evaluation: verbatim memorisation, knowledge memorisation and privacy leakage rows."""

from __future__ import annotations

from unlearnkit.data.formatting import Encoded, encode_text
from unlearnkit.data.muse import has_muse_part, load_muse, muse_source
from unlearnkit.eval.convention import counts_last_token
from unlearnkit.eval.engine import generate, score_sequences
from unlearnkit.eval.metrics import aggregate as agg
from unlearnkit.eval.metrics.muse import knowmem_answer_cut
from unlearnkit.eval.tofu import EvalSettings, reindexed

VERBMEM_NEW_TOKENS = 128
KNOWMEM_NEW_TOKENS = 32
# MUSE's code scores each privleak text whole (BOS, then every token, no EOS); its texts are cut
# to at most 2,048 Llama tokens, the window open-unlearning's MUSE configs set too.
PRIVLEAK_TOKENS = 2048


def first_tokens(tok, text: str, n: int) -> str:
    return tok.decode(
        tok(text, add_special_tokens=False)["input_ids"][:n], skip_special_tokens=True
    )


def verbmem_rows(model, tok, records: list[dict], s: EvalSettings) -> list[dict]:
    gens = generate(
        model,
        tok,
        [r["prompt"] for r in records],
        VERBMEM_NEW_TOKENS,
        s.gen_batch_size,
        max_prompt_tokens=s.max_length,
        desc="verbmem" if s.progress else None,
    )
    rows = []
    for i, (r, gen) in enumerate(zip(records, gens)):
        reference = first_tokens(tok, r["gt"], VERBMEM_NEW_TOKENS)
        rows.append(
            {
                "index": i,
                "generation": gen,
                "reference": reference,
                **agg.rouge_fields(gen, reference),
            }
        )
    return rows


def knowmem_prompt(icl: list[dict], question: str) -> str:
    shots = "".join(f"Question: {e['question']}\nAnswer: {e['answer']}\n\n" for e in icl)
    return f"{shots}Question: {question}\nAnswer:"


def knowmem_rows(
    model, tok, records: list[dict], icl: list[dict], s: EvalSettings, name: str
) -> list[dict]:
    prompts = [knowmem_prompt(icl, r["question"]) for r in records]
    gens = generate(
        model,
        tok,
        prompts,
        KNOWMEM_NEW_TOKENS,
        s.gen_batch_size,
        max_prompt_tokens=s.max_length * 2,
        desc=name if s.progress else None,
    )
    rows = []
    for i, (r, gen) in enumerate(zip(records, gens)):
        answer = knowmem_answer_cut(gen)
        rows.append(
            {
                "index": i,
                "question": r["question"],
                "answer": r["answer"],
                "generation": answer,
                **agg.rouge_fields(answer, r["answer"]),
            }
        )
    return rows


def privleak_tokens(model) -> int:
    """MUSE's window, or the longest a model with fewer positions (the world's) can read."""
    config = getattr(model, "config", None)
    positions = getattr(config, "max_position_embeddings", None) or PRIVLEAK_TOKENS + 1
    return max(1, min(PRIVLEAK_TOKENS, positions - 1))


def privleak_window(tok, text: str, window: int = PRIVLEAK_TOKENS) -> Encoded:
    """A privleak text as MUSE scores it: BOS (if the tokenizer adds one) and the next ``window``
    tokens, every one after the first labelled, no EOS."""
    ids = list(tok(text, add_special_tokens=True)["input_ids"])
    n_special = len(tok("", add_special_tokens=True)["input_ids"])
    ids = ids[: n_special + window]
    return Encoded(ids, ids)


def text_mia_rows(
    model,
    tok,
    texts: list[str],
    s: EvalSettings,
    name: str,
    picked: list[int] | None = None,
    window: int | None = None,
) -> list[dict]:
    """MIA fields of each text: its first ``max_length`` tokens (EOS included, all labelled), or
    with ``window`` as :func:`privleak_window` cuts it (a batch then holds no more tokens than
    ``batch_size`` texts of ``max_length`` would).

    Rows are numbered among the non-empty texts; under ``eval.max_items`` by ``picked`` (the
    texts' indices in the full set), so a subset's rows stay comparable.
    """
    picked = picked if s.max_items else None
    kept = [(i, t) for i, t in zip(picked or range(len(texts)), texts) if t.strip()]
    if window is None:
        encoded, batch_size = [encode_text(tok, t, s.max_length)[0] for _, t in kept], s.batch_size
    else:
        encoded = [privleak_window(tok, t, window) for _, t in kept]
        longest = max((len(e) for e in encoded), default=1)
        batch_size = min(s.batch_size, max(1, s.batch_size * s.max_length // longest))
    scores = score_sequences(
        model, encoded, tok.pad_token_id, batch_size, name if s.progress else None
    )
    last = counts_last_token(s.convention)
    return [
        {
            "index": index if picked else k,
            **agg.mia_fields(sc.token_logprobs, sc.mu, sc.sigma, t, count_last=last),
        }
        for k, ((index, t), sc) in enumerate(zip(kept, scores))
        if sc.n_tokens
    ]


def muse_rows(model, tok, data, s: EvalSettings) -> dict[str, list[dict]]:
    source = data if hasattr(data, "folder") else muse_source(data)
    rows: dict[str, list[dict]] = {}

    def part(name: str) -> tuple[list, list[int]]:
        return s.subset(load_muse(source, name))

    if has_muse_part(source, "verbmem_forget"):
        records, picked = part("verbmem_forget")
        rows[agg.VERBMEM_F] = reindexed(verbmem_rows(model, tok, records, s), picked)
    for name, set_name in ((agg.KNOWMEM_F, "knowmem_forget"), (agg.KNOWMEM_R, "knowmem_retain")):
        if has_muse_part(source, set_name):
            icl_name = f"{set_name}_icl"
            icl = load_muse(source, icl_name) if has_muse_part(source, icl_name) else []
            records, picked = part(set_name)
            rows[name] = reindexed(knowmem_rows(model, tok, records, icl, s, name), picked)
    if has_muse_part(source, "privleak_forget") and has_muse_part(source, "privleak_holdout"):
        window = privleak_tokens(model)
        for name, set_name, desc in (
            (agg.MIA_MEMBERS, "privleak_forget", "privleak members"),
            (agg.MIA_NONMEMBERS, "privleak_holdout", "privleak non-members"),
        ):
            records, picked = part(set_name)
            rows[name] = text_mia_rows(model, tok, records, s, desc, picked, window)
    return rows
