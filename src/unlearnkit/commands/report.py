"""`unlearn report`: rebuild the Markdown and HTML report from stored results (no model needed)."""

from __future__ import annotations

import argparse
from pathlib import Path

from unlearnkit.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="rebuild report.md and a self-contained report.html from run or demo folders",
        description="Read metrics.json of run folders (or demo folders holding runs/<name>/, or any folder with run folders up to 3 levels deep) and write report.md, report_files/*.png and report.html.",
    )
    p.add_argument(
        "dirs",
        nargs="+",
        metavar="DIR",
        help="run folders, demo folders, or folders containing them",
    )
    p.add_argument(
        "--out",
        metavar="PATH",
        help="folder to write the report into (default: DIR when one is given)",
    )
    p.add_argument("--title", help="title at the top of the report (default: 'Unlearning report')")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from unlearnkit.report import build_report

    dirs = [Path(d).expanduser() for d in args.dirs]
    if args.out is None and len(dirs) > 1:
        raise UserError("several folders given: pass --out to say where the combined report goes")
    out = Path(args.out).expanduser() if args.out else dirs[0]
    md_path, html_path = build_report(dirs, out, title=args.title)
    print(f"report written to {html_path}")
    print(f"markdown version: {md_path}")
    return 0
