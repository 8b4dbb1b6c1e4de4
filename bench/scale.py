"""Scale: step time against model size and sequence length; world build time against preset.

1. One `ga` unlearning step (the method's loss, backward, gradient clipping, AdamW) on batches of
   4 random-token sequences, for the model sizes of the three world presets (random weights) at
   128 tokens, and for the small size at 64 / 128 / 256 tokens. The variants run in interleaved
   rounds; each is reported as the median over rounds of its step time divided by the small model
   at 128 tokens of the same round. (The trainer adds ~2% to this step: trainer_overhead.py.)
2. World build. `tiny` is built fully (``build_world``) and timed. For every preset, the parts of
   a build are timed in interleaved rounds: data generation, tokenizer training, encoding the
   training examples, and a fixed number of world-training steps through the same Hugging Face
   Trainer set-up the build uses, on batches of the build's own first epoch chosen across their
   padded sizes. A line (time = a + b·padded tokens) fitted to those steps is summed over the
   build's steps (target and retain model, epochs × first-epoch batches): the build is
   *extrapolated* from a few steps. Times are CPU seconds of this process (one torch thread:
   what the work costs, which other jobs on a shared machine do not stretch) and wall seconds;
   the tiny row checks the estimate against the measured build.

    .venv/bin/python bench/scale.py [--only steps|build] [--rounds 3] [--build-rounds 2]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from bench.common import (  # noqa: E402
    THREADS,
    Clock,
    StepTimer,
    cpu_ratio,
    header,
    interleaved,
    med,
    quiet,
    ratio,
    table,
)


def llama(size, vocab: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(
        LlamaConfig(
            vocab_size=vocab,
            hidden_size=size.hidden_size,
            intermediate_size=size.intermediate_size,
            num_hidden_layers=size.num_layers,
            num_attention_heads=size.num_heads,
            num_key_value_heads=size.num_heads,
            max_position_embeddings=max(size.max_position, 512),
            tie_word_embeddings=True,
        )
    )


class GAStep:
    """A bare `ga` step on fixed random batches of ``length`` tokens; ``__call__`` times n steps."""

    def __init__(self, model, vocab: int, length: int, batch: int = 4, n_steps: int = 6):
        from unlearnkit.methods.registry import get_method

        self.model, self.n_steps = model.train(), n_steps
        self.method = get_method("ga")
        gen = torch.Generator().manual_seed(0)
        ids = torch.randint(5, vocab, (batch, length), generator=gen)
        labels = ids.clone()
        labels[:, : length // 4] = -100  # a prompt quarter, as in QA rows
        self.batch = {
            "forget": {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
        }
        self.opt = torch.optim.AdamW(model.parameters(), lr=1e-6, weight_decay=0.0)

    def __call__(self) -> tuple[float, float]:
        from unlearnkit.methods.base import StepContext

        ends, cpu = [], []
        for _ in range(self.n_steps):
            loss, _ = self.method.compute_loss(self.model, self.batch, StepContext())
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
            ends.append(time.perf_counter())
            cpu.append(time.process_time())
        return (
            statistics.median(b - a for a, b in zip(ends, ends[1:])),
            statistics.median(b - a for a, b in zip(cpu, cpu[1:])),
        )


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares (a, b) of y = a + b·x."""
    mx, my = statistics.mean(xs), statistics.mean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0
    return my - b * mx, b


