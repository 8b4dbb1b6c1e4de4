"""What a benchmark is to the rest of unlearnkit: its data checks, its eval rows and aggregates, the
retain model's reference, its attack-side rows, and its metrics with the direction of each.

One subclass per benchmark (``benchmarks/tofu.py``, …) and one line in ``benchmarks/__init__.py``;
nothing else in the code base names a benchmark.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from unlearnkit.attacks.context import AttackContext
    from unlearnkit.data.samples import Sample
    from unlearnkit.eval.tofu import EvalSettings

Rows = dict[str, list[dict]]


@dataclass(frozen=True)
class MetricSpec:
    """One aggregate metric: how the report shows it and which way is good.

    ``better``: "higher", "lower", "retain" (closest to the retain model's value), "zero" or ""
    (no judgement). ``fallback``: for "retain" when no retain row is at hand, a direction or a value.
    ``recovery``: +1 / −1: the sign of a change that means forgotten knowledge came back (0: the
    metric does not measure recall of the forget data).
    """

    key: str
    better: str = ""
    fallback: str | float = "lower"
    digits: int = 3
    scale: float = 1.0
    scientific: bool = False
    recovery: int = 0
    label: str = ""

    @property
    def title(self) -> str:
        return self.label or self.key


class Benchmark(ABC):
    """One evaluation benchmark and its unlearning data (the registry holds one instance each)."""

    name: str
    title: str  # the report table's title
    caption: str  # how to read that table
    default_split: str | None = None  # the split a run unlearns when none is given
    train_time_column: bool = False  # the report's table of it shows each run's training time
    prompt_attacks: bool = False  # prefill / paraphrase / in-context apply (its items are QA)
    answer_prefill: bool = False  # prefill writes a lead-in before its answer letters (MC)
    world_retain: str = "retain"  # the world's model that is its retain reference
    plot_metrics: tuple[str, ...] = ()  # drawn per model as bars (before/after) in the report
    chance: float | None = None  # the plotted metrics' value for a model that guesses
    metrics: tuple[MetricSpec, ...] = ()

    def eval_split(self, split: str | None) -> str | None:
        """The split recorded in metrics.json (only benchmarks with named forget splits have one)."""
        return None

    def attack_split(self, split: str | None) -> str | None:
        """The forget subset of a corpus split given as a count (None: all of the forget data)."""
        return split if split is not None and str(split).isdigit() else None

    def forget_split(self, ctx: AttackContext) -> str | None:
        """The forget data an attack's results refer to (and relearning draws from)."""
        return ctx.corpus_split

    def training_records(self, data, split: str) -> tuple[list[tuple[str, str]], list[str]]:
        """(QA pairs, texts) of one of its splits, to fine-tune a target or retain model on."""
        from unlearnkit.errors import UserError

        raise UserError(f"unlearn finetune reads no {self.name} split; give a JSON file of records")

    @abstractmethod
    def check_data(self, data: str | os.PathLike | None, split: str | None) -> None:
        """Read and schema-check every file the evaluation will read (local folders only)."""

    @abstractmethod
    def rows(self, model, tok, data, split: str | None, settings: EvalSettings) -> Rows:
        """Every per-item row of an evaluation, by set name."""

    @abstractmethod
    def aggregate(self, rows: Rows, reference: dict) -> dict[str, float]:
        """Every aggregate metric from per-item rows (and the retain model's reference)."""

    @abstractmethod
    def retain_reference(self, retain_eval: str | os.PathLike) -> dict:
        """What :meth:`aggregate` needs from the retain model's eval folder."""

    @abstractmethod
    def forget_rows(self, model, tok, ctx: AttackContext) -> Rows:
        """The rows of the forget-side sets an attack re-evaluates."""

    @abstractmethod
    def samples(
        self, data, split: str, retain_file: Path | None
    ) -> tuple[list[Sample], list[Sample], str, str]:
        """(forget, retain, where the retain samples came from, the split) to unlearn with.

        ``retain_file`` (read with ``train.corpus.read_retain``) replaces the retain set.
        """

    attacked: tuple[str, ...] = ()  # the metrics an attack reports, in the report's order

    def prefilled_forget_rows(self, model, tok, ctx: AttackContext, lead: str) -> Rows:
        """Forget-side rows with ``lead`` written after each prompt (``answer_prefill`` benchmarks)."""
        raise NotImplementedError(f"{self.name} has no answer prefill")

    def metric(self, key: str) -> MetricSpec | None:
        return next((m for m in self.metrics if m.key == key), None)
