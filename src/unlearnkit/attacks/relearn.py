"""Relearning attack, one run: fine-tune a copy of the model on a few samples, re-measure.

One call trains cumulatively to each step count of ``steps`` and evaluates after each, at a
constant learning rate without warmup, so the model after S steps is exactly what an S-step attack
gives (a decaying schedule would make step 5 depend on the longest run). 0 steps is the model
itself, evaluated without training. ``recovery`` = metric after − metric at 0 steps; on TOFU,
``unseen`` holds the metrics of the forget items the attacker did not train on. The samples are
``data``: forget (a seeded subset), retain or general (as many as the forget subset would be).
The grid of rates × full/LoRA, the worst case and the references are in ``relearn_grid``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from unlearnkit.attacks.context import AttackContext, AttackResult
from unlearnkit.attacks.copying import attack_copy, free_memory
from unlearnkit.attacks.forget import evaluate_forget, forget_metrics
from unlearnkit.attacks.params import flag, int_list, integer, name_list, positive
from unlearnkit.attacks.relearn_data import relearn_examples, relearn_samples
from unlearnkit.data.collate import pad_batch
from unlearnkit.data.formatting import Encoded
from unlearnkit.errors import UserError
from unlearnkit.eval.metrics import aggregate as agg

log = logging.getLogger(__name__)
HALF = (torch.float16, torch.bfloat16)
DATA = ("forget", "retain", "general")


@dataclass
class RelearnParams:
    steps: list[int] = field(default_factory=lambda: [0, 5, 10, 20])
    fraction: float = 0.1  # of the forget samples (at least one), drawn with ``seed``
    lr: float | None = None  # None: the rate of the original fine-tune (AttackContext.finetune_lr)
    batch_size: int = 4
    seed: int = 0
    max_grad_norm: float = 1.0
    # Train an fp32 copy of a 16-bit model (bf16 autocast on CUDA): an Adam step of ~1e-5 is
    # below bf16's resolution for most weights, so pure-bf16 relearning would barely move.
    fp32: bool = True
    data: str = "forget"  # what the attacker trains on: forget, retain or general (TOFU)
    lrs: list[float] | None = None  # a grid of rates (None: just ``lr``)
    lora: list[bool] = field(default_factory=lambda: [False])  # full fine-tune and/or LoRA
    lora_r: int = 4
    references: bool = False  # relearn the target and retain models the same way
    target: str | None = None  # the references' folders (None: attacks/references' search)
    retain: str | None = None

    def __post_init__(self):
        self.steps = sorted({0, *int_list(self.steps, "steps", 0)})
        self.fraction = positive(self.fraction, "fraction", 1.0)
        self.lr = None if self.lr is None else positive(self.lr, "lr")
        names = name_list(self.data, "data", DATA)
        if len(names) != 1:
            raise UserError(f"data must be one of {', '.join(DATA)}; got {self.data!r}")
        self.data = names[0]
        if self.lrs is not None:
            items = self.lrs.split(",") if isinstance(self.lrs, str) else self.lrs
            items = items if isinstance(items, (list, tuple)) else [items]
            self.lrs = list(dict.fromkeys(positive(v, "lrs") for v in items))
        flags = self.lora.split(",") if isinstance(self.lora, str) else self.lora
        flags = flags if isinstance(flags, (list, tuple)) else [flags]
        self.lora = list(dict.fromkeys(flag(v) for v in flags))
        self.lora_r = integer(self.lora_r, "lora_r", 1)
        self.references = flag(self.references)
        self.batch_size = integer(self.batch_size, "batch_size", 1)
        self.seed = integer(self.seed, "seed")
        self.max_grad_norm = positive(self.max_grad_norm, "max_grad_norm")


def unseen_metrics(
    rows: dict[str, list[dict]], trained: set[str], ctx: AttackContext
) -> dict[str, float]:
    """TOFU forget metrics over the items the attacker did not train on (empty if none are left).

    Knowledge of these items coming back is the real failure: the attacker never showed them.
    Forget quality is left out (its KS test would compare a subset with the whole retain set).
    """
    unseen = [r for r in rows.get(agg.FORGET, []) if r["question"] not in trained]
    if not unseen:  # only TOFU has forget rows with questions
        return {}
    metrics = forget_metrics({agg.FORGET: unseen}, ctx)
    metrics.pop("forget_quality", None)
    return metrics


def batches(examples: list[Encoded], batch_size: int, seed: int) -> Iterator[list[Encoded]]:
    """Endless batches: a fresh seeded shuffle of ``examples`` every epoch."""
    rng = random.Random(seed)
    size = min(batch_size, len(examples))
    while True:
        order = list(range(len(examples)))
        rng.shuffle(order)
        for start in range(0, len(order) - size + 1, size):
            yield [examples[i] for i in order[start : start + size]]


def steps_name(step: int) -> str:
    return f"steps={step}"


def relearn_run(
    model, tok, ctx: AttackContext, p: RelearnParams, lr: float, lora: bool, name=steps_name
) -> list[AttackResult]:
    """One relearning run at rate ``lr`` (full or LoRA): an entry per step count, 0 included.

    ``name(step)`` is each entry's setting.
    """
    subset = relearn_samples(ctx, p)
    trained = {s.question for s in subset if s.is_qa} if p.data == "forget" else set()
    examples = relearn_examples(tok, subset, ctx.settings.max_length)
    before, rows = evaluate_forget(model, tok, ctx)
    before_unseen = unseen_metrics(rows, trained, ctx)
    facts = {"lr": lr, "lora": lora, "data": p.data, "samples": len(subset)}

    def result(step: int, metrics: dict, rows: dict, extra: dict) -> AttackResult:
        extra = {"recovery": _diff(metrics, before), **extra, **facts}
        unseen = unseen_metrics(rows, trained, ctx)
        if unseen:
            extra |= {"unseen": unseen, "unseen_recovery": _diff(unseen, before_unseen)}
        extra["trained_items"] = sorted(trained)
        return AttackResult(name(step), step, metrics, rows, extra)

    results = [result(0, before, rows, {})]
    if p.steps[-1] == 0:
        return results
    dtype = next(model.parameters()).dtype
    upcast = p.fp32 and dtype in HALF
    clone = attack_copy(model, torch.float32 if upcast else None)
    if lora:
        clone = with_lora(clone, p.lora_r)
    device = next(clone.parameters()).device
    autocast = torch.autocast(device.type, dtype=dtype, enabled=upcast and device.type == "cuda")
    trainable = [w for w in clone.parameters() if w.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    stream = batches(examples, p.batch_size, p.seed)
    torch.manual_seed(p.seed)
    for step in range(1, p.steps[-1] + 1):
        clone.train()
        batch = {k: v.to(device) for k, v in pad_batch(next(stream), tok.pad_token_id).items()}
        with autocast:
            loss = clone(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, p.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step in p.steps:
            metrics, rows = evaluate_forget(clone, tok, ctx)
            log.info("relearn: %d steps, loss %.4f, %s", step, loss.item(), metrics)
            results.append(result(step, metrics, rows, {"loss": float(loss.item())}))
    del clone, optimizer, trainable
    free_memory()
    return results


def with_lora(model, r: int):
    """``model`` (an attack copy) with fresh rank-``r`` LoRA adapters on all linear layers, which
    alone train."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules="all-linear")
    return get_peft_model(model, config)


def _diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in after if k in before}
