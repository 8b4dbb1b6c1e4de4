"""Atomic file output and tolerant JSON / JSON Lines input."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

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
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}; check the file") from e


@contextmanager
def reading(path: str | Path, fix: str = "fix the file or write it again (is it cut short?)"):
    """Every reader of a user's or an earlier run's file parses inside this: any failure to parse
    (bad JSON or YAML, nesting too deep, an unsafe pickle, a wrong type) becomes one ``UserError``
    that names the file and ``fix``, never a traceback."""
    try:
        yield
    except UserError:
        raise
    except RecursionError as e:
        raise UserError(f"{path} is nested too deeply to read; {fix}") from e
    except json.JSONDecodeError as e:
        raise UserError(
            f"{path} is not valid JSON (line {e.lineno} column {e.colno}: {e.msg}); {fix}"
        ) from e
    except Exception as e:  # noqa: BLE001 - whatever a parser raises, the user gets one line
        why = str(e).splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot read {path} ({why}); {fix}") from e


def parse_json(text: str, path: str | Path) -> Any:
    """``text`` (the contents of ``path``) as JSON, through :func:`reading`."""
    with reading(path):
        return json.loads(text)


def read_records(path: str | Path) -> list:
    """Read a JSON list or JSON Lines file (TOFU's `.json` files are JSON Lines)."""
    text = read_text(path).strip()
    if not text:
        raise UserError(f"{path} is empty; it should hold JSON or JSON Lines records")
    if text[0] == "[":
        return parse_json(text, path)
    return parse_jsonl(text, path)


def parse_jsonl(text: str, path: str | Path) -> list:
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(parse_json(line, path))
        except UserError as e:
            cause = e.__cause__
            where = (
                f"column {cause.colno}: {cause.msg}"
                if isinstance(cause, json.JSONDecodeError)
                else str(e)
            )
            raise UserError(
                f"{path}:{lineno} is not valid JSON Lines ({where}); each line must be one "
                "complete JSON object: fix the file or write it again (is it cut short?)"
            ) from cause
    return rows


def read_jsonl(path: str | Path) -> list:
    """A JSON Lines file (an empty one has no rows)."""
    return parse_jsonl(read_text(path), path)


def read_json(path: str | Path) -> Any:
    return parse_json(read_text(path), path)


def read_yaml(path: str | Path) -> Any:
    """A YAML file, parsed safely (no Python objects), through :func:`reading`."""
    text = read_text(path)
    try:
        with reading(path, "fix the file"):
            return yaml.safe_load(text)
    except UserError as e:
        if isinstance(e.__cause__, yaml.YAMLError):  # the line that names what is wrong, and where
            why = str(e.__cause__).splitlines()[0]
            raise UserError(f"{path} is not valid YAML: {why}; fix the file") from e.__cause__
        raise


def load_tensors(path: str | Path, fix: str) -> Any:
    """``torch.load`` of a file an earlier run wrote, tensors only (nothing else is unpickled).

    A file that asks for other Python objects is refused in one line naming it and ``fix``.
    """
    import torch

    with reading(path, fix):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            raise UserError(
                f"{path} holds Python objects that are not safe to load, so it was not loaded; "
                f"{fix}"
            ) from e