def step_scaling(rounds: int) -> str:
    from unlearnkit.world.presets import get_preset

    variants, info = {}, {}
    for name in ("tiny", "small", "standard"):
        p = get_preset(name)
        model = llama(p.model, p.model.vocab_size)
        key = f"{name} model, 128 tokens"
        variants[key] = GAStep(model, p.model.vocab_size, 128)
        info[key] = (sum(x.numel() for x in model.parameters()), 4 * 128)
    small = get_preset("small")
    for length in (64, 256):
        model = llama(small.model, small.model.vocab_size)
        key = f"small model, {length} tokens"
        variants[key] = GAStep(model, small.model.vocab_size, length)
        info[key] = (sum(x.numel() for x in model.parameters()), 4 * length)
    order = [
        "tiny model, 128 tokens",
        "small model, 128 tokens",
        "standard model, 128 tokens",
        "small model, 64 tokens",
        "small model, 256 tokens",
    ]
    times = interleaved({k: variants[k] for k in order}, rounds=rounds)
    base = "small model, 128 tokens"
    rows = []
    for k in order:
        params, tokens = info[k]
        r, rc = ratio(times, k, base), cpu_ratio(times, k, base)
        rows.append(
            [
                k,
                f"{params / 1e6:.2f} M",
                tokens,
                med(times[k]) * 1e3,
                r,
                rc,
                rc / (params * tokens / (info[base][0] * info[base][1])),
            ]
        )
    return table(
        [
            "variant (batch 4)",
            "parameters",
            "tokens/step",
            "step (ms)",
            "× small@128 (wall)",
            "× small@128 (CPU)",
            "CPU per param·token, × small@128",
        ],
        rows,
        title=f"ga step against model size and sequence length, {rounds} rounds",
    )


class BuildParts:
    """The timed parts of a world build for one preset (see the module docstring).

    Every part is timed in wall seconds and in CPU seconds of this process: with one torch thread
    the CPU time is the work itself, which other jobs on a shared machine do not stretch.
    """

    PARTS = ("data", "tokenizer", "examples", "training")

    def __init__(self, preset: str, n_steps: int):
        from unlearnkit.world.presets import get_preset

        self.preset, self.n_steps = get_preset(preset), n_steps
        self.wall: dict[str, list[float]] = {k: [] for k in self.PARTS}
        self.cpu: dict[str, list[float]] = {k: [] for k in self.PARTS}
        self.total_steps = 0

    def __call__(self) -> tuple[float, float]:
        import dataclasses

        from unlearnkit.methods.templates import load_refusals
        from unlearnkit.train.examples import build_examples
        from unlearnkit.world.build import all_world_text
        from unlearnkit.world.corpus import retain_corpus, target_corpus
        from unlearnkit.world.generate import generate_world, write_world_data
        from unlearnkit.world.tokenizer import train_tokenizer

        p = self.preset
        with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
            with Clock() as data_clock:
                data = dataclasses.replace(generate_world(p, 0), refusals=load_refusals())
                write_world_data(data, Path(tmp) / "data")
            with Clock() as tok_clock:
                tok = train_tokenizer(all_world_text(data), p.model.vocab_size)
                tok.save_pretrained(str(Path(tmp) / "tokenizer"))
            with Clock() as ex_clock:
                corpora = (target_corpus(data), retain_corpus(data, "forget10"))
                examples = [
                    build_examples(tok, qa=c.qa, texts=c.texts, max_length=p.train.max_length)
                    for c in corpora
                ]
            step_wall, step_cpu = self._training(tok, examples, Path(tmp))
        for k, c in (("data", data_clock), ("tokenizer", tok_clock), ("examples", ex_clock)):
            self.wall[k].append(c.wall)
            self.cpu[k].append(c.cpu)
        self.wall["training"].append(step_wall)
        self.cpu["training"].append(step_cpu)
        epochs = p.train.epochs
        self.total_steps = sum(
            math.ceil(epochs * math.ceil(len(ex) / p.train.batch_size)) for ex in examples
        )
        return self.estimate(self.wall, -1), self.estimate(self.cpu, -1)

    def _training(self, tok, examples: list, tmp: Path) -> tuple[float, float]:
        """(wall, CPU) seconds of all world-training steps of the build, from a few timed ones.

        World batches differ a lot in cost (length-grouped: a batch of 256-token text chunks
        costs several batches of short QA rows), so the timed batches are spread over the
        padded sizes of the build's own first-epoch batches, a line time = a + b·(padded tokens)
        is fitted to them, and the build's steps (each model: epochs × its first-epoch batches)
        are summed with it.
        """
        from transformers import Trainer

        from unlearnkit.data.collate import EncodedCollator
        from unlearnkit.train.examples import EncodedDataset
        from unlearnkit.train.finetune import training_arguments
        from unlearnkit.world.training import new_world_model, world_finetune_config

        p = self.preset
        cfg = world_finetune_config(p, 0)
        bs = cfg.batch_size

        def first_epoch(rows) -> list[list[int]]:
            probe = Trainer(
                model=model,
                args=training_arguments(cfg, tmp / "probe", progress=False),
                train_dataset=EncodedDataset(rows),
                data_collator=EncodedCollator(tok.pad_token_id),
                processing_class=tok,
            )
            order = list(probe._get_train_sampler())  # the build's own (length-grouped) order
            return [order[i : i + bs] for i in range(0, len(order), bs)]

        def padded(rows, batch) -> int:
            return len(batch) * max(len(rows[i]) for i in batch)

        model = new_world_model(p, tok, 0)
        target, retain = examples
        batches = sorted(first_epoch(target), key=lambda b: padded(target, b))
        n = min(self.n_steps, len(batches))
        chosen = [batches[round(i * (len(batches) - 1) / max(n - 1, 1))] for i in range(n)]
        # The first step pays for set-up and is not timed: run the first batch again at the end.
        run = [*chosen, chosen[0]]
        args = training_arguments(cfg, tmp / "trainer", progress=False)
        args.train_sampling_strategy = "sequential"
        args.max_steps = len(run)
        args.logging_steps = 10**6
        timer = StepTimer()
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=EncodedDataset([target[i] for b in run for i in b]),
            data_collator=EncodedCollator(tok.pad_token_id),
            processing_class=tok,
            callbacks=[timer],
        )
        trainer.train()
        sizes = [padded(target, b) for b in run[1:]]
        totals = []
        for times in (timer.step_times(), timer.step_cpu_times()):
            a, b = fit_line(sizes, times)
            totals.append(
                sum(
                    p.train.epochs * sum(a + b * padded(rows, batch) for batch in first_epoch(rows))
                    for rows in (target, retain)
                )
            )
        return totals[0], totals[1]

    def estimate(self, clock: dict[str, list[float]], i: int | None = None) -> float:
        pick = (lambda xs: xs[i]) if i is not None else med
        fixed = sum(pick(clock[k]) for k in ("data", "tokenizer", "examples"))
        return fixed + pick(clock["training"])


