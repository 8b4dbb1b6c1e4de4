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

from bench.common import cpu_ratio, header, interleaved, med, quiet, ratio, spread, table  # noqa: E402
from bench.world_setup import BenchTrainer, load_target, world_config  # noqa: E402


def _bench_methods():
    """Reference points that are not library methods (built on the library's own classes)."""
    import torch

    from unlearnkit.methods.base import Method, MethodNeeds, concat_parts, part_nll
    from unlearnkit.methods.registry import get_method
    from unlearnkit.methods.sga.method import SGA

    class OnePassRows(Method):
        """−mean ℓ over the rows of ``parts`` stacked into one forward (GA on that batch)."""

        name = "bench-rows"

        def __init__(self, like: Method, parts: tuple[str, ...]):
            super().__init__()
            self.like, self.parts = like, parts

        def needs(self) -> MethodNeeds:
            n = self.like.needs()
            return MethodNeeds(normal=n.normal, normal_source=n.normal_source, idk=n.idk)

        def forget_loss(self, model, batch, ctx):
            part = batch[self.parts[0]]
            for name in self.parts[1:]:
                part = concat_parts(part, batch[name])
            return -part_nll(model, part).mean(), {}

    class SGASeparate(SGA):
        """SGA's loss with the forget rows and each of the K−1 normal columns in its own pass."""

        def _nll(self, model, batch):
            forget, K = batch["forget"], self.params.K
            normal = batch["normal"]
            f = part_nll(model, forget)
            cols = [
                part_nll(model, {k: v[j :: K - 1] for k, v in normal.items()}) for j in range(K - 1)
            ]
            return f, torch.stack(cols, dim=1)

    sga = get_method("sga", {"K": 4, "r": -0.4})
    return {
        "sga rows, one pass": OnePassRows(sga, ("forget", "normal")),
        "sga, K separate passes": SGASeparate(sga.params),
        "idkdpo rows, one pass": OnePassRows(get_method("idkdpo", {"alpha": 0}), ("forget", "idk")),
    }


# name: (config, overrides, baseline, target ratio or None, second baseline or None, what it does)
VARIANTS = {
    "ga": ("ga", [], None, None, None, "baseline: one forward/backward of 4 forget rows"),
    "npo α=0 precomputed": (
        "npo",
        ["params.alpha=0"],
        "ga",
        1.15,
        None,
        "forget term only; log π_ref read from the table",
    ),
    "npo α=0 live": (
        "npo",
        ["params.alpha=0", "reference=live"],
        "ga",
        None,
        "npo α=0 precomputed",
        "the same with a live reference forward per step",
    ),
    "idkdpo rows, one pass": (
        "idkdpo",
        ["params.alpha=0"],
        "ga",
        None,
        None,
        "reference point: GA over idkdpo's 4 forget + 4 refusal rows in one pass",
    ),
    "idkdpo α=0 precomputed": (
        "idkdpo",
        ["params.alpha=0"],
        "ga",
        1.15,
        "idkdpo rows, one pass",
        "policy on forget and refusal rows (2 passes); π_ref from the table",
    ),
    "idkdpo α=0 live": (
        "idkdpo",
        ["params.alpha=0", "reference=live"],
        "ga",
        None,
        "idkdpo α=0 precomputed",
        "the same with live reference forwards",
    ),
    "gd": ("gd", [], "ga", None, None, "−ℓ(D_f) + ℓ(D_r): a forget and a retain pass"),
    "npo (packaged, α=1)": ("npo", [], "ga", None, None, "+ the retain NLL pass"),
    "idkdpo (packaged, α=1)": ("idkdpo", [], "ga", None, None, "+ the retain NLL pass"),
    "kl (live by nature)": (
        "kl",
        [],
        "ga",
        None,
        "gd",
        "GA + KL on retain rows: π_ref's logits on retain rows each step",
    ),
    "ga, batch 16": ("ga", ["train.batch_size=16"], "ga", None, None, "16 forget rows"),
    "sga rows, one pass": (
        "sga",
        [],
        "ga",
        None,
        None,
        "reference point: GA over sga's 16 rows (4 forget + 12 normal) in one pass",
    ),
    "sga K=4": (
        "sga",
        [],
        "sga rows, one pass",
        1.15,
        "ga, batch 16",
        "4 forget + 12 normal rows in one forward",
    ),
    "sga, K separate passes": (
        "sga",
        [],
        "sga rows, one pass",
        None,
        None,
        "bench-only: the same loss as K passes",
    ),
    "prism": ("prism", [], "ga", 3.3, None, "SAM (2 passes) + retain pass + GCD projection"),
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
        names = [n for n in names if n in keep]
    benches, setup = {}, {}
    local = _bench_methods()
    for name in names:
        method, overrides, *_ = VARIANTS[name]
        start = time.perf_counter()
        benches[name] = BenchTrainer(
            copy.deepcopy(base_model),
            tok,
            world_config(method, overrides),
            args.steps,
            method=local.get(name),
        )
        setup[name] = time.perf_counter() - start
    times = interleaved({n: benches[n].steps for n in names}, rounds=args.rounds)
    rows = []
    for name in names:
        _, _, base, target, second, what = VARIANTS[name]
        base = base if base in times else "ga"
        r = ratio(times, name, base) if base != name else 1.0
        lo, hi = spread(times, name, base)
        verdict = "" if target is None else f"≤ {target}: {'holds' if r <= target else 'FAILS'}"
        also = f"{ratio(times, name, second):.2f} × {second}" if second in times else ""
        rows.append(
            [
                name,
                benches[name].run.reference,
                med(times[name]) * 1e3,
                f"{r:.2f} × {base}",
                f"{lo:.2f}–{hi:.2f}",
                cpu_ratio(times, name, base) if base != name else 1.0,
                verdict,
                also,
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
            "in CPU time",
            "target",
            "also",
            "set-up (s)",
            "what it does",
        ],
        rows,
        title=f"{args.rounds} rounds × {args.steps} steps, batch 4, max_length 128",
    )


if __name__ == "__main__":
    main()
