"""Evaluation speed: the batched TOFU evaluator against a straightforward per-item loop.

Both compute the same per-item rows of a TOFU evaluation (forget10: forget, retain, real-authors,
world-facts and the MIA member / non-member sets) of the small world's target:

- batched: ``unlearnkit.eval.tofu.tofu_rows`` (``score_groups`` packs whole items into batches
  sorted by length; ``generate`` decodes batches with left padding and the KV cache);
- per item: one forward per scored sequence and one ``model.generate`` per question (the KV cache
  is on there too: that is generate's default).

The rounds interleave the two; the figure is the median of the per-round speed-ups (items per
second, batched / per item). The loop's rows are checked against the batched rows (NLLs,
generations). A second table shows what the KV cache is worth for a batch of generations.

    .venv/bin/python bench/eval_speed.py [--rounds 3] [--max-new-tokens 200]
"""

from __future__ import annotations

import argparse
import sys
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
    small_world,
    spread,
    table,
)
from bench.world_setup import load_target  # noqa: E402


@torch.no_grad()
def score_one(model, encoded, pad_id):
    from unlearnkit.data.collate import pad_batch
    from unlearnkit.eval.engine import SeqScore
    from unlearnkit.eval.metrics.memorization import teacher_forced_correct
    from unlearnkit.eval.metrics.mia import token_stats

    t = pad_batch([encoded], pad_id)
    logits = model(input_ids=t["input_ids"], attention_mask=t["attention_mask"]).logits
    s = token_stats(logits, t["labels"])[0]
    c = teacher_forced_correct(logits, t["labels"])[0]
    return SeqScore(s["token_logprobs"], s["mu"], s["sigma"], c)


