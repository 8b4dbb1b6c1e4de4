"""Relearning attack: fine-tune a copy of the unlearned model on a few forget samples, re-measure.

One call trains cumulatively to each step count of ``steps`` and evaluates after each, at a
constant learning rate without warmup, so the model after S steps is exactly what an S-step attack
gives (a decaying schedule would make step 5 depend on the longest run). 0 steps is the model
itself, evaluated without training. ``recovery`` = metric after − metric at 0 steps; on TOFU,
``unseen`` holds the metrics of the forget items the attacker did not train on.
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
from unlearnkit.attacks.params import int_list, integer, positive
from unlearnkit.data.collate import pad_batch
from unlearnkit.data.formatting import Encoded
from unlearnkit.eval.metrics import aggregate as agg

log = logging.getLogger(__name__)
HALF = (torch.float16, torch.bfloat16)


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

    def __post_init__(self):
        self.steps = sorted({0, *int_list(self.steps, "steps", 0)})
        self.fraction = positive(self.fraction, "fraction", 1.0)
        self.lr = None if self.lr is None else positive(self.lr, "lr")
        self.batch_size = integer(self.batch_size, "batch_size", 1)
        self.seed = integer(self.seed, "seed")
        self.max_grad_norm = positive(self.max_grad_norm, "max_grad_norm")


def relearn_subset(samples: list, fraction: float, seed: int) -> list:
    """``fraction`` of ``samples`` (at least one), drawn without replacement with ``seed``."""
    n = max(1, round(fraction * len(samples)))
    chosen = sorted(random.Random(seed).sample(range(len(samples)), min(n, len(samples))))
    return [samples[i] for i in chosen]


def relearn_samples(ctx: AttackContext, p: RelearnParams) -> list:
    """The seeded forget subset the attacker trains on (``train.corpus.Sample``s)."""
    from unlearnkit.benchmarks import get_benchmark
    from unlearnkit.train.corpus import load_unlearning_corpus

    bench = get_benchmark(ctx.benchmark)
    split = bench.forget_split(ctx)
    corpus = ctx.corpus
    if corpus is None or corpus.split != str(split or bench.default_split):
        corpus = load_unlearning_corpus(ctx.benchmark, ctx.data, split)
    return relearn_subset(corpus.forget, p.fraction, p.seed)


def relearn_examples(tok, subset: list, max_length: int) -> list[Encoded]:
    """Tokenised training examples of the subset (QA pairs or text chunks)."""
    from unlearnkit.train.examples import build_examples

    return build_examples(
        tok,
        qa=[(s.question, s.text) for s in subset if s.is_qa],
        texts=[s.text for s in subset if not s.is_qa],
        max_length=max_length,
    )


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


def relearn_attack(model, tok, ctx: AttackContext, p: RelearnParams) -> list[AttackResult]:
    lr = p.lr if p.lr is not None else ctx.finetune_lr
    subset = relearn_samples(ctx, p)
    trained = {s.question for s in subset if s.is_qa}
    examples = relearn_examples(tok, subset, ctx.settings.max_length)
    before, rows = evaluate_forget(model, tok, ctx)
    before_unseen = unseen_metrics(rows, trained, ctx)

    def result(step: int, metrics: dict, rows: dict, extra: dict) -> AttackResult:
        extra = {"recovery": _diff(metrics, before), **extra, "lr": lr, "samples": len(subset)}
        unseen = unseen_metrics(rows, trained, ctx)
        if unseen:
            extra |= {"unseen": unseen, "unseen_recovery": _diff(unseen, before_unseen)}
        return AttackResult(f"steps={step}", step, metrics, rows, extra)

    results = [result(0, before, rows, {})]
    if p.steps[-1] == 0:
        return results
    dtype = next(model.parameters()).dtype
    upcast = p.fp32 and dtype in HALF
    clone = attack_copy(model, torch.float32 if upcast else None)
    device = next(clone.parameters()).device
    autocast = torch.autocast(device.type, dtype=dtype, enabled=upcast and device.type == "cuda")
    optimizer = torch.optim.AdamW(clone.parameters(), lr=lr, weight_decay=0.0)
    stream = batches(examples, p.batch_size, p.seed)
    torch.manual_seed(p.seed)
    for step in range(1, p.steps[-1] + 1):
        clone.train()
        batch = {k: v.to(device) for k, v in pad_batch(next(stream), tok.pad_token_id).items()}
        with autocast:
            loss = clone(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(clone.parameters(), p.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step in p.steps:
            metrics, rows = evaluate_forget(clone, tok, ctx)
            log.info("relearn: %d steps, loss %.4f, %s", step, loss.item(), metrics)
            results.append(result(step, metrics, rows, {"loss": float(loss.item())}))
    del clone, optimizer
    free_memory()
    return results


def _diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in after if k in before}
