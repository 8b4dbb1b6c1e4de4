"""Atomic checkpoints: the Trainer writes each one into a staging folder; it is renamed into place
only once complete, so ``checkpoints/checkpoint-N`` is never half-written (a SIGKILL while saving
leaves only the staging folder, which the next start clears).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from transformers import TrainerCallback

from unlearnkit.errors import UserError
from unlearnkit.io import reading, replace_dir

log = logging.getLogger(__name__)
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


def damage(path: Path) -> str | None:
    """Why a published checkpoint cannot be resumed from (None when every file reads).

    Cheap, and nothing is unpickled: JSON is parsed, safetensors headers are checked against the
    file size, and the zip directory of each ``.pt`` file is read (a cut-short one has none).
    """
    import zipfile

    from safetensors import safe_open

    if not (path / "trainer_state.json").is_file():
        return "trainer_state.json is missing"
    if not any(path.glob("*.safetensors")):
        return "it has no weights (model.safetensors)"
    for file in sorted(p for p in path.iterdir() if p.is_file()):
        try:
            if file.suffix == ".json":
                json.loads(file.read_text(encoding="utf-8"))
            elif file.suffix == ".safetensors":
                with safe_open(str(file), "pt"):
                    pass
            elif file.suffix in (".pt", ".pth"):
                with zipfile.ZipFile(file) as archive:
                    archive.infolist()
        except Exception as e:  # noqa: BLE001 - any failure to read means the file is damaged
            return f"{file.name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
    return None


def check_safe_to_load(path: Path) -> None:
    """Refuse a checkpoint whose ``.pt`` files ask for Python objects beyond tensors and the numpy
    state the Trainer saves: its pickle is read, nothing is run (``torch.load(weights_only=True)``
    would refuse it too, with a traceback that names no file)."""
    import torch
    from transformers.trainer_pt_utils import safe_globals

    for file in sorted(p for p in path.iterdir() if p.suffix in (".pt", ".pth")):
        with safe_globals(), reading(file, f"delete {path} and resume from the one before"):
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(file)
        if unsafe:
            raise UserError(
                f"--resume: {file} asks to load Python objects that are not safe ("
                f"{', '.join(unsafe[:3])}), so it was not loaded; if you did not write it, "
                f"delete {path} and resume from the checkpoint before it, or run without "
                "--resume to start over"
            )


def prepare_resume(folder: str | Path) -> None:
    """Clear the staging folder and set damaged newest checkpoints aside (as ``damaged-NAME``),
    so ``--resume`` continues from the newest one that reads, with a line saying so."""
    clear_staging(folder)
    damaged = []
    for _, path in reversed(checkpoints(folder)):
        why = damage(path)
        if why is None:
            break
        aside = path.with_name(f"damaged-{path.name}")
        shutil.rmtree(aside, ignore_errors=True)
        path.rename(aside)
        damaged.append(f"{path.name} ({why})")
    found = last_checkpoint(folder)
    if found is not None:
        check_safe_to_load(found)
    if damaged:
        then = f"resuming from {found.name}" if found else "no older checkpoint, so it starts over"
        log.warning(
            "resume: damaged checkpoint %s set aside as damaged-*; %s",
            ", ".join(damaged),
            then,
        )


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
