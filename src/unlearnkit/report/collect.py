"""Find run folders (given directly, inside demo folders, or nested up to 3 levels) and load them."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from unlearnkit.errors import UserError
from unlearnkit.eval.results import AttackEntry, RunResult
from unlearnkit.io import read_json

METRICS_FILE = "metrics.json"
EXTRA_DIR = "extra"
MAX_DEPTH = 3
REFERENCE_ROLES = ("target", "retain")
ROLE_ORDER = {"target": 0, "retain": 1}
# Folders that never hold run folders of their own: walking them only costs time.
SKIP_DIRS = {EXTRA_DIR, "items", "report_files", "tokenizer", "data", "checkpoints", "__pycache__"}


@dataclass
class Run:
    """One model's stored results: its main evaluation, attacks, training log and extra evaluations."""

    path: Path
    root: Path
    role: str
    method: str
    model: str | None
    benchmark: str
    split: str | None
    evals: dict[str, dict[str, float]]
    attacks: dict[str, list[AttackEntry]] = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    label: str = ""

    @property
    def is_reference(self) -> bool:
        return self.role in REFERENCE_ROLES

    def metric(self, benchmark: str, key: str) -> float | None:
        return number(self.evals.get(benchmark, {}).get(key))

    @property
    def log_history(self) -> list[dict]:
        history = self.train.get("log_history")
        return [e for e in history if isinstance(e, dict)] if isinstance(history, list) else []

    @property
    def train_seconds(self) -> float | None:
        return number(self.train.get("seconds"))


def number(value: object) -> float | None:
    """A finite float, or None for anything else (missing, text, NaN, booleans)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def load_runs(dirs: list[Path]) -> list[Run]:
    """Every run under ``dirs``, ordered target, retain, then methods; each with a unique label."""
    if not dirs:
        raise UserError("give at least one run folder or demo folder")
    runs: list[Run] = []
    seen: set[Path] = set()
    for root in dirs:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise UserError(f"{root} is not a folder; give run folders or demo folders")
        found = find_run_dirs(root)
        loaded = [run for path in found if (run := load_run(path, root)) is not None]
        if not loaded:
            raise UserError(
                f"{root} holds no results: no {METRICS_FILE} with metrics in it or in sub-folders up to {MAX_DEPTH} levels deep; point at a run folder or a demo folder"
            )
        for run in loaded:
            if run.path.resolve() not in seen:
                seen.add(run.path.resolve())
                runs.append(run)
    runs = order_runs(runs)
    assign_labels(runs)
    return runs


def find_run_dirs(root: Path) -> list[Path]:
    """``root`` itself if it is a run folder, else the run folders below it (up to MAX_DEPTH)."""
    if (root / METRICS_FILE).is_file():
        return [root]
    found: list[Path] = []

    def walk(folder: Path, depth: int) -> None:
        try:
            children = sorted((p for p in folder.iterdir() if p.is_dir()), key=natural_key)
        except OSError:
            return
        for child in children:
            if child.name in SKIP_DIRS or child.name.startswith("."):
                continue
            if (child / METRICS_FILE).is_file():
                found.append(child)
            elif depth < MAX_DEPTH:
                walk(child, depth + 1)

    walk(root, 1)
    return found


def natural_key(path: Path) -> list:
    """Sort 'm2' before 'm10'."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def read_metrics_file(path: Path) -> RunResult | None:
    """The results in ``path`` if it looks like a run's metrics.json, else None."""
    return RunResult.from_json(read_json(path))


def load_run(path: Path, root: Path) -> Run | None:
    result = read_metrics_file(path / METRICS_FILE)
    if result is None:
        return None
    benchmark = result.benchmark or guess_benchmark(result.metrics)
    evals = {name: metrics for name, metrics in load_extras(path).items() if name != benchmark}
    evals[benchmark] = result.metrics
    return Run(
        path=path,
        root=root,
        role=result.role,
        method=result.method or path.name,
        model=result.model,
        benchmark=benchmark,
        split=result.split,
        evals=evals,
        attacks=result.attacks,
        train=result.train,
    )


def load_extras(path: Path) -> dict[str, dict]:
    """``extra/<benchmark>/metrics.json``: the same model evaluated on other benchmarks."""
    extras: dict[str, dict] = {}
    folder = path / EXTRA_DIR
    if not folder.is_dir():
        return extras
    for sub in sorted(folder.iterdir()):
        if (sub / METRICS_FILE).is_file() and (result := read_metrics_file(sub / METRICS_FILE)):
            extras[result.benchmark or sub.name] = result.metrics
    return extras


def guess_benchmark(metrics: dict) -> str:
    """The benchmark of an old metrics.json that does not name it: the one whose metrics it has."""
    from unlearnkit.benchmarks import BENCHMARKS

    first, *others = BENCHMARKS.values()
    for bench in others:
        if any(spec.key in metrics for spec in bench.metrics):
            return bench.name
    return first.name


def order_runs(runs: list[Run]) -> list[Run]:
    """Target rows, retain rows, then methods grouped by name in the order first met."""
    first_seen: dict[str, int] = {}
    for run in runs:
        first_seen.setdefault(run.method, len(first_seen))
    return sorted(
        runs,
        key=lambda r: (ROLE_ORDER.get(r.role, 2), 0 if r.is_reference else first_seen[r.method]),
    )


def base_label(run: Run) -> str:
    return run.role if run.is_reference else run.method


def assign_labels(runs: list[Run]) -> None:
    """Name rows by method (or role); where names clash add the first tag that tells them apart."""
    counts = Counter(base_label(r) for r in runs)
    groups: dict[str, list[Run]] = {}
    for run in runs:
        run.label = base_label(run)
        if counts[run.label] > 1:
            groups.setdefault(run.label, []).append(run)
    taggers: list[Callable[[Run], str]] = [
        lambda r: r.path.name,
        lambda r: r.root.resolve().name,
        lambda r: relative_tag(r),
    ]
    for base, group in groups.items():
        for tagger in taggers:
            tags = [tagger(r) for r in group]
            if len(set(tags)) == len(tags):
                break
        else:
            tags = [str(i) for i in range(1, len(group) + 1)]
        for run, tag in zip(group, tags):
            run.label = base if tag == base else f"{base} ({tag})"


def relative_tag(run: Run) -> str:
    """The run folder relative to its root, joined with '/', e.g. 'a/runs/npo'."""
    try:
        rel = run.path.resolve().relative_to(run.root.resolve().parent)
    except ValueError:
        rel = run.path
    return re.sub(r"/+", "/", rel.as_posix())