@torch.no_grad()
def generate_one(model, tok, question, s) -> str:
    from unlearnkit.data.formatting import prompt_adds_own_special_tokens, question_prompt

    prompt = question_prompt(tok, question)
    ids = tok(prompt, add_special_tokens=not prompt_adds_own_special_tokens(tok))["input_ids"]
    x = torch.tensor([ids])
    out = model.generate(
        input_ids=x,
        attention_mask=torch.ones_like(x),
        max_new_tokens=s.max_new_tokens,
        do_sample=False,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    return tok.decode(out[0, x.shape[1] :], skip_special_tokens=True).strip()


@torch.no_grad()
def score_groups_before(model, groups, pad_id, batch_size=32, desc=None):
    """``score_groups`` as it was before the speed-ups (kept here to measure them against).

    Whole groups per batch, sorted by length, full (B, T, V) logits and per-token statistics on
    every position; no prompt sharing.
    """
    from unlearnkit.data.collate import pad_batch
    from unlearnkit.eval.engine import SeqScore
    from unlearnkit.eval.metrics.memorization import teacher_forced_correct
    from unlearnkit.eval.metrics.mia import token_stats

    device = next(model.parameters()).device
    order = sorted(range(len(groups)), key=lambda i: max((len(e) for e in groups[i]), default=0))
    results = [[] for _ in groups]
    batches, current, size = [], [], 0
    for i in order:
        if current and size + len(groups[i]) > batch_size:
            batches.append(current)
            current, size = [], 0
        current.append(i)
        size += len(groups[i])
    if current:
        batches.append(current)
    for batch in batches:
        flat = [e for i in batch for e in groups[i]]
        tensors = {k: v.to(device) for k, v in pad_batch(flat, pad_id).items()}
        logits = model(
            input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"]
        ).logits
        stats = token_stats(logits, tensors["labels"])
        correct = teacher_forced_correct(logits, tensors["labels"])
        scores = iter(
            SeqScore(s["token_logprobs"], s["mu"], s["sigma"], c) for s, c in zip(stats, correct)
        )
        for i in batch:
            results[i] = [next(scores) for _ in groups[i]]
    return results


def per_item_rows(model, tok, data, split, s) -> dict[str, list[dict]]:
    """The rows of ``tofu_rows``, one sequence and one generation at a time."""
    from unlearnkit.data.formatting import encode_qa
    from unlearnkit.data.tofu import forget_split_names, load_tofu
    from unlearnkit.eval.metrics import aggregate as agg
    from unlearnkit.eval.tofu import (
        mia_row,
        option_answers,
        option_row,
        perturbed_answers,
        perturbed_row,
    )

    names = forget_split_names(split)
    pad = tok.pad_token_id

    def scores(r, answers):
        return [
            score_one(model, encode_qa(tok, r["question"], a, s.max_length), pad) for a in answers
        ]

    def perturbed(records):
        return [
            perturbed_row(
                i, r, scores(r, perturbed_answers(r)), generate_one(model, tok, r["question"], s)
            )
            for i, r in enumerate(records)
        ]

    def options(records):
        return [
            option_row(
                i, r, scores(r, option_answers(r)), generate_one(model, tok, r["question"], s)
            )
            for i, r in enumerate(records)
        ]

    def mia(records):
        return [
            mia_row(i, r["answer"], scores(r, (r["answer"],))[0]) for i, r in enumerate(records)
        ]

    return {
        agg.FORGET: perturbed(load_tofu(data, names["forget_eval"])),
        agg.RETAIN: perturbed(load_tofu(data, names["retain_eval"])),
        agg.REAL_AUTHORS: options(load_tofu(data, "real_authors_perturbed")),
        agg.WORLD_FACTS: options(load_tofu(data, "world_facts_perturbed")),
        agg.MIA_MEMBERS: mia(load_tofu(data, names["forget"])),
        agg.MIA_NONMEMBERS: mia(load_tofu(data, names["holdout"])),
    }


def compare(a: dict, b: dict) -> tuple[float, float]:
    """(largest |Δ| over every numeric field of every row, fraction of equal generations)."""
    worst, same, n = 0.0, 0, 0
    for name, rows in a.items():
        for x, y in zip(rows, b[name], strict=True):
            for k, v in x.items():
                if isinstance(v, float):
                    worst = max(worst, abs(v - y[k]))
                elif isinstance(v, list) and v and isinstance(v[0], float):
                    worst = max(worst, *(abs(p - q) for p, q in zip(v, y[k], strict=True)))
            if "generation" in x:
                n += 1
                same += x["generation"] == y["generation"]
    return worst, same / max(n, 1)


def main(argv=None) -> str:
    from unlearnkit.eval.engine import generate
    from unlearnkit.eval.tofu import EvalSettings, question_prompt, tofu_rows

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--max-new-tokens", type=int, default=200)
    args = p.parse_args(argv)
    quiet()
    header("Evaluation speed (TOFU, small world target)")
    model, tok = load_target()
    model.eval()
    data = small_world() / "data" / "tofu"
    s = EvalSettings(progress=False, max_new_tokens=args.max_new_tokens)
    out: dict = {}

    def batched():
        out["batched"] = tofu_rows(model, tok, data, "forget10", s)

    def loop():
        out["loop"] = per_item_rows(model, tok, data, "forget10", s)

    def before():
        import unlearnkit.eval.tofu as tofu

        current = tofu.score_groups
        tofu.score_groups = score_groups_before
        try:
            out["before"] = tofu_rows(model, tok, data, "forget10", s)
        finally:
            tofu.score_groups = current

    times = interleaved(
        {"batched": batched, "per item": loop, "before": before}, rounds=args.rounds, warmup=0
    )
    n_items = sum(len(r) for r in out["batched"].values())
    speedup = ratio(times, "per item", "batched")
    lo, hi = spread(times, "per item", "batched")
    worst, same = compare(out["batched"], out["loop"])
    first = table(
        [
            "evaluator",
            "time (s, median)",
            "items/s",
            "speed-up (median of rounds)",
            "round range",
            "speed-up in CPU time",
            "target",
        ],
        [
            [
                "per-item loop",
                med(times["per item"]),
                n_items / med(times["per item"]),
                1.0,
                "",
                1.0,
                "",
            ],
            [
                "batched, scoring as before the speed-ups",
                med(times["before"]),
                n_items / med(times["before"]),
                ratio(times, "per item", "before"),
                "{:.2f}–{:.2f}".format(*spread(times, "per item", "before")),
                cpu_ratio(times, "per item", "before"),
                "",
            ],
            [
                "batched (tofu_rows)",
                med(times["batched"]),
                n_items / med(times["batched"]),
                speedup,
                f"{lo:.2f}–{hi:.2f}",
                cpu_ratio(times, "per item", "batched"),
                f"≥ 3: {'holds' if speedup >= 3 else 'FAILS'}",
            ],
        ],
        title=f"{n_items} items (forget10 TOFU eval, 6 sets), max_new_tokens {s.max_new_tokens}, "
        f"batch {s.batch_size}, {args.rounds} rounds; rows agree: max |Δ| of any field {worst:.1e}, "
        f"{same:.0%} identical generations",
    )
    print()

    # The KV cache: one batch of 32 greedy generations with and without it.
    from unlearnkit.data.tofu import load_tofu

    questions = [r["question"] for r in load_tofu(data, "forget10_perturbed")][:32]
    prompts = [question_prompt(tok, q) for q in questions]
    n_new = 64

    def gen(cache: bool):
        original = model.generate

        def patched(*a, **k):
            k["use_cache"] = cache
            return original(*a, **k)

        model.generate = patched
        try:
            out[cache] = generate(model, tok, prompts, n_new, batch_size=32)
        finally:
            del model.generate

    times = interleaved({"cache": lambda: gen(True), "no cache": lambda: gen(False)}, rounds=3)
    r = ratio(times, "no cache", "cache")
    second = table(
        ["generation", "time (s, median)", "speed-up", "in CPU time"],
        [
            ["use_cache=False", med(times["no cache"]), 1.0, 1.0],
            [
                "use_cache=True (what generate() passes)",
                med(times["cache"]),
                r,
                cpu_ratio(times, "no cache", "cache"),
            ],
        ],
        title=f"KV cache: 32 prompts in one batch, {n_new} new tokens, 3 rounds; "
        f"same texts: {out[True] == out[False]}",
    )
    print()
    return first + "\n\n" + second + "\n\n" + scoring_ablation(model, tok, data, s, rounds=7)


def scoring_ablation(model, tok, data, s, rounds: int) -> str:
    """The scoring engine alone on the forget and retain sets: before, and step by step after."""
    from unlearnkit.data.formatting import encode_qa
    from unlearnkit.data.tofu import load_tofu
    from unlearnkit.eval import engine

    records = load_tofu(data, "forget10_perturbed") + load_tofu(data, "retain_perturbed")
    groups = [
        [
            encode_qa(tok, r["question"], a, s.max_length)
            for a in (r["answer"], r["paraphrased_answer"], *r["perturbed_answer"])
        ]
        for r in records
    ]
    pad = tok.pad_token_id

    def no_sharing():
        kept = engine._cache_kwarg
        engine._cache_kwarg = lambda accepts: None  # as if the model reused no KV cache
        try:
            engine.score_groups(model, groups, pad, s.batch_size)
        finally:
            engine._cache_kwarg = kept

    times = interleaved(
        {
            "before": lambda: score_groups_before(model, groups, pad, s.batch_size),
            "packed": no_sharing,
            "now": lambda: engine.score_groups(model, groups, pad, s.batch_size),
        },
        rounds=rounds,
    )
    rows = []
    for name, label, base in (
        ("before", "before: all positions, full LM head", None),
        ("packed", "+ statistics on response tokens, LM head from the first one", "before"),
        ("now", "+ each item's prompt run once (shared KV cache)", "packed"),
    ):
        rows.append(
            [
                label,
                med(times[name]),
                ratio(times, "before", name),
                cpu_ratio(times, "before", name),
                "" if base is None else f"{ratio(times, base, name):.2f}",
            ]
        )
    n = sum(len(g) for g in groups)
    return table(
        ["score_groups", "time (s)", "speed-up vs before", "in CPU time", "vs the row above"],
        rows,
        title=f"scoring engine alone: {len(groups)} items, {n} answers (forget + retain sets), "
        f"batch {s.batch_size}, {rounds} rounds",
    )


if __name__ == "__main__":
    main()
