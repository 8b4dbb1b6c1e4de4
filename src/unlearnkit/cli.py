"""The `unlearn` command."""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import sys

from unlearnkit.errors import UserError

COMMANDS = ("world", "finetune", "eval", "run", "attack", "report", "demo")
# Failures of the machine rather than the program: reported like bad input, in one line.
DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unlearn",
        description="Machine unlearning for LLMs: build a world, unlearn, evaluate, attack, report.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"unlearnkit.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UserError, OSError) as e:
        if args.debug or (isinstance(e, OSError) and e.errno not in DISK_ERRORS):
            raise
        _close_progress_bars()
        print(f"unlearn {args.command}: error: {describe_error(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _close_progress_bars()
        print(f"unlearn {args.command}: {interrupted_message(args, argv)}", file=sys.stderr)
        return 130


def describe_error(e: Exception) -> str:
    if not isinstance(e, OSError):
        return str(e)
    where = f": {e.filename}" if e.filename else ""
    full = e.errno in (errno.ENOSPC, errno.EDQUOT)
    fix = "free some disk space" if full else "check the permissions of this path"
    return f"{e.strerror or e}{where}; {fix} (or choose another --out) and run again"


def _close_progress_bars() -> None:
    """Finish open tqdm bars now, or they redraw themselves after the last message at exit."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ())):
        bar.close()


def interrupted_message(args: argparse.Namespace, argv: list[str]) -> str:
    """A command may say how to continue (``unlearn run``: the command line that resumes)."""
    module = importlib.import_module(f"unlearnkit.commands.{args.command}")
    hint = getattr(module, "interrupted", None)
    return hint(args, argv) if hint else "interrupted"


if __name__ == "__main__":
    sys.exit(main())
