"""Atomic checkpoints: the Trainer writes each one into a staging folder; it is renamed into place
only once complete, so ``checkpoints/checkpoint-N`` is never half-written (a SIGKILL while saving
leaves only the staging folder, which the next start clears).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from transformers import TrainerCallback

from unlearnkit.io import replace_dir

STAGING = ".staging"
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def staging_dir(folder: str | Path) -> Path:
    """Where the Trainer writes checkpoints before they are complete (its ``output_dir``)."""
    return Path(folder) / STAGING


def checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """The complete checkpoints in ``folder`` as (step, path), oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(CHECKPOINT.match(p.name), p) for p in folder.iterdir() if p.is_dir()]
    return sorted((int(m.group(1)), p) for m, p in found if m)


def last_checkpoint(folder: str | Path, max_step: int | None = None) -> Path | None:
    """The newest complete checkpoint (at most ``max_step``), or None."""
    found = [p for step, p in checkpoints(folder) if max_step is None or step <= max_step]
    return found[-1] if found else None


def clear_staging(folder: str | Path) -> None:
    """Drop what an interrupted save left behind."""
    shutil.rmtree(staging_dir(folder), ignore_errors=True)


def clear_checkpoints(folder: str | Path) -> None:
    """A fresh (not resumed) run starts without an earlier run's checkpoints."""
    for _, path in checkpoints(folder):
        shutil.rmtree(path)
    clear_staging(folder)


def rotate(folder: str | Path, keep: int | None, protect: int | None = None) -> None:
    """Keep the ``keep`` newest checkpoints, plus the newest one at or before step ``protect``."""
    if not keep or keep <= 0:
        return
    found = checkpoints(folder)
    kept = {p for _, p in found[-keep:]}
    if protect is not None:
        good = [p for step, p in found if step <= protect]
        kept.update(good[-1:])
    for _, path in found:
        if path not in kept:
            shutil.rmtree(path, ignore_errors=True)


class AtomicCheckpoints(TrainerCallback):
    """Publish each checkpoint the Trainer saved into its staging folder, then rotate.

    ``protect`` returns the last step whose weights the divergence guard verified, so rotation
    never deletes the last good checkpoint.
    """

    def __init__(
        self, folder: str | Path, keep: int | None, protect: Callable[[], int | None] | None = None
    ):
        self.folder, self.keep, self.protect = Path(folder), keep, protect

    def on_save(self, args, state, control, **kwargs):
        from accelerate import PartialState

        processes = PartialState()
        processes.wait_for_everyone()  # every rank has written its RNG state into the staging copy
        if args.should_save:
            name = f"checkpoint-{state.global_step}"
            work = staging_dir(self.folder) / name
            for path in work.rglob("*"):
                _fsync(path)
            replace_dir(work, self.folder / name)
            _fsync(self.folder)
            rotate(self.folder, self.keep, self.protect() if self.protect else None)
        processes.wait_for_everyone()
        return control


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk, where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
