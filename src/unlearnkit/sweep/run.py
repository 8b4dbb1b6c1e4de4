"""Run a grid's cells, each an ordinary ``unlearn run`` into OUT/cells/NAME, resumably.

A cell is finished when its folder holds ``cell.json`` (written after its run ended, with the
cell's key: method, overrides, base config) and a readable ``metrics.json``: it is skipped. Any
other cell folder is what an interrupted run left: resumed from its last checkpoint where one
was written under the same key (``--resume``), else removed and run again. Cells run in ``workers`` spawned processes (``unlearnkit.jobs``).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from unlearnkit.config import dump_yaml
from unlearnkit.errors import UserError
from unlearnkit.io import read_json, read_text, write_json, write_text_atomic
from unlearnkit.jobs import run_jobs
from unlearnkit.sweep.grid import Cell, Grid

CELLS = "cells"
LOGS = "logs"
CELL = "cell.json"
METRICS = "metrics.json"
DIVERGED = 3  # commands.run.DIVERGED: a result (no metrics), not a failure to retry
STOPPED = (130, 143)  # a cell stopped by Ctrl-C or SIGTERM: the sweep stops too


def cell_dir(out: Path, cell: Cell) -> Path:
    return out / CELLS / cell.name


def cell_argv(out: Path, cell: Cell, base: Path | None) -> list[str]:
    """The ``unlearn run`` command line of a cell (without ``--threads`` and ``--resume``)."""
    argv = ["run", "--out", str(cell_dir(out, cell))]
    if base is not None:
        argv += ["--config", str(base)]
    if cell.method:
        argv += ["--method", cell.method]
    return argv + cell.overrides


def cell_key(cell: Cell, base: Path | dict | None) -> dict:
    """What a cell's result depends on: its method, its settings and the base config's content
    (not where the sweep folder is), recorded in cell.json; a cell whose key changed runs again."""
    text = base if isinstance(base, dict) or base is None else read_text(base)
    return {"method": cell.method, "overrides": cell.overrides, "base": text}


def finished(folder: Path, key: dict) -> bool:
    """The cell's run ended under this key and left its metrics.json."""
    try:
        record = read_json(folder / CELL)
        read_json(folder / METRICS)
    except (UserError, OSError):
        return False
    return isinstance(record, dict) and record.get("key") == key


def prepare(folder: Path, started: Path, key: dict) -> bool:
    """Make a cell folder ready to run; True where its run resumes from a checkpoint: one that
    a run under the same key (``started``, written as each run starts) left."""
    try:
        same = read_json(started) == key
    except (UserError, OSError):
        same = False
    if same and any((folder / "checkpoints").glob("checkpoint-*")):
        (folder / CELL).unlink(missing_ok=True)
        return True
    shutil.rmtree(folder, ignore_errors=True)
    return False


def run_cell(argv: list[str], log: str) -> dict:
    """``unlearn ARGV`` in this process, its output (and log records) into ``log``."""
    from unlearnkit.cli import main

    Path(log).parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    start = time.perf_counter()
    with open(log, "a") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        handlers, root.handlers = root.handlers, [logging.StreamHandler(f)]
        try:
            rc = main(argv)
        finally:
            root.handlers = handlers
    if rc in STOPPED:  # `unlearn run` turned the signal into its status: the sweep stops
        raise KeyboardInterrupt
    return {"rc": rc, "seconds": round(time.perf_counter() - start, 2)}


def base_config(grid: Grid, out: Path) -> Path | None:
    """The base config file the cells read: the grid's path, or its mapping in OUT/base.yaml."""
    if not isinstance(grid.base, dict):
        return grid.base
    write_text_atomic(out / "base.yaml", dump_yaml(grid.base))
    return out / "base.yaml"


def run_sweep(
    grid: Grid,
    out: Path,
    workers: int,
    threads: int,
    say: Callable[[str], None] | None = None,
) -> list[dict]:
    """Run every unfinished cell; one line per finished cell; each cell's record, grid order."""
    say = say or (lambda line: print(line, flush=True))  # live when stdout is a file or pipe
    base = base_config(grid, out)
    argvs = [cell_argv(out, cell, base) for cell in grid.cells]
    keys = [cell_key(cell, grid.base) for cell in grid.cells]
    todo = [i for i, k in enumerate(keys) if not finished(cell_dir(out, grid.cells[i]), k)]
    skipped = len(grid.cells) - len(todo)
    say(f"sweep: {len(grid.cells)} cells, {skipped} finished already, {len(todo)} to run")
    calls = []
    for i in todo:
        started = out / LOGS / f"{grid.cells[i].name}.key.json"
        resume = prepare(cell_dir(out, grid.cells[i]), started, keys[i])
        log = out / LOGS / f"{grid.cells[i].name}.log"
        if not resume:
            log.unlink(missing_ok=True)
        write_json(started, keys[i])
        extra = ["--threads", str(threads)] + (["--resume"] if resume else [])
        calls.append((argvs[i] + extra, str(log)))
    count = [skipped]

    def done(j: int, result: dict) -> None:
        cell, count[0] = grid.cells[todo[j]], count[0] + 1
        ok = result["rc"] in (0, DIVERGED)
        if ok:
            record = {"name": cell.name, "key": keys[todo[j]], "argv": calls[j][0], **result}
            write_json(cell_dir(out, cell) / CELL, record)
        state = "done" if result["rc"] == 0 else "diverged" if ok else f"FAILED (rc {result['rc']})"
        log = out / LOGS / f"{cell.name}.log"
        tail = "" if ok else f"; see {log}"
        say(
            f"[{count[0]}/{len(grid.cells)}] {cell.name}: {state} in {result['seconds']:.1f} s{tail}"
        )

    run_jobs(run_cell, calls, workers, done=done)
    return [cell_record(out, cell) for cell in grid.cells]


def cell_record(out: Path, cell: Cell) -> dict:
    """A cell's name, group, settings, seed, run record and metrics (None where it has none)."""
    folder = cell_dir(out, cell)
    record = read_json(folder / CELL) if (folder / CELL).is_file() else None
    metrics = read_json(folder / METRICS) if record and (folder / METRICS).is_file() else None
    return {
        "name": cell.name,
        "group": cell.group,
        "label": cell.label,
        "settings": cell.settings,
        "seed": cell.seed,
        "seconds": record.get("seconds") if record else None,
        "metrics": (metrics or {}).get("metrics") if record else None,
        "folder": str(folder),
    }


def failed(records: list[dict]) -> list[str]:
    return [r["name"] for r in records if r["seconds"] is None]
