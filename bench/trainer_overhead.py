"""Trainer overhead: one `ga` step through UnlearnTrainer against a bare PyTorch loop.

Both sides train the small world's target from the same weights on the same batches (the bare loop
replays the indices the trainer's sampler drew, through the same collator), with the same loss
(−mean ℓ over the forget rows), the same gradient clipping (max_grad_norm 1.0) and a fresh AdamW with
the same settings. The figure is the median over interleaved rounds of
(trainer step time) / (bare step time), steady-state steps only (the first step of each round,
which pays for set-up, is left out of both).

    .venv/bin/python bench/trainer_overhead.py [--rounds 7] [--steps 25]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from bench.common import (  # noqa: E402
    cpu_ratio,
    header,
    interleaved,
    med,
    quiet,
    ratio,
    spread,
    table,
)
from bench.world_setup import BenchTrainer, load_target, world_config  # noqa: E402


def bare_loop(model, dataset, collate, batches, cfg) -> tuple[float, float]:
    """The same steps as the trainer, written out by hand; median steady-state (wall, CPU) step."""
    from unlearnkit.logprobs import sequence_nll

    t = cfg.train
    opt = torch.optim.AdamW(model.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
    model.train()
    ends, cpu = [], []
    for idx in batches:
        batch = collate([dataset[i] for i in idx])
        part = batch["forget"]
        logits = model(input_ids=part["input_ids"], attention_mask=part["attention_mask"]).logits
        loss = -sequence_nll(logits, part["labels"]).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        ends.append(time.perf_counter())
        cpu.append(time.process_time())
    return (
        statistics.median(b - a for a, b in zip(ends, ends[1:])),
        statistics.median(b - a for a, b in zip(cpu, cpu[1:])),
    )


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=25)
    args = p.parse_args(argv)
    quiet()
    header("Trainer overhead (ga)")
    model, tok = load_target()
    cfg = world_config("ga")
    bench = BenchTrainer(model, tok, cfg, args.steps)
    bench.steps()  # records the batches the trainer draws (same every round: fixed data seed)
    batches = list(bench.batches)
    collate = bench.collate
    dataset = bench.run.dataset

    def bare():
        bench.reset()
        return bare_loop(bench.trainer.model, dataset, collate, batches, cfg)

    times = interleaved({"trainer": bench.steps, "bare": bare}, rounds=args.rounds)
    r = ratio(times, "trainer", "bare")
    lo, hi = spread(times, "trainer", "bare")
    return table(
        [
            "variant",
            "step (ms, median)",
            "ratio vs bare (median of rounds)",
            "round range",
            "ratio in CPU time",
            "target",
        ],
        [
            ["bare PyTorch loop", med(times["bare"]) * 1e3, 1.0, "", 1.0, ""],
            [
                "UnlearnTrainer (ga)",
                med(times["trainer"]) * 1e3,
                r,
                f"{lo:.2f}–{hi:.2f}",
                cpu_ratio(times, "trainer", "bare"),
                f"≤ 1.10: {'holds' if r <= 1.10 else 'FAILS'}",
            ],
        ],
        title=f"batch {cfg.train.batch_size}, max_length {cfg.train.max_length}, "
        f"{args.rounds} rounds × {args.steps} steps",
    )


if __name__ == "__main__":
    main()
