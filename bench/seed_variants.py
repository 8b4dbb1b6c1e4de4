"""Variants of the seed methods on the small world, side by side: SGA's fixed r against ``r: auto``
(norm, sign, and the unbounded norm of before), and PRISM with its probe term on and off, with a
relearning attack. Prints one table row per variant (TOFU forget quality, model utility, forget
ROUGE, the r SGA used, the probe's held-out accuracy, the relearn recovery of forget ROUGE).

    UNLEARNKIT_HOME=... .venv/bin/python bench/seed_variants.py [--world DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import quiet, small_world  # noqa: E402

VARIANTS = {
    "sga r=-0.4": ("sga", ["params.r=-0.4"]),
    "sga auto norm (r_max 0)": ("sga", ["params.r=auto", "params.r_every=5"]),
    "sga auto sign": ("sga", ["params.r=auto", "params.r_auto=sign", "params.r_every=5"]),
    "sga auto norm (r_max 1, as before)": (
        "sga",
        ["params.r=auto", "params.r_max=1.0", "params.r_every=5"],
    ),
    "prism (probe on)": ("prism", []),
    "prism (probe off)": ("prism", ["params.probe=false"]),
}
RELEARN = {"relearn": {"steps": [0, 10], "lr": 3e-4}}


def run_variant(name: str, method: str, overrides: list[str], world: Path, out: Path) -> dict:
    from unlearnkit.api import RunConfig, run
    from unlearnkit.config import load_config

    folder = out / name.replace(" ", "_").replace("(", "").replace(")", "").replace(",", "")
    cfg = load_config(
        RunConfig,
        f"world/{method}",
        [f"data.path={world}", f"out={folder}", "attacks=[relearn]", *overrides],
    )
    cfg.attack_params = RELEARN
    result = run(cfg, progress=False)
    history = result["train"]["log_history"]
    rs = [h["sga_r"] for h in history if "sga_r" in h]
    relearn = result.get("attacks", {}).get("relearn", [])
    by_steps = {e["value"]: e["metrics"].get("forget_rouge") for e in relearn}
    recovery = (
        by_steps[10] - by_steps[0] if by_steps.get(10) is not None and 0 in by_steps else None
    )
    m = result["metrics"]
    return {
        "variant": name,
        "forget_quality": m.get("forget_quality"),
        "model_utility": m.get("model_utility"),
        "forget_rouge": m.get("forget_rouge"),
        "r used (mean, min..max)": (
            f"{statistics.mean(rs):+.2f} ({min(rs):+.2f}..{max(rs):+.2f})" if rs else "–"
        ),
        "probe held-out acc": result["train"]
        .get("method_report", {})
        .get("probe_heldout_accuracy"),
        "relearn +10 steps (forget_rouge)": recovery,
    }


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e-2 else f"{v:.3f}"
    return "–" if v is None else str(v)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world", type=Path, default=None, help="default: the small world")
    p.add_argument("--out", type=Path, default=Path("runs/seed_variants"))
    args = p.parse_args()
    quiet()
    world = args.world or small_world()
    rows = [run_variant(n, m, o, world, args.out) for n, (m, o) in VARIANTS.items()]
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(fmt(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
