"""TOFU evaluation: per-item rows for forget, retain, real-authors and world-facts sets, and MIA."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

from unlearnkit.data.tofu import forget_split_names, load_tofu, tofu_source
from unlearnkit.eval.convention import (
    UNLEARNKIT,
    TemplateArgs,
    counted,
    counts_last_token,
    encode_answer,
    generation_prompt,
    max_new_tokens_for,
    pick_first,
)
from unlearnkit.eval.engine import SeqScore, generate, score_groups
from unlearnkit.eval.metrics import aggregate as agg

# Settings that change how fast an eval runs, not its numbers (the engine's scores do not
# depend on how rows are batched): left out of ``EvalSettings.key``.
SPEED_ONLY = ("progress", "batch_size", "gen_batch_size")
# Settings added later whose absence from a recorded key means they were unset (None).
UNSET_WHEN_ABSENT = ("system_prompt", "date_string")


class EvalSection(Protocol):
    """What the eval settings are read from: a run config's ``eval`` section, or the parsed flags
    of `unlearn eval` / `unlearn attack` (the same names)."""

    batch_size: int
    max_new_tokens: int
    max_items: int | None
    convention: str


@dataclass
class EvalSettings:
    batch_size: int = 32
    gen_batch_size: int = 32
    max_new_tokens: int = 200
    max_length: int = 256
    progress: bool = True
    max_items: int | None = None  # per eval set: this many items, evenly spaced (None: all)
    convention: str = UNLEARNKIT  # or "open-unlearning": its answer rendering and token counts
    system_prompt: str | None = None  # open-unlearning's chat path: a system turn (None: default)
    date_string: str | None = None  # open-unlearning's chat path: the template's date_string

    @property
    def template(self) -> TemplateArgs:
        """The chat settings of the open-unlearning convention (unused by the others)."""
        return TemplateArgs(self.system_prompt, self.date_string)

    @classmethod
    def from_section(
        cls, section: EvalSection, max_length: int, progress: bool = True
    ) -> EvalSettings:
        """The one constructor of a run's or a command's settings (its eval, its retain eval and
        the attacks after it score under these); ``max_length``: a run's ``train.max_length``."""
        return cls(
            batch_size=section.batch_size,
            gen_batch_size=section.batch_size,
            max_new_tokens=section.max_new_tokens,
            max_length=max_length,
            progress=progress,
            max_items=section.max_items,
            convention=section.convention,
            system_prompt=getattr(section, "system_prompt", None),
            date_string=getattr(section, "date_string", None),
        )

    def key(self) -> dict:
        """Every setting that changes the numbers (all fields but ``SPEED_ONLY``), by name: an
        eval folder records it, and a retain eval is reused only under the same key."""
        return {k: v for k, v in sorted(asdict(self).items()) if k not in SPEED_ONLY}

    def differs_from(self, recorded: dict, unknown_differs: bool = True) -> str | None:
        """The first setting in which an eval scored under ``recorded`` (its ``key()``) differs
        from these settings, so that it cannot be their retain reference; None when it can.

        A full eval (``max_items`` None) serves a subset: its rows at the subset's indices are
        used. A setting ``recorded`` lacks (added after it was written) differs if
        ``unknown_differs``.
        """
        for name, value in self.key().items():
            if name not in recorded:
                if name in UNSET_WHEN_ABSENT and value is None:
                    continue  # written before the setting existed, when it was always unset
                if unknown_differs:
                    return name
                continue
            if name == "max_items" and recorded[name] is None:
                continue
            if recorded[name] != value:
                return name
        return None

    def subset(self, records: list) -> tuple[list, list[int]]:
        """The records this eval scores and their indices in the full set (deterministic)."""
        picked = pick_items(len(records), self.max_items, first=pick_first(self.convention))
        return [records[i] for i in picked], picked


