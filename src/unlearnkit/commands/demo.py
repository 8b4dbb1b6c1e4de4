"""`unlearn demo`: the whole pipeline on the embedded world, ending with a report."""

from __future__ import annotations

import argparse

from unlearnkit.commands.common import prepare_out_dir
from unlearnkit.protect import guard_inputs


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="build the world, run every method, attack, and write a report")
    p.add_argument(
        "--quick",
        action="store_true",
        help="the tiny world, fewer methods and steps, relearn attack only: a first look",
    )
    p.add_argument("--preset", help="world preset (default: small; tiny with --quick)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", help="comma list of methods instead of the default set")
    p.add_argument("--out", default="runs/demo", help="demo folder (default: runs/demo)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing demo folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from unlearnkit.demo import DemoPlan, run_demo
    from unlearnkit.methods.registry import get_method
    from unlearnkit.world.location import world_dir
    from unlearnkit.world.presets import get_preset

    preset = args.preset or ("tiny" if args.quick else "small")
    get_preset(preset)
    plan = (
        DemoPlan.quick(preset, args.seed) if args.quick else DemoPlan(preset=preset, seed=args.seed)
    )
    if args.methods:
        plan.methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    for name in plan.methods:
        get_method(name, {})
    guard_inputs(args.out, {"the world": world_dir(preset, args.seed)}, "demo")
    out = prepare_out_dir(args.out, args.overwrite)
    html = run_demo(out, plan, overwrite=args.overwrite)
    print(f"report: {html}")
    return 0
