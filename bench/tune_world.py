"""Tune each method's learning rate on the embedded world and print the grid (docs/results.md).

    python bench/tune_world.py [--world DIR] [--methods ga,npo] [--lrs 1e-4,3e-4,1e-3] [--out DIR]

Every method keeps its packaged config (world/<method>) except the learning rate. The pick per
method: the highest forget_quality among settings whose model_utility is at least 80 % of the
target's; if none qualifies, the highest model_utility. The same rule for every method.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from unlearnkit.api import RunConfig, run
from unlearnkit.config import load_config
from unlearnkit.demo import FULL_METHODS
from unlearnkit.world.location import world_dir

UTILITY_FLOOR = 0.8


def pick(rows: list[dict], target_utility: float) -> dict:
    ok = [r for r in rows if r["model_utility"] >= UTILITY_FLOOR * target_utility]
    if ok:
        return max(ok, key=lambda r: (r["forget_quality"], r["model_utility"]))
    return max(rows, key=lambda r: r["model_utility"])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--world", default=str(world_dir("small", 0)))
    p.add_argument("--methods", default=",".join(FULL_METHODS))
    p.add_argument("--lrs", default="1e-4,3e-4,1e-3")
    p.add_argument("--out", default="runs/tune")
    args = p.parse_args()
    world = Path(args.world)
    target = json.loads((world / "evals" / "target" / "tofu" / "metrics.json").read_text())[
        "metrics"
    ]
    print(
        f"target: forget_quality {target['forget_quality']:.2e}  model_utility {target['model_utility']:.3f}  forget_rouge {target['forget_rouge']:.3f}"
    )
    print(
        f"{'method':<8}{'lr':>9}{'forget_quality':>16}{'model_utility':>15}{'forget_rouge':>14}{'retain_rouge':>14}  pick"
    )
    picks = {}
    for method in args.methods.split(","):
        rows = []
        for lr in args.lrs.split(","):
            out = Path(args.out) / method / f"lr{lr}"
            cfg = load_config(
                RunConfig,
                f"world/{method}",
                [
                    f"data.path={world}",
                    f"out={out}",
                    f"train.learning_rate={lr}",
                    "eval.max_new_tokens=64",
                ],
            )
            m = run(cfg, progress=False)["metrics"]
            rows.append(
                {
                    "lr": lr,
                    **{
                        k: m[k]
                        for k in ("forget_quality", "model_utility", "forget_rouge", "retain_rouge")
                    },
                }
            )
        best = pick(rows, target["model_utility"])
        picks[method] = best["lr"]
        for r in rows:
            mark = "  <-" if r is best else ""
            print(
                f"{method:<8}{r['lr']:>9}{r['forget_quality']:>16.2e}{r['model_utility']:>15.3f}{r['forget_rouge']:>14.3f}{r['retain_rouge']:>14.3f}{mark}",
                flush=True,
            )
    print(json.dumps(picks))


if __name__ == "__main__":
    main()
