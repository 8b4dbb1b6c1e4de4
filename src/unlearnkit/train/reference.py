"""The reference model π_ref: log-probs precomputed once, or a live frozen model.

Where a method needs π_ref only on fixed data (NPO, IDK-DPO, PRISM on the forget and refusal rows),
one pass of the frozen model before training stores log π_ref(y|x) per dataset index, so a step
makes no reference forward. Otherwise (KL and RMU on retain rows) a live reference runs: a frozen
copy of the model, or with LoRA the same model with its adapters switched off (no second copy),
run in eval mode (dropout off) and put back in the modes it was in. Both run under the policy's
forward autocast (one precision per run); the copy stores its linear maps' weights in the autocast
dtype, which that forward casts them to anyway.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch

from unlearnkit.casting import store_cast_weights
from unlearnkit.data.collate import pad_batch
from unlearnkit.data.formatting import Encoded
from unlearnkit.io import load_tensors
from unlearnkit.logprobs import sequence_logprob
from unlearnkit.models import is_sharded_model, load_model


class PrecomputedReference:
    """log π_ref per batch part and dataset index, from tables of shape (N,)."""

    kind = "precomputed"

    def __init__(self, tables: dict[str, torch.Tensor]):
        self.tables = {k: v.detach().float().cpu() for k, v in tables.items()}

    def logprob(self, name: str, part: dict, index: torch.Tensor) -> torch.Tensor:
        if name not in self.tables:
            raise KeyError(f"no precomputed reference log-probs for part '{name}'")
        return self.tables[name][index.cpu()].to(part["input_ids"].device)

    def outputs(self, part: dict, **kwargs):
        raise RuntimeError(
            "precomputed reference log-probs have no model outputs; use a live reference"
        )

    def save(self, path: str | Path) -> None:
        torch.save(self.tables, path)

    @classmethod
    def load(cls, path: str | Path) -> PrecomputedReference:
        return cls(load_tensors(path, "delete it: it is recomputed"))


class LiveReference:
    """Reference forwards under no_grad; ``calls`` counts them (tests check none run needlessly)."""

    kind = "live"

    def __init__(
        self,
        model,
        adapters_off: bool = False,
        autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    ):
        self.model, self.adapters_off, self.autocast, self.calls = model, adapters_off, autocast, 0

    def outputs(self, part: dict, **kwargs):
        self.calls += 1
        off = self.model.disable_adapter() if self.adapters_off else contextlib.nullcontext()
        with torch.no_grad(), off, eval_mode(self.model), self.autocast():
            return self.model(
                input_ids=part["input_ids"], attention_mask=part["attention_mask"], **kwargs
            )

    def logprob(self, name: str, part: dict, index: torch.Tensor) -> torch.Tensor:
        return sequence_logprob(self.outputs(part).logits, part["labels"]).float()


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """``model`` in eval mode inside the block; every submodule's own mode restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def frozen_copy(model, cast: torch.dtype | None = None):
    """A frozen copy of ``model`` in eval mode on the same device; with ``cast`` (the run's
    autocast dtype) its linear maps' weights are stored in it (``casting.store_cast_weights``)."""
    if is_sharded_model(model):
        ref = load_model(model.name_or_path, dtype=_dtype_name(model), shard=True)
        cast = None  # FSDP2 gathers each layer in one dtype: its weights keep theirs
    else:
        ref = copy.deepcopy(model)
    ref.eval()
    ref.requires_grad_(False)
    if cast is not None:
        store_cast_weights(ref, cast)
    return ref


def _dtype_name(model) -> str:
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(model.dtype, "fp32")


@torch.no_grad()
def sequence_logprobs(
    model,
    examples: Sequence[Encoded],
    pad_id: int,
    device: torch.device,
    batch_size: int = 16,
    autocast=contextlib.nullcontext,
) -> torch.Tensor:
    """log π(y|x) of every example, batched by length, in float32 on CPU: shape (N,)."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]))
    out = torch.empty(len(examples), dtype=torch.float32)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = {
                k: v.to(device) for k, v in pad_batch([examples[i] for i in idx], pad_id).items()
            }
            with autocast():
                logits = model(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                ).logits
            out[idx] = sequence_logprob(logits, batch["labels"]).float().cpu()
    finally:
        model.train(was_training)
    return out


def precompute_reference(
    model,
    parts: dict[str, Sequence[Encoded]],
    pad_id: int,
    device: torch.device,
    batch_size: int = 16,
    autocast=contextlib.nullcontext,
) -> PrecomputedReference:
    """One pass of the (still unchanged) model over each named part."""
    return PrecomputedReference(
        {
            name: sequence_logprobs(model, rows, pad_id, device, batch_size, autocast)
            for name, rows in parts.items()
        }
    )
