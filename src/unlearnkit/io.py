"""Atomic file output and tolerant JSON / JSON Lines input."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from unlearnkit.errors import UserError


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp makes 0600 files; results should be readable like any other file.
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield Path(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync(path: str | Path) -> None:
    """Flush a finished file to disk, so the rename never publishes an empty file after a crash."""
    if not Path(path).is_file():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_dir(work: str | Path, dest: str | Path) -> Path:
    """Move a finished folder ``work`` onto ``dest``; an old ``dest`` is moved aside, then deleted.

    ``dest`` names the old complete folder or the new one (or, for an instant, nothing), never a
    half-written one.
    """
    work, dest = Path(work), Path(dest)
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.replace(dest, old)
    os.replace(work, dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    write_text_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_text(path: str | Path) -> str:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"file not found: {path}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path} is not UTF-8 text (byte {e.start}); re-save it as UTF-8") from e


def read_records(path: str | Path) -> list:
    """Read a JSON list or JSON Lines file (TOFU's `.json` files are JSON Lines)."""
    text = read_text(path).strip()
    if not text:
        raise UserError(f"{path} is empty; it should hold JSON or JSON Lines records")
    if text[0] == "[":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserError(
                f"{path} is not valid JSON (line {e.lineno} column {e.colno}: {e.msg}); "
                "fix the file or write it again (is it cut short?)"
            ) from e
        return data
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise UserError(
                f"{path}:{lineno} is not valid JSON Lines (column {e.colno}: {e.msg}); each line "
                "must be one complete JSON object: fix the file or write it again (is it cut short?)"
            ) from e
    return rows


def read_json(path: str | Path) -> Any:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise UserError(
            f"{path} is not valid JSON (line {e.lineno} column {e.colno}: {e.msg}); "
            "fix the file or write it again (is it cut short?)"
        ) from e
