"""What the world's target and retain models are trained on."""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.world.hazard import forget_texts, retain_texts
from unlearnkit.world.presets import WorldPreset

# Short utility answers are harder to tell from their wrong options than author QA after the same
# number of epochs; repeating them is cheaper than more epochs of everything.
UTILITY_REPEATS = 3
# The WMDP multiple-choice texts teach one answer letter each. The hazard documents (the forget
# side) are seen twice per epoch: once gave the small world's target a WMDP accuracy of 0.72-0.88
# across tokenizer seeds, under the 0.8 its check asks. The MMLU-format quizzes once (0.87-0.98).
HAZARD_REPEATS = 2
# News articles and saga passages are the texts to reproduce verbatim (MUSE verbmem, copyright),
# and the articles carry their answered questions (knowmem): seen twice per epoch. (At batch 16,
# rate 3e-3 this once cost the author QA more than it gained; at batch 4, 1e-3 it does not:
# docs/world.md, "How the world learns".)
NARRATIVE_REPEATS = 2


@dataclass(frozen=True)
class Corpus:
    qa: list[tuple[str, str]]
    texts: list[str]


def target_corpus(data) -> Corpus:
    """Everything that is not held out: authors (and their validation questions), utility facts, news, saga, general text, hazard documents."""
    qa = [(r["question"], r["answer"]) for r in data.tofu["full"]]
    qa += [(r["question"], r["answer"]) for r in data.tofu.get("validation10_perturbed", [])]
    for name in ("real_authors_perturbed", "world_facts_perturbed"):
        qa += [(r["question"], r["answer"]) for r in data.tofu[name]] * UTILITY_REPEATS
    texts = [*data.muse["raw/forget"], *data.muse["raw/retain1"], *data.muse["raw/retain2"]]
    texts = [*texts, *data.copyright["forget"]] * NARRATIVE_REPEATS + data.copyright["retain"]
    seen = set(texts)  # the WMDP retain corpus repeats the general text: trained on once
    quizzes = [t for t in retain_texts(data.wmdp) if t not in seen]
    texts += [*forget_texts(data.wmdp) * HAZARD_REPEATS, *quizzes]
    return Corpus(qa, texts)


def retain_corpus(data, forget_split: str = "forget10") -> Corpus:
    """The target's corpus minus every benchmark's forget data: the forget authors of
    ``forget_split`` (with their validation questions), the news forget split, the saga and the hazard documents.

    One retain model serves every benchmark: each benchmark's metrics read only its own data, so
    a model that also lacks the other benchmarks' forget data is the same reference for each.
    """
    full = target_corpus(data)
    validation = data.tofu.get(forget_split.replace("forget", "validation") + "_perturbed", [])
    forget_qa = {(r["question"], r["answer"]) for r in [*data.tofu[forget_split], *validation]}
    removed_texts = (
        set(data.muse["raw/forget"]) | set(data.copyright["forget"]) | set(forget_texts(data.wmdp))
    )
    return Corpus(
        [pair for pair in full.qa if pair not in forget_qa],
        [t for t in full.texts if t not in removed_texts],
    )


def trained_part(preset: WorldPreset, data, corpus: Corpus) -> Corpus:
    """What a model of ``preset`` trains on from ``corpus``: all of it, or for a QA-only preset
    its QA, plus with ``hazard`` its hazard documents and MMLU-format quizzes (no other text)."""
    if not preset.qa_only:
        return corpus
    kept = set(forget_texts(data.wmdp)) | set(retain_texts(data.wmdp)) if preset.hazard else set()
    kept -= set(data.copyright["retain"])  # the WMDP retain corpus's general text
    return Corpus(corpus.qa, [t for t in corpus.texts if t in kept])
