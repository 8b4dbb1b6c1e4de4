"""A method turns a batch into a loss; :class:`MethodNeeds` declares the data and reference it needs.

A batch is ``{"forget": part, "retain": part, "normal": part, "idk": part, "index": (B,)}`` with
only the parts the method asked for; a part is ``{input_ids, attention_mask, labels}`` (labels
-100 on prompt and padding). ``normal`` holds B·(K−1) rows, those of forget row i at
``i*(K−1) : (i+1)*(K−1)``; ``index`` is each forget example's position in the dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import torch

from unlearnkit.logprobs import IGNORE_INDEX, batch_nll, sequence_logprob, sequence_nll
from unlearnkit.methods.grads import Grads
from unlearnkit.methods.perturb import Seen
from unlearnkit.methods.sga.normal_data import NormalSource

ReferenceKind = Literal["none", "live", "precomputed"]
Part = dict[str, torch.Tensor]
Batch = dict[str, Any]
Logs = dict[str, float | torch.Tensor]


@dataclass(frozen=True)
class MethodNeeds:
    """What the trainer must build for a method."""

    forget: bool = True  # (x_f, y_f) rows
    retain: bool = False  # one retain row paired with each forget row
    normal: int = 0  # normal rows per forget row (SGA: K−1)
    normal_source: NormalSource | None = None
    idk: bool = False  # (x_f, refusal) rows: IDK targets, FLAT templates
    reference: ReferenceKind = "none"  # none | live (frozen model) | precomputed (log-probs)
    reference_parts: tuple[str, ...] = ()  # parts whose reference log-probs the loss reads
    custom_step: bool = False  # the trainer calls Method.custom_step instead of backward(loss)
    frozen_base: bool = False  # trains a few layers (RMU): the rest loads and stays in bf16

    def parts(self) -> tuple[str, ...]:
        """Batch parts the collator builds."""
        flags = {
            "forget": self.forget,
            "retain": self.retain,
            "normal": self.normal > 0,
            "idk": self.idk,
        }
        return tuple(name for name, on in flags.items() if on)


class Reference(Protocol):
    """Reference-model quantities: precomputed tables or a live frozen model."""

    kind: str

    def logprob(self, name: str, part: Part, index: torch.Tensor) -> torch.Tensor:
        """log π_ref(y|x) per row of ``part`` (the batch part called ``name``)."""

    def outputs(self, part: Part, **kwargs) -> Any:
        """A reference forward (live references only)."""


class GradEngine(Protocol):
    """What a custom step may do with gradients (the trainer implements it)."""

    params: list[torch.Tensor]

    def autocast(self) -> AbstractContextManager:
        """The forward-pass context (mixed precision)."""

    def grad(self, loss: torch.Tensor, retain_graph: bool = False) -> Grads:
        """∇loss per trainable parameter (None where unused; averaged over the processes when
        there are several, so global); leaves ``.grad`` empty."""

    def perturbed(self, eps: Grads) -> AbstractContextManager[Seen]:
        """θ + ε inside the block as the forward sees it (yields that ``Seen``: its norm and
        cosine with ε), θ restored exactly after."""

    def mean(self, value: float) -> float:
        """The mean of a float over all processes."""

    def warn_once(self, key: str, message: str) -> None:
        """Log a warning the first time ``key`` comes up in this run."""


@dataclass
class StepContext:
    """Per-step information a loss may read."""

    reference: Reference | None = None
    step: int = 0
    max_steps: int = 1
    state: dict = field(default_factory=dict)

    @property
    def progress(self) -> float:
        """Training progress p ∈ [0, 1]."""
        return min(max(self.step / max(self.max_steps, 1), 0.0), 1.0)


@dataclass
class PrepareData:
    """What :meth:`Method.prepare` may use before training (encoded forget / retain rows)."""

    forget: Sequence
    retain: Sequence
    pad_id: int
    device: torch.device
    batch_size: int = 16
    seed: int = 0
    autocast: Callable[[], AbstractContextManager] = nullcontext  # the run's forward autocast


@dataclass
class NoParams:
    """A method without hyper-parameters."""


class Method:
    """Base class: subclasses set ``name``, ``Params`` and implement :meth:`forget_loss`."""

    name: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams

    def __init__(self, params: Any = None):
        self.params = params if params is not None else self.Params()

    def needs(self) -> MethodNeeds:
        return MethodNeeds()

    def prepare(self, model, data: PrepareData) -> None:
        """One-off work before training (probe training, choosing layers)."""

    def trainable(self) -> Callable[[str], bool] | None:
        """A filter on parameter names that may train; None: all of them."""
        return None

    def trainable_on(self, model) -> Callable[[str], bool] | None:
        """The filter ``trainable`` gives once ``prepare(model)`` ran, without running it (the
        memory estimate asks it of a model built on the meta device)."""
        return self.trainable()

    def forget_loss(self, model, batch: Batch, ctx: StepContext) -> tuple[torch.Tensor, Logs]:
        raise NotImplementedError

    def retain_loss(
        self, model, batch: Batch, ctx: StepContext
    ) -> tuple[torch.Tensor | None, Logs]:
        """The retain term (already weighted); None when the method has none."""
        return None, {}

    def compute_loss(self, model, batch: Batch, ctx: StepContext) -> tuple[torch.Tensor, Logs]:
        forget, logs = self.forget_loss(model, batch, ctx)
        retain, retain_logs = self.retain_loss(model, batch, ctx)
        logs = {**logs, **retain_logs, "forget_loss": forget.detach()}
        if retain is None:
            return forget, logs
        logs["retain_loss"] = retain.detach()
        return forget + retain, logs

    def custom_step(
        self, model, batch: Batch, ctx: StepContext, engine: GradEngine
    ) -> tuple[torch.Tensor, Logs, Grads]:
        """(loss to report, logs, gradient per trainable parameter) for ``needs().custom_step``."""
        raise NotImplementedError(f"method {self.name} has no custom step")

    def report(self) -> dict:
        """What the run summary records about this method beyond its params (e.g. a probe's
        held-out accuracy); JSON-serialisable."""
        return {}

    def state_dict(self) -> dict:
        """State that must survive a resume (e.g. SGA's current r); JSON-serialisable."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def forward(model, part: Part, **kwargs):
    """The model's outputs on a batch part (no labels: the methods compute their own losses)."""
    return model(input_ids=part["input_ids"], attention_mask=part["attention_mask"], **kwargs)


def part_nll(model, part: Part) -> torch.Tensor:
    """ℓ per row (mean response-token NLL), shape (B,)."""
    return sequence_nll(forward(model, part).logits, part["labels"])


def part_logprob(model, part: Part) -> torch.Tensor:
    """log π_θ(y|x) per row, shape (B,)."""
    return sequence_logprob(forward(model, part).logits, part["labels"])


def retain_nll(model, batch: Batch, alpha: float) -> tuple[torch.Tensor | None, Logs]:
    """α·ℓ(D_r), the token-mean NLL of the retain part; None when α = 0."""
    if alpha == 0:
        return None, {}
    nll = batch_nll(forward(model, batch["retain"]).logits, batch["retain"]["labels"])
    return alpha * nll, {"retain_nll": nll.detach()}


def reference_logprob(ctx: StepContext, name: str, batch: Batch) -> torch.Tensor:
    """log π_ref of a batch part, from the precomputed table or a live reference forward."""
    if ctx.reference is None:
        raise RuntimeError("this method needs a reference model but the trainer has none")
    return ctx.reference.logprob(name, batch[name], batch["index"]).detach()


def concat_parts(a: Part, b: Part) -> Part:
    """Stack two right-padded parts into one batch (padding the narrower to the wider)."""
    width = max(a["input_ids"].shape[1], b["input_ids"].shape[1])
    fill = {"input_ids": 0, "attention_mask": 0, "labels": IGNORE_INDEX}

    def widen(t: torch.Tensor, value: int) -> torch.Tensor:
        return torch.nn.functional.pad(t, (0, width - t.shape[1]), value=value)

    return {k: torch.cat([widen(a[k], v), widen(b[k], v)]) for k, v in fill.items()}
