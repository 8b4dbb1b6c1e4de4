"""Torch threads on this machine, idle and busy: what ``--threads`` should default to.

A fixed workload (a few training steps of a model of the small world's size, on the tiny world's
QA pairs, and the scoring and greedy answers of a small TOFU set) runs at 1 and at 2 intra-op
threads, on an otherwise idle machine and with a competing process that burns one core
(``busy``). Every round runs all four variants (in rotating order); each variant's time is
divided by the 1-thread idle time *of the same round*, and the median over rounds is printed,
in wall time and in CPU seconds of this process.

    .venv/bin/python bench/threads.py [--rounds 5] [--steps 4] [--new-tokens 16] [--world DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("BENCH_THREADS", str(os.cpu_count() or 1))  # bench.common sets torch's
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from bench.common import header, med, quiet, ratio, spread, table  # noqa: E402

BURN = "while True: pass"


def workload(world: Path, steps: int, new_tokens: int):
    """A closure that trains ``steps`` steps and evaluates a small set; fresh weights every call."""
    from unlearnkit.data.collate import pad_batch
    from unlearnkit.data.formatting import encode_qa
    from unlearnkit.data.tofu import load_tofu
    from unlearnkit.eval.engine import generate, score_groups
    from unlearnkit.eval.tofu import perturbed_answers
    from unlearnkit.models import load_tokenizer
    from unlearnkit.world.presets import get_preset
    from unlearnkit.world.training import new_world_model

    tok = load_tokenizer(world / "tokenizer")
    tofu = world / "data" / "tofu"
    pairs = [encode_qa(tok, r["question"], r["answer"], 256) for r in load_tofu(tofu, "full")]
    pairs = pairs * (16 * steps // len(pairs) + 1)  # the tiny world has 80: reuse them
    batches = [pad_batch(pairs[i : i + 16], tok.pad_token_id) for i in range(0, 16 * steps, 16)]
    records = load_tofu(tofu, "forget10_perturbed")
    groups = [
        [encode_qa(tok, r["question"], a, 256) for a in perturbed_answers(r)] for r in records
    ]
    prompts = [tok.apply_chat_template([{"role": "user", "content": r["question"]}], tokenize=False,
                                       add_generation_prompt=True) for r in records]  # fmt: skip

    def run() -> None:
        model = new_world_model(get_preset("small"), tok, seed=0)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        model.train()
        for batch in batches:
            model(**batch).loss.backward()
            opt.step()
            opt.zero_grad()
        model.eval()
        score_groups(model, groups, tok.pad_token_id, 32)
        generate(model, tok, prompts, new_tokens, 32, add_special_tokens=False)

    return run


def timed(run, threads: int) -> tuple[float, float]:
    torch.set_num_threads(threads)
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--new-tokens", type=int, default=16, help="tokens of each greedy answer")
    p.add_argument("--world", help="a built tiny world (default: build or reuse the cached one)")
    p.add_argument(
        "--budget", type=float, default=150, help="start no new round after this many seconds"
    )
    args = p.parse_args()
    quiet()
    header("torch threads, idle and with one core busy")
    if args.world:
        world = Path(args.world)
    else:
        from unlearnkit.world.build import build_world
        from unlearnkit.world.location import world_dir

        world = build_world("tiny", world_dir("tiny", 0), seed=0, progress=False)
    run = workload(world, args.steps, args.new_tokens)
    timed(run, 1)  # warm-up: first-call allocations, lazy imports
    variants = [(1, "idle"), (2, "idle"), (1, "busy"), (2, "busy")]
    names = [f"{n} thread{'s' * (n > 1)}, {load}" for n, load in variants]
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    start = time.perf_counter()
    for r in range(args.rounds):
        if r and time.perf_counter() - start > args.budget:
            print(f"budget spent: {r} rounds", flush=True)
            break
        shift = r % len(variants)
        for (threads, load), name in (
            list(zip(variants, names))[shift:] + list(zip(variants, names))[:shift]
        ):
            burner = subprocess.Popen([sys.executable, "-c", BURN]) if load == "busy" else None
            try:
                w, c = timed(run, threads)
            finally:
                if burner is not None:
                    burner.kill()
                    burner.wait()
            wall[name].append(w)
            cpu[name].append(c)
            print(f"round {r + 1}, {name}: {w:.2f} s wall, {c:.2f} s CPU", flush=True)
    base = names[0]
    rows = [
        [
            name,
            med(wall[name]),
            ratio(wall, name, base),
            "–".join(f"{x:.2f}" for x in spread(wall, name, base)),
            ratio(cpu, name, base),
        ]
        for name in names
    ]
    table(
        ["variant", "wall s (median)", "× 1 thread idle", "round range", "CPU s ×"],
        rows,
        title=f"{args.steps} training steps (small-world size, batch 16) + scoring and "
        f"{args.new_tokens}-token answers of forget10; {len(wall[base])} rounds",
    )


if __name__ == "__main__":
    main()
