"""TOFU evaluation: per-item rows for forget, retain, real-authors and world-facts sets, and MIA."""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.data.formatting import encode_qa, prompt_adds_own_special_tokens, question_prompt
from unlearnkit.data.tofu import forget_split_names, load_tofu, tofu_source
from unlearnkit.eval.engine import generate, score_groups
from unlearnkit.eval.metrics import aggregate as agg


@dataclass
class EvalSettings:
    batch_size: int = 32
    gen_batch_size: int = 32
    max_new_tokens: int = 200
    max_length: int = 256
    progress: bool = True


def answer_generations(model, tok, questions: list[str], s: EvalSettings, desc: str) -> list[str]:
    prompts = [question_prompt(tok, q) for q in questions]
    return generate(
        model,
        tok,
        prompts,
        s.max_new_tokens,
        s.gen_batch_size,
        add_special_tokens=not prompt_adds_own_special_tokens(tok),
        desc=desc if s.progress else None,
    )


def perturbed_rows(model, tok, records: list[dict], s: EvalSettings, name: str) -> list[dict]:
    """Rows of a forget/retain set: answer, paraphrase and perturbed answers scored in one group."""
    groups = [
        [
            encode_qa(tok, r["question"], a, s.max_length)
            for a in (r["answer"], r["paraphrased_answer"], *r["perturbed_answer"])
        ]
        for r in records
    ]
    scores = score_groups(
        model, groups, tok.pad_token_id, s.batch_size, f"scoring {name}" if s.progress else None
    )
    generations = answer_generations(
        model, tok, [r["question"] for r in records], s, f"generating {name}"
    )
    rows = []
    for i, (r, sc, gen) in enumerate(zip(records, scores, generations)):
        rows.append(
            {
                "index": i,
                "question": r["question"],
                "answer": r["answer"],
                "generation": gen,
                agg.NLL: sc[0].nll,
                agg.PARA_NLL: sc[1].nll,
                agg.PERTURBED_NLLS: [x.nll for x in sc[2:]],
                **agg.rouge_fields(gen, r["answer"]),
                **agg.memorization_fields(sc[0].correct),
            }
        )
    return rows


def option_rows(model, tok, records: list[dict], s: EvalSettings, name: str) -> list[dict]:
    """Rows of a real-authors/world-facts set: the true answer and its wrong options in one group."""
    groups = [
        [
            encode_qa(tok, r["question"], a, s.max_length)
            for a in (r["answer"], *r["perturbed_answer"])
        ]
        for r in records
    ]
    scores = score_groups(
        model, groups, tok.pad_token_id, s.batch_size, f"scoring {name}" if s.progress else None
    )
    generations = answer_generations(
        model, tok, [r["question"] for r in records], s, f"generating {name}"
    )
    return [
        {
            "index": i,
            "question": r["question"],
            "answer": r["answer"],
            "generation": gen,
            agg.NLL: sc[0].nll,
            agg.WRONG_NLLS: [x.nll for x in sc[1:]],
            **agg.rouge_fields(gen, r["answer"]),
        }
        for i, (r, sc, gen) in enumerate(zip(records, scores, generations))
    ]


def mia_rows(model, tok, records: list[dict], s: EvalSettings, name: str) -> list[dict]:
    """Membership-inference scores of QA answers (members: forget split; non-members: holdout)."""
    groups = [[encode_qa(tok, r["question"], r["answer"], s.max_length)] for r in records]
    scores = score_groups(
        model, groups, tok.pad_token_id, s.batch_size, f"scoring {name}" if s.progress else None
    )
    return [
        {"index": i, **agg.mia_fields(sc.token_logprobs, sc.mu, sc.sigma, r["answer"])}
        for i, (r, (sc,)) in enumerate(zip(records, scores))
    ]


def tofu_rows(model, tok, data, split: str, s: EvalSettings) -> dict[str, list[dict]]:
    """Every per-item row of a TOFU evaluation, by set name."""
    source = tofu_source(data) if not hasattr(data, "folder") else data
    names = forget_split_names(split)
    rows = {
        agg.FORGET: perturbed_rows(
            model, tok, load_tofu(source, names["forget_eval"]), s, "forget"
        ),
        agg.RETAIN: perturbed_rows(
            model, tok, load_tofu(source, names["retain_eval"]), s, "retain"
        ),
        agg.REAL_AUTHORS: option_rows(
            model, tok, load_tofu(source, "real_authors_perturbed"), s, "real_authors"
        ),
        agg.WORLD_FACTS: option_rows(
            model, tok, load_tofu(source, "world_facts_perturbed"), s, "world_facts"
        ),
    }
    holdout = _optional(source, names["holdout"])
    if holdout:
        rows[agg.MIA_MEMBERS] = mia_rows(
            model, tok, load_tofu(source, names["forget"]), s, "mia members"
        )
        rows[agg.MIA_NONMEMBERS] = mia_rows(model, tok, holdout, s, "mia non-members")
    return rows


def _optional(source, config: str) -> list[dict] | None:
    """A split that some copies of TOFU lack (holdout): None when absent, an error when broken."""
    if source.folder is not None and not (source.folder / f"{config}.json").is_file():
        return None
    if source.folder is not None:
        return load_tofu(source, config)
    from unlearnkit.errors import UserError

    try:
        return load_tofu(source, config)
    except UserError:  # the hub copy may not have it; membership inference is then skipped
        return None
