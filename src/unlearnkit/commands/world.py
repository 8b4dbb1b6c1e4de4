"""`unlearn world`: build the embedded world."""

from __future__ import annotations

import argparse

from unlearnkit.world.location import world_dir
from unlearnkit.world.presets import PRESETS


def add_parser(sub) -> None:
    p = sub.add_parser(
        "world", help="build the embedded world: data, tokenizer, target and retain models"
    )
    p.add_argument(
        "--preset", default="small", help=f"one of {', '.join(PRESETS)} (default: small)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", help="world folder (default: the cache, $UNLEARNKIT_HOME/worlds/PRESET-seedS)"
    )
    p.add_argument(
        "--retain-splits",
        default="forget10",
        help="comma list of forget splits to train retain models for (forget01,forget05,forget10)",
    )
    p.add_argument(
        "--force", action="store_true", help="rebuild even if the cached world is up to date"
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="evaluate target and retain on every benchmark, print each metric beside its "
        "threshold (docs/world.md) and exit 1 if one is missed",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from unlearnkit.world.build import build_world
    from unlearnkit.world.presets import get_preset

    get_preset(args.preset)
    out = args.out or world_dir(args.preset, args.seed)
    splits = tuple(s.strip() for s in args.retain_splits.split(",") if s.strip())
    path = build_world(args.preset, out, seed=args.seed, retain_splits=splits, force=args.force)
    if args.check:
        from unlearnkit.world.check import check_world, format_check, world_verdicts
        from unlearnkit.world.thresholds import format_verdicts

        table = check_world(path)
        verdicts = world_verdicts(path, table)
        print(format_check(table))
        print(format_verdicts(verdicts))
        print(path)
        return 0 if all(v.ok for v in verdicts) else 1
    print(path)
    return 0