def pick_items(n: int, max_items: int | None, first: bool = False) -> list[int]:
    """All of ``range(n)``, or ``max_items`` indices evenly spaced over it (every author of TOFU's
    forget set keeps a share, where the first N would keep the first authors only), or with
    ``first`` the first ``max_items`` (open-unlearning's sliced split)."""
    if max_items is None or max_items >= n:
        return list(range(n))
    if first:
        return list(range(max_items))
    return [i * n // max_items for i in range(max_items)]


def reindexed(rows: list[dict], picked: list[int]) -> list[dict]:
    """Rows numbered by their item's index in the full set (a subset's rows stay comparable)."""
    for row, index in zip(rows, picked, strict=True):
        row["index"] = index
    return rows


def answer_generations(model, tok, questions: list[str], s: EvalSettings, desc: str) -> list[str]:
    rendered = [generation_prompt(tok, q, s.convention, s.template) for q in questions]
    return generate(
        model,
        tok,
        [text for text, _ in rendered],
        max_new_tokens_for(s.convention, s.max_new_tokens),
        s.gen_batch_size,
        add_special_tokens=rendered[0][1] if rendered else True,
        desc=desc if s.progress else None,
    )


def perturbed_row(
    i: int, r: dict, sc: list[SeqScore], gen: str, convention: str = UNLEARNKIT
) -> dict:
    """A forget/retain row from the scores of (answer, paraphrase, *perturbed) and a generation."""
    return {
        "index": i,
        "question": r["question"],
        "answer": r["answer"],
        "generation": gen,
        agg.NLL: sc[0].nll,
        agg.PARA_NLL: sc[1].nll,
        agg.PERTURBED_NLLS: [x.nll for x in sc[2:]],
        **agg.rouge_fields(gen, r["answer"]),
        **agg.memorization_fields(counted(sc[0].correct, convention)),
    }


def option_row(i: int, r: dict, sc: list[SeqScore], gen: str) -> dict:
    """A real-authors/world-facts row from the scores of (answer, *wrong options) and a generation."""
    return {
        "index": i,
        "question": r["question"],
        "answer": r["answer"],
        "generation": gen,
        agg.NLL: sc[0].nll,
        agg.WRONG_NLLS: [x.nll for x in sc[1:]],
        **agg.rouge_fields(gen, r["answer"]),
    }


def mia_row(i: int, answer: str, sc: SeqScore, convention: str = UNLEARNKIT) -> dict:
    last = counts_last_token(convention)
    return {
        "index": i,
        **agg.mia_fields(sc.token_logprobs, sc.mu, sc.sigma, answer, count_last=last),
    }


def scored_answers(
    model, tok, records: list[dict], answers, s: EvalSettings, name: str, generate_too: bool = True
):
    """Each record's answers (``answers(r)``) scored as one group, and greedy answers to its question."""
    groups = [
        [
            encode_answer(tok, r["question"], a, s.max_length, s.convention, s.template)
            for a in answers(r)
        ]
        for r in records
    ]
    scores = score_groups(
        model, groups, tok.pad_token_id, s.batch_size, f"scoring {name}" if s.progress else None
    )
    if not generate_too:
        return scores, None
    return scores, answer_generations(
        model, tok, [r["question"] for r in records], s, f"generating {name}"
    )


def perturbed_answers(r: dict) -> tuple[str, ...]:
    return (r["answer"], r["paraphrased_answer"], *r["perturbed_answer"])


def option_answers(r: dict) -> tuple[str, ...]:
    return (r["answer"], *r["perturbed_answer"])


def perturbed_rows(model, tok, records: list[dict], s: EvalSettings, name: str) -> list[dict]:
    """Rows of a forget/retain set: answer, paraphrase and perturbed answers scored in one group."""
    scores, gens = scored_answers(model, tok, records, perturbed_answers, s, name)
    return [
        perturbed_row(i, r, sc, g, s.convention)
        for i, (r, sc, g) in enumerate(zip(records, scores, gens))
    ]


def option_rows(model, tok, records: list[dict], s: EvalSettings, name: str) -> list[dict]:
    """Rows of a real-authors/world-facts set: the true answer and its wrong options in one group."""
    scores, gens = scored_answers(model, tok, records, option_answers, s, name)
    return [option_row(i, r, sc, g) for i, (r, sc, g) in enumerate(zip(records, scores, gens))]


def mia_rows(model, tok, records: list[dict], s: EvalSettings, name: str) -> list[dict]:
    """Membership-inference scores of QA answers (members: forget split; non-members: holdout)."""
    scores, _ = scored_answers(
        model, tok, records, lambda r: (r["answer"],), s, name, generate_too=False
    )
    return [
        mia_row(i, r["answer"], sc, s.convention)
        for i, (r, (sc,)) in enumerate(zip(records, scores))
    ]


def tofu_rows(model, tok, data, split: str, s: EvalSettings) -> dict[str, list[dict]]:
    """Every per-item row of a TOFU evaluation, by set name."""
    source = tofu_source(data) if not hasattr(data, "folder") else data
    names = forget_split_names(split)
    forget, forget_picked = s.subset(load_tofu(source, names["forget_eval"]))
    forget_scores, forget_gens = scored_answers(model, tok, forget, perturbed_answers, s, "forget")
    rows = {
        agg.FORGET: reindexed(
            [
                perturbed_row(i, r, sc, g, s.convention)
                for i, (r, sc, g) in enumerate(zip(forget, forget_scores, forget_gens))
            ],
            forget_picked,
        )
    }
    validation = _optional(source, names["validation_eval"])
    if validation:
        records, picked = s.subset(validation)
        rows[agg.VALIDATION] = reindexed(
            perturbed_rows(model, tok, records, s, agg.VALIDATION), picked
        )
    for name, config, rows_of in (
        (agg.RETAIN, names["retain_eval"], perturbed_rows),
        (agg.REAL_AUTHORS, "real_authors_perturbed", option_rows),
        (agg.WORLD_FACTS, "world_facts_perturbed", option_rows),
    ):
        records, picked = s.subset(load_tofu(source, config))
        rows[name] = reindexed(rows_of(model, tok, records, s, name), picked)
    holdout = _optional(source, names["holdout"])
    if holdout:
        members, members_picked = s.subset(load_tofu(source, names["forget"]))
        if [(r["question"], r["answer"]) for r in members] == [
            (r["question"], r["answer"]) for r in forget
        ]:
            # The forget split's answers were just scored as the first answer of each forget group.
            member_rows = [
                mia_row(i, r["answer"], sc[0], s.convention)
                for i, (r, sc) in enumerate(zip(members, forget_scores))
            ]
        else:
            member_rows = mia_rows(model, tok, members, s, "mia members")
        rows[agg.MIA_MEMBERS] = reindexed(member_rows, members_picked)
        holdout, holdout_picked = s.subset(holdout)
        rows[agg.MIA_NONMEMBERS] = reindexed(
            mia_rows(model, tok, holdout, s, "mia non-members"), holdout_picked
        )
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
