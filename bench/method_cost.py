"""Step cost of the methods against `ga`, through the trainer, on the small world.

Every variant is an ``UnlearnTrainer`` built once from the packaged ``world/<method>`` config
(batch 4, max_length 128) on its own copy of the target; the rounds interleave the variants and
each round's step time is divided by that round's `ga` step time (median over rounds reported).

- reference cost: `npo` and `idkdpo` with α = 0 (forget terms only) with precomputed reference
  log-probs, and the same with a live reference model (reference=live);
- the packaged configs (α = 1 adds the retain NLL: one more forward/backward on retain rows);
- `kl`: KL(π_ref‖π_θ) on retain tokens needs the reference's logits on retain rows, so it runs a
  live reference by nature (a precomputed table would need a V-wide distribution per token);
- `sga` with K = 4 against `ga` on a K-times larger batch (16 forget rows);
- `prism` (SAM on NPO + probe, retain gradient, GCD projection): three passes.

    .venv/bin/python bench/method_cost.py [--rounds 5] [--steps 12]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import header, interleaved, med, quiet, ratio, spread, table  # noqa: E402
from bench.world_setup import BenchTrainer, load_target, world_config  # noqa: E402

# name: (config, overrides, baseline, target ratio or None, what it shows)
VARIANTS = {
    "ga": ("ga", [], None, None, "baseline: one forward/backward of 4 forget rows"),
    "npo α=0 precomputed": (
        "npo",
        ["params.alpha=0"],
        "ga",
        1.15,
        "forget term only; log π_ref from the table",
    ),
    "npo α=0 live": (
        "npo",
        ["params.alpha=0", "reference=live"],
        "ga",
        None,
        "the same with a live reference forward",
    ),
    "idkdpo α=0 precomputed": (
        "idkdpo",
        ["params.alpha=0"],
        "ga",
        1.15,
        "policy on forget + refusal rows; π_ref from the table",
    ),
    "idkdpo α=0 live": (
        "idkdpo",
        ["params.alpha=0", "reference=live"],
        "ga",
        None,
        "the same with live reference forwards",
    ),
    "gd": ("gd", [], "ga", None, "−ℓ(D_f) + ℓ(D_r): forget + retain passes, no reference"),
    "npo (packaged, α=1)": ("npo", [], "ga", None, "+ retain NLL pass"),
    "idkdpo (packaged, α=1)": ("idkdpo", [], "ga", None, "+ retain NLL pass"),
    "kl (live by nature)": ("kl", [], "ga", None, "GA + KL on retain: live π_ref on retain rows"),
    "ga, batch 16": ("ga", ["train.batch_size=16"], "ga", None, "a K=4 times larger batch"),
    "sga K=4": ("sga", [], "ga, batch 16", 1.15, "4 forget + 12 normal rows in one pass"),
    "prism": ("prism", [], "ga", 3.3, "SAM (2 passes) + retain pass + GCD"),
}


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--only", help="comma list of variant names (ga is always kept)")
    args = p.parse_args(argv)
    quiet()
    header("Method step cost against ga")
    base_model, tok = load_target()
    names = list(VARIANTS)
    if args.only:
        keep = {"ga", *args.only.split(",")}
        names = [n for n in names if n in keep or VARIANTS[n][2] is None]
    benches, setup = {}, {}
    for name in names:
        method, overrides, *_ = VARIANTS[name]
        start = time.perf_counter()
        benches[name] = BenchTrainer(
            copy.deepcopy(base_model), tok, world_config(method, overrides), args.steps
        )
        setup[name] = time.perf_counter() - start
    times = interleaved({n: benches[n].steps for n in names}, rounds=args.rounds)
    rows = []
    for name in names:
        _, _, base, target, what = VARIANTS[name]
        base = base if base in times else "ga"
        r = ratio(times, name, base)
        lo, hi = spread(times, name, base)
        verdict = "" if target is None else f"≤ {target}: {'holds' if r <= target else 'FAILS'}"
        rows.append(
            [
                name,
                benches[name].run.reference,
                med(times[name]) * 1e3,
                f"{r:.2f} × {base}",
                f"{lo:.2f}–{hi:.2f}",
                verdict,
                setup[name],
                what,
            ]
        )
    return table(
        [
            "variant",
            "reference",
            "step (ms)",
            "ratio (median of rounds)",
            "round range",
            "target",
            "set-up (s)",
            "what it does",
        ],
        rows,
        title=f"{args.rounds} rounds × {args.steps} steps, batch 4, max_length 128",
    )


if __name__ == "__main__":
    main()
