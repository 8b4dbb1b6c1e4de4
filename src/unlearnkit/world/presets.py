"""World presets: how much data, how large a model, how long to train."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from unlearnkit.errors import UserError


@dataclass(frozen=True)
class ModelSize:
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_position: int = 512


@dataclass(frozen=True)
class TrainPlan:
    """How a world model trains. Many small steps beat few large ones here: on the small world,
    10 epochs reach a training loss of 1.2 at batch 4 and rate 1e-3 against 3.7 at batch 16 and
    3e-3 (the old default) for about the same CPU time (docs/world.md, "How the world learns")."""

    epochs: int
    learning_rate: float
    batch_size: int
    max_length: int = 256
    warmup_ratio: float = 0.05


@dataclass(frozen=True)
class WorldPreset:
    name: str
    n_authors: int  # fictitious authors in TOFU's `full`
    qa_per_author: int  # questions per author (>= 8 kinds of facts)
    n_utility_facts: int  # items in each utility set (real-authors and world-facts schemas)
    news_per_split: int  # articles in each MUSE raw split (forget, retain1, retain2, holdout)
    saga_passages: int  # passages of the copyright saga (forget text)
    general_passages: int  # general narrative passages (trained on by both) and as many held out
    model: ModelSize | None  # None: the base model's own architecture
    train: TrainPlan
    # A pretrained model (a name in base_models.BASE_MODELS) that target and retain are fine-tuned
    # from, with its own tokenizer and chat template (TOFU's recipe); None: trained from scratch.
    base: str | None = None
    # Train on the TOFU question-answer pairs only (authors and utility sets), to fit a CPU budget:
    # the MUSE, copyright and WMDP files are still written, but no model learns them.
    qa_only: bool = False
    # Authors in forget10 (the largest forget split; forget05 has half, forget01 one) and in
    # holdout10; None: TOFU's 10 % of n_authors. More forget authors give forget quality resolution.
    forget_authors: int | None = None
    # Questions about each forget author beyond its forget-split questions (facts of other kinds):
    # the target learns them, no retain model does; written as validationXX_perturbed.json, they
    # score forgetting for choosing settings, apart from the reported forget set. 0: none.
    validation_per_author: int = 0
    # A QA-only world that also learns the WMDP hazard domain: its forget documents (the target
    # only) and its MMLU-format quizzes (both models), so WMDP claims can be tested on the world.
    hazard: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, WorldPreset] = {
    "tiny": WorldPreset(
        name="tiny",
        n_authors=10,
        qa_per_author=8,
        n_utility_facts=12,
        news_per_split=4,
        saga_passages=6,
        general_passages=4,
        model=ModelSize(
            hidden_size=128, num_layers=2, num_heads=4, intermediate_size=352, vocab_size=1024
        ),
        train=TrainPlan(epochs=24, learning_rate=1e-3, batch_size=4),
    ),
    "small": WorldPreset(
        name="small",
        n_authors=40,
        qa_per_author=10,
        n_utility_facts=30,
        news_per_split=10,
        saga_passages=16,
        general_passages=10,
        model=ModelSize(
            hidden_size=128, num_layers=4, num_heads=4, intermediate_size=352, vocab_size=2048
        ),
        train=TrainPlan(epochs=24, learning_rate=1e-3, batch_size=4),
    ),
    "standard": WorldPreset(
        name="standard",
        n_authors=200,
        qa_per_author=20,
        n_utility_facts=100,
        news_per_split=100,
        saga_passages=100,
        general_passages=60,
        model=ModelSize(
            hidden_size=256, num_layers=6, num_heads=8, intermediate_size=704, vocab_size=4096
        ),
        # not built here (hours on a CPU): batch and rate scaled from small's, unmeasured
        train=TrainPlan(epochs=20, learning_rate=1e-3, batch_size=8),
    ),
    # SmolLM2-135M-Instruct fine-tuned on the world's TOFU part: the seed claims on a real model.
    "pretrained": WorldPreset(
        name="pretrained",
        n_authors=12,  # forget10 is 4 authors (32 QA), forget05 2, forget01 1; 8 retain authors
        qa_per_author=8,
        n_utility_facts=10,
        news_per_split=4,
        saga_passages=6,
        general_passages=4,
        model=None,
        train=TrainPlan(epochs=5, learning_rate=1.5e-4, batch_size=8, max_length=128),
        base="smollm2",
        qa_only=True,
        forget_authors=4,
        validation_per_author=4,  # 16 validation QA about the 4 forget authors
    ),
}


def get_preset(name: str) -> WorldPreset:
    if name not in PRESETS:
        raise UserError(f"unknown world preset '{name}'; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]
