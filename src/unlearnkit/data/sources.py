"""Where a benchmark's files come from: a world folder, a local folder, or a Hugging Face hub id."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from unlearnkit.errors import UserError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
DEFAULT_HUB_IDS = {"tofu": "locuslab/TOFU", "muse": "muse-bench/MUSE-News"}


@dataclass(frozen=True)
class Source:
    """A resolved data source: ``folder`` for local files, else ``hub_id`` for `datasets`."""

    benchmark: str
    folder: Path | None = None
    hub_id: str | None = None

    def describe(self) -> str:
        return str(self.folder) if self.folder else f"hub:{self.hub_id}"


def resolve_source(
    benchmark: str, data: str | os.PathLike | None, markers: tuple[str, ...]
) -> Source:
    """Resolve ``--data`` for ``benchmark``.

    A local folder of this benchmark holds at least one of ``markers`` (relative paths); a world
    folder holds the benchmark under ``data/<benchmark>/``.
    """
    if data is None:
        from unlearnkit.world.location import default_world_dir

        data = default_world_dir()
    path = Path(data).expanduser()
    if path.exists():
        for candidate in (path / "data" / benchmark, path):
            if any((candidate / m).is_file() for m in markers):
                return Source(benchmark, folder=candidate.resolve())
        raise UserError(
            f"{path} is not a {benchmark} data folder (no {markers[0]} in it or in data/{benchmark}/); "
            f"point --data at a world folder or a folder in the {benchmark} layout"
        )
    if HUB_ID.match(str(data)) and not str(data).startswith((".", "/", "~")):
        return Source(benchmark, hub_id=str(data))
    raise UserError(f"data not found: {data} (no such folder, and not a hub id like owner/name)")


def load_hub_split(source: Source, config: str | None, split: str) -> list:
    """Load one split from the hub with `datasets` (offline mode fails with a clear message)."""
    try:
        import datasets

        ds = datasets.load_dataset(source.hub_id, config, split=split)
    except Exception as e:  # noqa: BLE001 - datasets raises many kinds; all mean "not loadable"
        raise UserError(
            f"could not load {source.hub_id} ({config or 'default'}/{split}) from the hub: "
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; "
            "download it once and pass the local folder with --data"
        ) from e
    return [dict(r) for r in ds]
