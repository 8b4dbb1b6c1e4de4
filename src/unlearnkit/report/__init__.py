"""Reports rebuilt from stored run folders: report.md with PNG plots, and one self-contained report.html."""

from unlearnkit.report.build import build_report
from unlearnkit.report.collect import Run, find_run_dirs, load_runs

__all__ = ["Run", "build_report", "find_run_dirs", "load_runs"]
