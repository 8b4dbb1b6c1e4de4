"""What the relearning attacker trains on: a seeded subset of the forget, retain or general data."""

from __future__ import annotations

import random

from unlearnkit.attacks.context import AttackContext
from unlearnkit.data.formatting import Encoded
from unlearnkit.errors import UserError

GENERAL = ("world_facts_perturbed", "real_authors_perturbed")  # TOFU's utility QA


def relearn_subset(samples: list, fraction: float, seed: int) -> list:
    """``fraction`` of ``samples`` (at least one), drawn without replacement with ``seed``."""
    n = max(1, round(fraction * len(samples)))
    chosen = sorted(random.Random(seed).sample(range(len(samples)), min(n, len(samples))))
    return [samples[i] for i in chosen]


def relearn_samples(ctx: AttackContext, p) -> list:
    """The seeded subset of ``p.data`` the attacker trains on (``train.corpus.Sample``s).

    retain and general give as many samples as the forget subset would have, so the three
    variants spend the same budget; general is TOFU's world_facts and real_authors QA.
    """
    from unlearnkit.benchmarks import get_benchmark
    from unlearnkit.train.corpus import load_unlearning_corpus

    bench = get_benchmark(ctx.benchmark)
    split = bench.forget_split(ctx)
    corpus = ctx.corpus
    if corpus is None or corpus.split != str(split or bench.default_split):
        corpus = load_unlearning_corpus(ctx.benchmark, ctx.data, split)
    if p.data == "forget":
        return relearn_subset(corpus.forget, p.fraction, p.seed)
    n = len(relearn_subset(corpus.forget, p.fraction, p.seed))
    pool = corpus.retain if p.data == "retain" else general_samples(ctx)
    return relearn_subset(pool, min(1.0, n / len(pool)), p.seed)


def general_samples(ctx: AttackContext) -> list:
    """TOFU's general-knowledge QA (world facts, real authors): text unrelated to the forget set."""
    from unlearnkit.data.samples import Sample
    from unlearnkit.data.tofu import load_tofu, tofu_source

    if ctx.benchmark != "tofu":
        raise UserError("relearn data=general needs TOFU's world_facts / real_authors QA")
    source = tofu_source(ctx.data)
    return [Sample(r["answer"], r["question"]) for c in GENERAL for r in load_tofu(source, c)]


def relearn_examples(tok, subset: list, max_length: int) -> list[Encoded]:
    """Tokenised training examples of the subset (QA pairs or text chunks)."""
    from unlearnkit.train.examples import build_examples

    return build_examples(
        tok,
        qa=[(s.question, s.text) for s in subset if s.is_qa],
        texts=[s.text for s in subset if not s.is_qa],
        max_length=max_length,
    )
