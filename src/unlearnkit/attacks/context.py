"""What every attack is given (benchmark, data, eval settings, retain reference) and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from unlearnkit.benchmarks.tofu import DEFAULT_SPLIT as TOFU_SPLIT
from unlearnkit.eval.results import AttackEntry
from unlearnkit.eval.tofu import EvalSettings

if TYPE_CHECKING:
    from unlearnkit.data.samples import UnlearningCorpus

DEFAULT_FINETUNE_LR = 1e-5  # TOFU's fine-tuning rate for real models


@dataclass
class AttackContext:
    benchmark: str
    data: str | None = None  # world folder, benchmark folder or hub id (None: the default world)
    split: str = TOFU_SPLIT  # TOFU forget split
    corpus_split: str | None = None  # MUSE / copyright forget subset: None (all) or a count
    settings: EvalSettings = field(default_factory=EvalSettings)
    reference: dict = field(default_factory=dict)  # eval.results.retain_reference(...)
    finetune_lr: float = DEFAULT_FINETUNE_LR  # rate of the fine-tune that made the target
    corpus: UnlearningCorpus | None = None  # the run's corpus, already loaded (relearning's data)
    target_model: str | None = None  # the model unlearning started from (hidden-state attacks)
    retain_model: str | None = None  # the retain model folder (--retain-model), if given

    @property
    def progress(self) -> bool:
        return self.settings.progress


@dataclass
class AttackResult:
    """One setting of one attack: its forget metrics, per-item rows and any extra facts."""

    setting: str  # e.g. "steps=5", "int4-group128", "k=3"
    value: float  # the attack's strength as a number (steps, bits, k, shots)
    metrics: dict[str, float]
    rows: dict[str, list[dict]] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # e.g. relearn's "recovery", quantize's "backend"

    def entry(self) -> dict:
        """The JSON entry of metrics.json's ``attacks[kind]`` list (an ``AttackEntry``)."""
        return AttackEntry(self.setting, self.value, self.metrics, self.extra).to_json()
