"""Per-file scores of the last ``mutmut run`` (read from ``mutants/**/*.meta``), as a Markdown table.

python tools/mutants_report.py                 # the table (docs/quality.md keeps a copy)
python tools/mutants_report.py --survivors     # one surviving mutant name a line
python tools/mutants_report.py --ignored FILE  # score without the mutants listed in FILE
python tools/mutants_report.py --root DIR      # a saved copy of mutants/ (e.g. the score before)
python tools/mutants_report.py --root DIR      # a saved copy of mutants/ (e.g. the score before)

Score = killed / (killed + survived), over the mutants some selected test runs ("no tests": no fast
test reaches the function, e.g. the trainer's Hugging Face plumbing; counted apart).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KILLED = {1, 3, 36, 24, -24, 152, 255, -11, -9}  # failed, pytest error, timeout, crash
SURVIVED = {0}
NO_TESTS = {5, 33}


def load(root: Path = ROOT / "mutants") -> dict[str, dict[str, int | None]]:
    """{source file: {mutant name: exit code}} of the last run."""
    out = {}
    for meta in sorted(root.glob("src/**/*.py.meta")):
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        if codes:
            out[str(meta.relative_to(root / "src"))[: -len(".meta")]] = codes
    return out


def table(results: dict[str, dict[str, int | None]], ignored: set[str]) -> str:
    rows = ["| file | mutants | killed | survived | ignored | no tests | not run | score |"]
    rows.append("|---|---|---|---|---|---|---|---|")
    total: Counter[str] = Counter()
    for path, codes in results.items():
        c: Counter[str] = Counter()
        for name, code in codes.items():
            if code in SURVIVED and name in ignored:
                c["ignored"] += 1
            elif code in SURVIVED:
                c["survived"] += 1
            elif code in KILLED:
                c["killed"] += 1
            elif code in NO_TESTS:
                c["no tests"] += 1
            else:
                c["not run"] += 1
        c["mutants"] = len(codes)
        total.update(c)
        rows.append(_row(path, c))
    rows.append(_row("**all**", total))
    return "\n".join(rows)


def _row(name: str, c: Counter[str]) -> str:
    tested = c["killed"] + c["survived"]
    score = f"{c['killed'] / tested:.1%}" if tested else "—"
    parts = [c[k] for k in ("mutants", "killed", "survived", "ignored", "no tests", "not run")]
    return f"| {name} | " + " | ".join(str(p) for p in parts) + f" | {score} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--survivors", action="store_true", help="list the surviving mutants")
    ap.add_argument(
        "--ignored", type=Path, help="file of mutant names judged equivalent / cosmetic"
    )
    ap.add_argument("--root", type=Path, default=ROOT / "mutants", help="mutmut's work folder")
    ap.add_argument("--only", nargs="*", default=[], help="files (as in the table) to show")
    args = ap.parse_args()
    results = load(args.root)
    if args.only:
        results = {k: v for k, v in results.items() if k in args.only}
    ignored: set[str] = set()
    if args.ignored and args.ignored.is_file():
        for line in args.ignored.read_text(encoding="utf-8").splitlines():
            name = line.split("#", 1)[0].strip()
            if name:
                ignored.add(name)
    if args.survivors:
        for codes in results.values():
            for name, code in codes.items():
                if code in SURVIVED and name not in ignored:
                    print(name)
        return
    print(table(results, ignored))


if __name__ == "__main__":
    main()
