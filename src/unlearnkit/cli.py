"""The `unlearn` command."""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import re
import signal
import sys

from unlearnkit import phases
from unlearnkit.errors import UserError
from unlearnkit.launch import STOPPED, Stopped, peer_failure
from unlearnkit.threads import add_threads_arg, apply_threads

COMMANDS = ("world", "model", "finetune", "eval", "run", "sweep", "attack", "report", "demo")
INTERRUPTED = 130  # the shell's status of a process stopped by SIGINT (128 + 2)
COMPUTING = ("world", "finetune", "eval", "run", "sweep", "attack", "demo")  # take --threads
# Failures of the machine rather than the program: reported like bad input, in one line.
DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}
# How libraries that write without Python's file objects report the same failures.
RUST_IO_ERROR = re.compile(r"\(os error (\d+)\)")  # safetensors
TORCH_WRITE_ERROR = re.compile(r"PytorchStreamWriter failed|inline_container\.cc.*unexpected pos")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unlearn",
        description="Machine unlearning for LLMs: build a world, unlearn, evaluate, attack, report.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"unlearnkit.commands.{name}").add_parser(sub)
    for name in COMPUTING:
        add_threads_arg(sub.choices[name])
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if hasattr(signal, "SIGXFSZ"):  # a file-size limit fails the write (EFBIG) instead of killing
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    hear_ctrl_c()
    phases.reset()
    try:
        if hasattr(args, "threads"):  # before any work: torch reads it when it first computes
            apply_threads(args.threads)
        return int(args.func(args) or 0)
    except Exception as e:
        if interrupt_inside(e) and not args.debug:  # a library wrapped the KeyboardInterrupt
            return _interrupted(args, argv)
        message = str(e) if isinstance(e, UserError) else write_failure(e) or peer_failure(e)
        if args.debug or message is None:
            raise
        _close_progress_bars()
        print(f"unlearn {args.command}: error: {message}", file=sys.stderr)
        return 2
    except Stopped:
        _close_progress_bars()
        print(f"unlearn {args.command}: {STOPPED}", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        return _interrupted(args, argv)
    except BaseException as e:  # e.g. a Rust extension's PanicException raised around a Ctrl-C
        if isinstance(e, (SystemExit, GeneratorExit)) or args.debug or not interrupt_inside(e):
            raise
        return _interrupted(args, argv)


def _interrupted(args: argparse.Namespace, argv: list[str]) -> int:
    _close_progress_bars()
    print(f"unlearn {args.command}: {interrupted_message(args, argv)}", file=sys.stderr)
    return INTERRUPTED


def hear_ctrl_c() -> None:
    """Unblock SIGINT if this process was started with it blocked (a signal mask is inherited
    across exec: a parent that spawned us while blocking it, as multiprocessing's resource tracker
    does for an instant, would leave Ctrl-C pending forever). An ignored SIGINT (a background job
    of a non-interactive shell) stays ignored, as the shell asked."""
    if hasattr(signal, "pthread_sigmask") and signal.SIGINT in signal.pthread_sigmask(
        signal.SIG_BLOCK, []
    ):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


def interrupt_inside(e: BaseException) -> bool:
    """Whether a KeyboardInterrupt is among the causes of ``e``."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, KeyboardInterrupt):
            return True
        e = e.__cause__ or e.__context__
    return False


def write_failure(e: BaseException) -> str | None:
    """One line for a failed write (full disk, read-only path, file-size limit), else None.

    Looks through the exception's causes: libraries wrap the ``OSError`` or report only its code.
    """
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in DISK_ERRORS:
            return describe_error(e)
        code = RUST_IO_ERROR.search(str(e))
        if code and int(code.group(1)) in DISK_ERRORS:
            return describe_error(OSError(int(code.group(1)), os.strerror(int(code.group(1)))))
        if isinstance(e, RuntimeError) and TORCH_WRITE_ERROR.search(str(e)):
            return (
                "a file could not be written (is the disk full, or a file-size limit set?); "
                "free some disk space or raise the limit (or choose another --out) and run again"
            )
        e = e.__cause__ or e.__context__
    return None


def describe_error(e: Exception) -> str:
    """The one line for a ``UserError`` or a failed write."""
    if not isinstance(e, OSError):
        return str(e)
    where = f": {e.filename}" if e.filename else ""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free some disk space"
    elif e.errno == errno.EFBIG:
        fix = "raise the file-size limit (ulimit -f)"
    else:
        fix = "check the permissions of this path"
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
