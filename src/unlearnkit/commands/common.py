"""Arguments and checks that several subcommands share."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from unlearnkit.errors import UserError


def add_output_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--out", required=required, help="output folder")
    p.add_argument(
        "--overwrite", action="store_true", help="replace the output folder if it exists"
    )


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
