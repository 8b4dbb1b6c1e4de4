"""Copyright evaluation: continuation BLEU / ROUGE-L of the protected text, perplexity, utility, MIA."""

from __future__ import annotations

from unlearnkit.data.copyright import copyright_source, load_copyright
from unlearnkit.data.formatting import encode_text
from unlearnkit.data.sources import Source
from unlearnkit.eval.engine import generate, score_sequences
from unlearnkit.eval.metrics import aggregate as agg
from unlearnkit.eval.metrics.text import sentence_bleu
from unlearnkit.eval.muse import text_mia_rows
from unlearnkit.eval.tofu import EvalSettings, option_rows, reindexed

CONTINUATION_NEW_TOKENS = 200


def continuation_rows(model, tok, records: list[dict], s: EvalSettings) -> list[dict]:
    gens = generate(
        model,
        tok,
        [r["prompt"] for r in records],
        CONTINUATION_NEW_TOKENS,
        s.gen_batch_size,
        max_prompt_tokens=s.max_length,
        desc="continuations" if s.progress else None,
    )
    return [
        {
            "index": i,
            "generation": g,
            "reference": r["gt"],
            agg.BLEU: sentence_bleu(g, r["gt"]),
            **agg.rouge_fields(g, r["gt"]),
        }
        for i, (r, g) in enumerate(zip(records, gens))
    ]


def perplexity_rows(model, tok, texts: list[str], s: EvalSettings) -> list[dict]:
    encoded = [chunk for t in texts for chunk in encode_text(tok, t, s.max_length)]
    scores = score_sequences(
        model, encoded, tok.pad_token_id, s.batch_size, "perplexity" if s.progress else None
    )
    return [
        {"index": i, agg.TOTAL_NLL: sc.total_nll, agg.N_TOKENS: sc.n_tokens}
        for i, sc in enumerate(scores)
    ]


def copyright_rows(model, tok, data, s: EvalSettings) -> dict[str, list[dict]]:
    source = data if isinstance(data, Source) else copyright_source(data)
    prompts, prompts_picked = s.subset(load_copyright(source, "prompts"))
    heldout, heldout_picked = s.subset(load_copyright(source, "heldout"))
    forget, forget_picked = s.subset(load_copyright(source, "forget"))
    rows = {
        agg.CONTINUATIONS: reindexed(continuation_rows(model, tok, prompts, s), prompts_picked),
        agg.PPL: perplexity_rows(model, tok, heldout, s),  # one row per chunk, not per text
        agg.MIA_MEMBERS: text_mia_rows(model, tok, forget, s, "mia members", forget_picked),
        agg.MIA_NONMEMBERS: text_mia_rows(
            model, tok, heldout, s, "mia non-members", heldout_picked
        ),
    }
    world_facts = source.folder.parent / "tofu" / "world_facts_perturbed.json"
    if world_facts.is_file():
        from unlearnkit.data.tofu import load_tofu

        facts, facts_picked = s.subset(load_tofu(world_facts.parent, "world_facts_perturbed"))
        rows[agg.UTILITY] = reindexed(option_rows(model, tok, facts, s, "utility"), facts_picked)
    return rows
