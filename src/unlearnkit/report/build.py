"""Assemble the report from run folders and write report.md (+ report_files/*.png) and report.html."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from unlearnkit.benchmarks import BENCHMARKS
from unlearnkit.errors import UserError
from unlearnkit.io import atomic_path, write_text_atomic
from unlearnkit.protect import guard_inputs
from unlearnkit.report import plots, tables
from unlearnkit.report.collect import Run, load_runs
from unlearnkit.report.curve_plot import curve_plot
from unlearnkit.report.hidden_plots import hidden_plots
from unlearnkit.report.hidden_tables import HIDDEN_TITLE, hidden_tables
from unlearnkit.report.html import render_html
from unlearnkit.report.plots import Image
from unlearnkit.report.relearn_worst import relearn_worst_table
from unlearnkit.report.tables import Finding, Table

FILES_DIR = "report_files"
DEFAULT_TITLE = "Unlearning report"


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Table | Image]


@dataclass
class Report:
    title: str
    context: list[tuple[str, str]]
    findings: list[Finding]
    sections: list[Section]
    folders: list[str]
    built_at: str | None
    colors: dict[str, str] = field(default_factory=dict)

    @property
    def images(self) -> list[Image]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Image)]


def build_report(
    dirs: list[Path],
    out: Path,
    title: str | None = None,
    timestamp: datetime | Literal["now"] | None = "now",
) -> tuple[Path, Path]:
    """Write ``out/report.md`` (plots in ``out/report_files/``) and ``out/report.html``; return both paths."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise UserError(
            f"--out {out} is a file; give the folder to write report.md and report.html into"
        )
    runs = load_runs([Path(d) for d in dirs])
    guard_inputs(
        out, {f"the run folder {r.label}": r.path for r in runs}, "report", inside_only=True
    )
    if timestamp == "now":
        timestamp = datetime.now(timezone.utc)
    built_at = (
        timestamp.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        if isinstance(timestamp, datetime)
        else None
    )
    report = assemble(
        runs, title or DEFAULT_TITLE, [str(Path(d).expanduser().resolve()) for d in dirs], built_at
    )
    try:
        write_images(out / FILES_DIR, report.images)
        md_path, html_path = out / "report.md", out / "report.html"
        write_text_atomic(md_path, render_markdown(report))
        write_text_atomic(html_path, render_html(report))
        for path in [md_path, html_path, *(out / FILES_DIR).glob("*.png")]:
            shareable(path)
    except PermissionError as e:
        raise UserError(
            f"cannot write the report to {out}: permission denied; choose another --out"
        ) from e
    return md_path, html_path


def assemble(runs: list[Run], title: str, folders: list[str], built_at: str | None) -> Report:
    """Every section that has data, in reading order."""
    first, *others = BENCHMARKS.values()  # the first benchmark's section leads, with the scatter
    candidates = [
        (
            first.name,
            first.title,
            [tables.benchmark_table(first.name, runs), plots.scatter_plot(runs)],
        ),
        (
            "relearn",
            "Relearning attack",
            [
                plots.relearn_plot(runs),
                tables.relearn_table(runs),
                relearn_worst_table(runs),
            ],
        ),
        ("attacks", tables.ATTACKS_TITLE, [tables.attacks_table(runs)]),
        ("hidden", HIDDEN_TITLE, [*hidden_tables(runs), *hidden_plots(runs)]),
        ("sga", "SGA's r over steps", [plots.sga_r_plot(runs)]),
        ("curves", "Utility against forgetting", [curve_plot(runs)]),
        ("loss", "Training loss", [plots.loss_plot(runs)]),
        *(
            (b.name, b.title, [tables.benchmark_table(b.name, runs), plots.accuracy_plot(b, runs)])
            for b in others
        ),
    ]
    sections = [
        Section(sid, stitle, [b for b in blocks if b is not None])
        for sid, stitle, blocks in candidates
    ]
    sections = [s for s in sections if s.blocks]
    return Report(
        title, context(runs), tables.findings(runs), sections, folders, built_at, plots.colors(runs)
    )


def context(runs: list[Run]) -> list[tuple[str, str]]:
    """(name, value) pairs for the header: what was unlearned, from what, by which methods."""
    pairs: list[tuple[str, str]] = []
    benchmarks = sorted({f"{r.benchmark} {r.split}" if r.split else r.benchmark for r in runs})
    pairs.append(("benchmark", ", ".join(benchmarks)))
    extra = sorted({b for r in runs for b in r.evals if b != r.benchmark})
    if extra:
        pairs.append(("also evaluated on", ", ".join(extra)))
    models = sorted(
        {os.path.basename(r.model.rstrip("/")) for r in runs if r.role == "target" and r.model}
    )
    if models:
        pairs.append(("target model", ", ".join(models)))
    methods = list(dict.fromkeys(r.method for r in runs if r.role == "unlearned"))
    if methods:
        pairs.append(("methods", ", ".join(methods)))
    pairs.append(("runs", str(len(runs))))
    seconds = [s for r in runs if (s := r.train_seconds) is not None]
    if seconds:
        pairs.append(("training time", f"{sum(seconds):.0f} s"))
    return pairs


def write_images(folder: Path, images: list[Image]) -> None:
    """Write the plots; drop PNGs a previous build left that this one no longer makes."""
    if images:
        folder.mkdir(parents=True, exist_ok=True)
    names = {f"{img.name}.png" for img in images}
    for img in images:
        with atomic_path(folder / f"{img.name}.png") as tmp:
            tmp.write_bytes(img.png)
    for stale in folder.glob("*.png"):
        if stale.name not in names:
            stale.unlink(missing_ok=True)


def shareable(path: Path) -> None:
    """Give the umask's usual mode: atomic writes go through mkstemp, which makes files private (0600)."""
    mask = os.umask(0)
    os.umask(mask)
    path.chmod(0o666 & ~mask)


def render_markdown(report: Report) -> str:
    """report.md; every text that may come from a run (names, folders) is HTML-escaped."""
    esc = tables.md_text
    parts = [
        f"# {esc(report.title)}",
        " · ".join(f"{esc(k)}: **{esc(v)}**" for k, v in report.context),
    ]
    if report.findings:
        parts.append(
            "\n".join(
                f"- **{esc(f.title)}:** {esc(f.value)} — {esc(f.detail)}" for f in report.findings
            )
        )
    for section in report.sections:
        parts.append(f"## {esc(section.title)}")
        for block in section.blocks:
            if isinstance(block, Table):
                if block.title != section.title:
                    parts.append(f"### {esc(block.title)}")
                parts.append(f"_{esc(block.caption)}_")
                parts.append(tables.table_markdown(block))
                if legend := tables.markdown_legend(block):
                    parts.append(f"_{legend}_")
            else:
                parts.append(f"![{esc(block.title)}]({FILES_DIR}/{block.name}.png)")
                parts.append(f"_{esc(block.caption)}_")
    parts.append("---")
    built = f" on {report.built_at}" if report.built_at else ""
    parts.append(
        f"Built by unlearnkit{built} from:\n\n" + "\n".join(_code(f) for f in report.folders)
    )
    return "\n\n".join(parts) + "\n"


def _code(folder: str) -> str:
    """A list item showing a folder as code; a name with a backtick as escaped text instead."""
    return f"- {tables.md_text(folder)}" if "`" in folder else f"- `{folder}`"
