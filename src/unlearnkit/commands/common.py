"""Arguments and checks that several subcommands share."""

from __future__ import annotations

import argparse
import errno
import glob
import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

from unlearnkit import launch
from unlearnkit.errors import UserError
from unlearnkit.io import replace_dir

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


def add_output_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--out", required=required, help="output folder")
    p.add_argument(
        "--overwrite", action="store_true", help="replace the output folder if it exists"
    )


def model_and_data_inputs(args: argparse.Namespace) -> dict:
    """{flag: path} of the model and data a command reads, which ``--out`` must stay clear of."""
    from unlearnkit.plan import world_of
    from unlearnkit.world.location import default_world_dir

    return {
        "--model": args.model,
        "--tokenizer": args.tokenizer,
        "--data": args.data or default_world_dir(),
        "the world": world_of(args.data),
    }


def prepare_out_dir(out: str | Path, overwrite: bool) -> Path:
    """Refuse to reuse a non-empty output folder without --overwrite; check it is writable."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder; choose a folder path")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise UserError(
            f"output folder {out} already exists and is not empty; pass --overwrite or choose another --out"
        )
    parent = out if out.exists() else _existing_parent(out)
    if not os.access(parent, os.W_OK):
        raise UserError(f"cannot write to {parent}: permission denied; choose a writable --out")
    return out


def _existing_parent(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path("/")


@contextmanager
def output_dir(out: str | Path, overwrite: bool, resume: bool = False) -> Iterator[Path]:
    """Lock ``--out`` for the whole command and yield the folder to write into.

    Under a multi-process launch (``unlearnkit.launch``) rank 0 alone takes the lock and prepares
    the folder; the other ranks get its path (or its one-line error) from rank 0, never clean up
    what rank 0 owns, and at the end wait until rank 0 has written everything.
    """
    if not launch.launched():
        with _locked_output_dir(out, overwrite, resume) as work:
            yield work
        return
    if not launch.is_main():
        yield Path(launch.main_folder())
        launch.wait_for_end()
        return
    with ExitStack() as stack:
        try:
            work = stack.enter_context(_locked_output_dir(out, overwrite, resume))
        except UserError as e:
            launch.share_folder(None, error=str(e))
            raise
        launch.share_folder(str(work))
        yield work
    launch.end()


@contextmanager
def _locked_output_dir(out: str | Path, overwrite: bool, resume: bool) -> Iterator[Path]:
    """``output_dir`` of one process: lock, build beside a replaced folder, clean up a failure.

    A second command into the same ``--out`` stops at once. With ``--overwrite`` (and not
    ``--resume``) a non-empty folder is left as it is while the new one is built beside it
    (``.OUT.new-PID``), and swapped in only when the command succeeds; a failed one removes only
    its own folder. A failed command that made ``--out`` removes it again (unless it holds a
    published checkpoint) and never leaves staging or temporary files behind.
    """
    out = prepare_out_dir(out, overwrite or resume)
    if (
        out.is_symlink()
    ):  # write where it points (a link to a folder not made yet cannot take files)
        out = out.resolve()
    made = _make_parents(out)
    try:
        with _locked(out):
            prepare_out_dir(out, overwrite or resume)  # again, now that no one else writes
            replace = overwrite and not resume and out.is_dir() and any(out.iterdir())
            for stale in out.parent.glob(f".{glob.escape(out.name)}.new-*"):
                shutil.rmtree(stale, ignore_errors=True)  # a killed run's: we hold the lock
            work = out.with_name(f".{out.name}.new-{os.getpid()}") if replace else out
            created = not work.exists()
            try:
                yield work
            except BaseException as e:
                # A new folder goes unless it holds a checkpoint to resume from; a replacement
                # always (the old run stays); after Ctrl-C only what cannot be resumed.
                failed = created and isinstance(e, Exception) and not _has_checkpoint(work)
                _discard(work, remove=replace or failed)
                raise
            if replace:
                replace_dir(work, out)
    except BaseException:
        for folder in reversed(made):
            _rmdir_if_empty(folder)
        raise


def _discard(work: Path, remove: bool) -> None:
    """What a failed command leaves: its temporary files always, its new folder if ``remove``."""
    shutil.rmtree(work.with_name(f".{work.name}.tmp"), ignore_errors=True)
    if remove:
        shutil.rmtree(work, ignore_errors=True)
    elif work.is_dir():
        for path in [work / "checkpoints" / ".staging", *work.rglob(".*.tmp")]:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _make_parents(out: Path) -> list[Path]:
    """Create the folders above ``out`` (where its lock lives); the ones made, outermost first."""
    missing = [p for p in reversed(out.absolute().parents) if not p.exists()]
    for folder in missing:
        folder.mkdir(exist_ok=True)
    return missing


def _has_checkpoint(folder: Path) -> bool:
    return any((folder / "checkpoints").glob("checkpoint-*"))


def _rmdir_if_empty(folder: Path) -> None:
    with suppress(OSError):
        folder.rmdir()


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``.OUT.lock`` beside the folder ``out`` names (symlinks
    resolved); refuse at once if another command holds it."""
    if fcntl is None:  # no flock (Windows): no lock
        yield
        return
    real = out.resolve()  # one lock per folder, however it is spelled (a symlink, `..`)
    path = real.parent / f".{real.name}.lock"
    fd = _acquire(path, out)
    try:
        yield
    finally:
        if path.exists() and os.path.samestat(os.fstat(fd), path.stat()):
            path.unlink()  # still holding it, so no one else can be using this file
        os.close(fd)


def _acquire(path: Path, out: Path) -> int:
    """An open, exclusively locked descriptor of ``path`` (that file, not an unlinked one)."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS) or not out.is_dir():
                raise
            fd = os.open(out, os.O_RDONLY)  # a read-only parent: lock the folder itself
            path = out
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() if path != out else ""
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise UserError(
                f"another unlearn command{who} is writing to {out}; wait until it ends or "
                "choose another --out"
            ) from None
        if path == out or (path.exists() and os.path.samestat(os.fstat(fd), path.stat())):
            break
        os.close(fd)  # the holder removed the file between our open and our lock: again
    if path != out:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd
