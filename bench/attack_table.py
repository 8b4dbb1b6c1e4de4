"""Every attack on the target, the retain model and GA / NPO / SGA / PRISM: one table.

    python bench/attack_table.py [--world DIR] [--out DIR]

Forget ROUGE-L recall and forget truth ratio before each attack and after each of its settings.
Methods use their packaged world configs; attacks use their documented defaults, except the
relearning rate (the demo's, the same for every model).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from unlearnkit.api import RunConfig, run
from unlearnkit.attacks.runner import run_attacks
from unlearnkit.config import load_config
from unlearnkit.demo import RELEARN_LR
from unlearnkit.io import read_json
from unlearnkit.models import load_model_and_tokenizer
from unlearnkit.world.location import world_dir

ATTACKS = ["relearn", "prefill", "paraphrase", "incontext", "quantize"]
PARAMS = {"relearn": {"steps": [0, 5, 20], "lr": RELEARN_LR}, "quantize": {"bits": [8, 4]}}


def config(world: Path, method: str, out: Path) -> RunConfig:
    cfg = load_config(RunConfig, f"world/{method}", [f"data.path={world}", f"out={out}"])
    cfg.attacks, cfg.attack_params = list(ATTACKS), PARAMS
    return cfg


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--world", default=str(world_dir("small", 0)))
    p.add_argument("--out", default="runs/attack_table")
    args = p.parse_args()
    world, out = Path(args.world), Path(args.out)
    rows = {}
    for role in ("target", "retain"):
        model, tok = load_model_and_tokenizer(world / "models" / role, device="cpu", dtype="fp32")
        before = read_json(world / "evals" / role / "tofu" / "metrics.json")["metrics"]
        retain_eval = world / "evals" / "retain" / "tofu"
        rows[role] = (
            before,
            run_attacks(
                ATTACKS,
                model,
                tok,
                config(world, "ga", out / role),
                "forget10",
                retain_eval,
                False,
                PARAMS,
            ),
        )
    for method in ("ga", "npo", "sga", "prism"):
        result = run(config(world, method, out / method), progress=False)
        rows[method] = (result["metrics"], result["attacks"])
    print("| model | before | " + " | ".join(f"{k}" for k in ATTACKS) + " |")
    print("|---|---|" + "---|" * len(ATTACKS))
    for name, (before, attacks) in rows.items():
        cells = []
        for kind in ATTACKS:
            cells.append(
                "; ".join(
                    f"{e['setting']}: {e['metrics']['forget_rouge']:.3f}/{e['metrics'].get('forget_truth_ratio', float('nan')):.3f}"
                    for e in attacks[kind]
                )
            )
        print(
            f"| {name} | {before['forget_rouge']:.3f}/{before['forget_truth_ratio']:.3f} | "
            + " | ".join(cells)
            + " |",
            flush=True,
        )


if __name__ == "__main__":
    main()
