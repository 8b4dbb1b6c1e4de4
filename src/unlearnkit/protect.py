"""What a command was given to read is never written: ``--out`` may not be, lie inside or hold
any of its inputs (the data, the model, the retain model or eval, the world)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from unlearnkit.errors import UserError


def guard_inputs(
    out: str | Path,
    inputs: Mapping[str, str | Path | None],
    command: str,
    inside_only: bool = False,
) -> None:
    """Refuse ``out`` when it is, is inside, or contains one of ``inputs`` ({flag: path}).

    Paths are compared after resolving symlinks (``..``, ``~`` and links give no way around it);
    an input that is not on disk (a hub id, nothing given) cannot be written and is skipped.
    ``inside_only``: refuse only an ``out`` inside an input (`report`, which writes its own three
    names beside or above the runs it reads).
    """
    target = Path(out).expanduser().resolve()
    for flag, given in inputs.items():
        if given is None or str(given) == "":
            continue
        path = Path(str(given)).expanduser()
        if not path.exists():
            continue
        source = path.resolve()
        if target == source:
            where = "is"
        elif source in target.parents:
            where = "is inside"
        elif target in source.parents:
            where = "contains"
        else:
            continue
        if inside_only and where != "is inside":
            continue
        raise UserError(
            f"--out {out} {where} {flag} {given}: `unlearn {command}` never writes into what it "
            "reads (--overwrite would replace it); choose an --out outside it"
        )