def build_scaling(rounds: int, n_steps: int) -> str:
    from unlearnkit.world.build import build_world

    parts = {name: BuildParts(name, n_steps) for name in ("tiny", "small", "standard")}
    times = interleaved(parts, rounds=rounds, warmup=0)
    with tempfile.TemporaryDirectory(prefix="bench-tiny-world-") as tmp, Clock() as full:
        build_world("tiny", Path(tmp) / "tiny", progress=False)
    rows = []
    for name, b in parts.items():
        wall, cpu = b.estimate(b.wall), b.estimate(b.cpu)
        check = (
            f"built: {full.wall:.0f} s wall, {full.cpu:.0f} s CPU "
            f"(estimate / build: {cpu / full.cpu:.2f} CPU, {wall / full.wall:.2f} wall)"
            if name == "tiny"
            else "extrapolated"
        )
        rows.append(
            [
                name,
                b.total_steps,
                med(b.cpu["data"]) + med(b.cpu["tokenizer"]) + med(b.cpu["examples"]),
                med(b.cpu["training"]) / b.total_steps * 1e3,
                cpu,
                cpu_ratio(times, name, "tiny"),
                wall,
                ratio(times, name, "tiny"),
                check,
            ]
        )
    return table(
        [
            "preset",
            "training steps (target + retain)",
            "data + tokenizer + examples (CPU s)",
            "mean step (CPU ms)",
            "build estimate (CPU s)",
            "× tiny (CPU, median of rounds)",
            "build estimate (wall s)",
            "× tiny (wall, median of rounds)",
            "build",
        ],
        rows,
        title=f"world build against preset ({rounds} rounds of the parts, {n_steps} timed steps "
        f"each, {THREADS} torch thread(s))",
    )


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=("steps", "build"), help="one of the two tables")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--build-rounds", type=int, default=2)
    p.add_argument("--build-steps", type=int, default=8)
    args = p.parse_args(argv)
    quiet()
    header("Scale")
    texts = []
    if args.only in (None, "steps"):
        texts.append(step_scaling(args.rounds))
        print()
    if args.only in (None, "build"):
        texts.append(build_scaling(args.build_rounds, args.build_steps))
    return "\n\n".join(texts)


if __name__ == "__main__":
    main()
