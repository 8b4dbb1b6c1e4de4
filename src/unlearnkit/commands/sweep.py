"""`unlearn sweep`: run a grid of `unlearn run` cells (methods × settings × seeds), resumably, in
one or more worker processes, and summarise them over seeds (docs/sweeps.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from unlearnkit.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a grid of methods x settings x seeds (resumable) and summarise it",
        description="Expand GRID.yaml into cells, run each unfinished one as `unlearn run` into "
        "OUT/cells/NAME, and write OUT/summary.json and OUT/summary.md. Run it again to continue "
        "a killed sweep: finished cells are skipped.",
    )
    p.add_argument("grid", metavar="GRID.yaml", help="the grid file (docs/sweeps.md)")
    p.add_argument("--out", help="sweep folder (default: the grid's 'out', else sweeps/GRIDNAME)")
    p.add_argument(
        "--workers", default="1", help="cells run at once, one process each (default: 1)"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="list the cells and which are finished; run nothing"
    )
    p.add_argument(
        "--summary-only", action="store_true", help="rewrite the summary of the finished cells"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from unlearnkit.commands.common import output_dir
    from unlearnkit.sweep.grid import load_grid
    from unlearnkit.sweep.run import cell_dir, cell_key, cell_record, finished, run_sweep
    from unlearnkit.sweep.summary import write_summary
    from unlearnkit.threads import parse_threads

    workers = parse_threads(args.workers, "--workers")
    grid = load_grid(args.grid)
    out = Path(args.out or grid.out or Path("sweeps") / Path(args.grid).stem).expanduser()
    out = out.resolve()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder; choose a folder path")
    if args.dry_run:
        for cell in grid.cells:
            done = finished(cell_dir(out, cell), cell_key(cell, grid.base))
            print(f"{'finished' if done else 'to run  '}  {cell.name}")
        return 0
    out.mkdir(parents=True, exist_ok=True)  # made before the lock: a failure never removes it
    with output_dir(out, overwrite=False, resume=True):
        if args.summary_only:
            records = [cell_record(out, cell) for cell in grid.cells]
        else:
            records = run_sweep(grid, out, workers, torch.get_num_threads())
        summary = write_summary(out, records, grid.equal_forgetting)
    print(
        f"summary written to {out / 'summary.md'} ({summary['finished']} of "
        f"{summary['cells']} cells finished)"
    )
    if summary["not_finished"]:
        print(
            f"unlearn sweep: {len(summary['not_finished'])} cells failed; their logs are in "
            f"{out / 'logs'}; run the same command again to retry them"
        )
        return 1
    return 0


def interrupted(args: argparse.Namespace, argv: list[str]) -> str:
    """After Ctrl-C: finished cells stay; the same command continues."""
    return "interrupted; finished cells are kept: run the same command again to continue"
