"""The report as one self-contained HTML page: inline CSS, plots as base64 PNG, no scripts or links out."""

from __future__ import annotations

import base64
from html import escape
from typing import TYPE_CHECKING

from unlearnkit.report.plots import Image
from unlearnkit.report.tables import Table

if TYPE_CHECKING:
    from unlearnkit.report.build import Report

CSS = """
:root { --ink:#0f172a; --text:#1f2937; --muted:#64748b; --line:#e2e8f0; --soft:#f1f5f9; --bg:#f4f6fa;
  --best:#dcfce7; --best-ink:#14532d; --worst:#fdeaea; --worst-ink:#991b1b; --accent:#2563eb; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "DejaVu Sans", sans-serif; }
.wrap { max-width: 1100px; margin: 0 auto; padding: 0 28px; }
.hero { background: linear-gradient(135deg, #0f172a 0%, #1e3a8a 100%); color: #fff; padding: 36px 0 56px; }
.eyebrow { text-transform: uppercase; letter-spacing: .12em; font-size: 12px; color: #93c5fd; font-weight: 600; }
h1 { font-size: 32px; line-height: 1.2; margin: 6px 0 16px; letter-spacing: -.015em; font-weight: 700; }
.chips { display: flex; flex-wrap: wrap; gap: 8px; margin: 0; padding: 0; }
.chip { list-style: none; background: rgba(255,255,255,.10); border: 1px solid rgba(255,255,255,.18);
  border-radius: 999px; padding: 3px 12px; font-size: 13px; color: #fff; }
.chip span { color: #bfdbfe; margin-right: 6px; }
nav.toc { margin-top: 18px; font-size: 13px; }
nav.toc a { color: #dbeafe; text-decoration: none; margin-right: 16px; border-bottom: 1px dotted rgba(219,234,254,.5); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(230px, 1fr)); gap: 14px; margin-top: -34px; }
.card { background: #fff; border-radius: 12px; padding: 14px 18px 16px; border-top: 3px solid var(--accent);
  box-shadow: 0 1px 2px rgba(15,23,42,.06), 0 6px 20px rgba(15,23,42,.06); }
.card .k { font-size: 11.5px; text-transform: uppercase; letter-spacing: .08em; color: var(--muted); font-weight: 600; }
.card .v { font-size: 21px; font-weight: 700; color: var(--ink); margin: 2px 0; }
.card .d { font-size: 13px; color: var(--muted); font-variant-numeric: tabular-nums; }
section { background: #fff; border-radius: 14px; padding: 24px 28px 26px; margin: 22px 0;
  box-shadow: 0 1px 2px rgba(15,23,42,.05), 0 6px 20px rgba(15,23,42,.04); }
h2 { font-size: 20px; margin: 0 0 2px; color: var(--ink); letter-spacing: -.01em; }
h3 { font-size: 15.5px; margin: 22px 0 2px; color: var(--ink); }
.block + .block { margin-top: 26px; }
p.caption, figcaption { color: var(--muted); font-size: 13.5px; margin: 4px 0 14px; max-width: 88ch; }
figcaption { margin: 8px 0 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; font-variant-numeric: tabular-nums; }
th { text-align: right; font-weight: 600; font-size: 12px; color: #334155; border-bottom: 2px solid var(--line);
  padding: 8px 9px 6px; vertical-align: bottom; line-height: 1.3; }
th.group { text-align: center; border-bottom: 1px solid var(--line); padding-bottom: 3px; color: var(--ink); }
table.compact { width: auto; min-width: 60%; }
table.compact th, table.compact td { padding-left: 26px; }
table.compact th.label, table.compact td.label { padding-left: 10px; }
th .hint { display: block; font-weight: 500; color: var(--muted); font-size: 11px; margin-top: 1px; }
td { text-align: right; padding: 7px 9px; border-bottom: 1px solid var(--soft); white-space: nowrap; }
th.label, td.label { text-align: left; }
td.label { font-weight: 600; color: var(--ink); }
td.label.sub { font-weight: 400; color: var(--text); }
tr.ref td { background: #f8fafc; color: #475569; }
tr.ref td.label { font-weight: 500; font-style: italic; }
tr.ref + tr:not(.ref) td, tr.group td { border-top: 2px solid var(--line); }
td.best { background: var(--best); color: var(--best-ink); font-weight: 700; }
td.worst { background: var(--worst); color: var(--worst-ink); }
td.leak { background: var(--worst); color: var(--worst-ink); font-weight: 700; }
td.gain { background: var(--best); color: var(--best-ink); }
td.missing { color: #94a3b8; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 3px; margin-right: 8px; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; font-size: 12px; color: var(--muted); margin-top: 10px; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 3px; vertical-align: -2px; margin-right: 5px; }
.legend .best, .legend .gain { background: var(--best); border: 1px solid #86efac; }
.legend .worst, .legend .leak { background: var(--worst); border: 1px solid #fca5a5; }
.legend .ref { background: #f8fafc; border: 1px solid var(--line); }
figure { margin: 0; }
figure img { display: block; width: 100%; height: auto; border-radius: 6px; }
footer { color: var(--muted); font-size: 12.5px; padding: 6px 28px 44px; }
footer code { font-size: 12px; background: #e2e8f0; padding: 1px 5px; border-radius: 4px; color: #334155; }
footer ul { margin: 4px 0 0; padding-left: 18px; }
@media print { body { background: #fff; } .hero { background: #fff; color: var(--ink); }
  .chip, nav.toc a { color: var(--ink); } section, .card { box-shadow: none; border: 1px solid var(--line); } }
"""

LEGEND = {
    "best": "best unlearned model in the column",
    "worst": "worst unlearned model in the column",
    "leak": "the attack brought forgotten knowledge back",
    "gain": "the attack made the model forget more",
}


def render_html(report: Report) -> str:
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(report.title)}</title>",
        f"<style>{CSS}</style></head><body>",
        header(report),
        '<main class="wrap">',
        cards(report),
        *(section(report, s) for s in report.sections),
        "</main>",
        footer(report),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def header(report: Report) -> str:
    chips = "".join(
        f'<li class="chip"><span>{escape(k)}</span>{escape(v)}</li>' for k, v in report.context
    )
    toc = "".join(f'<a href="#{escape(s.id)}">{escape(s.title)}</a>' for s in report.sections)
    return (
        '<header class="hero"><div class="wrap">'
        '<div class="eyebrow">unlearnkit · machine unlearning report</div>'
        f"<h1>{escape(report.title)}</h1>"
        f'<ul class="chips">{chips}</ul>'
        f'<nav class="toc">{toc}</nav>'
        "</div></header>"
    )


def cards(report: Report) -> str:
    if not report.findings:
        return '<div class="cards"></div>'
    items = "".join(
        f'<div class="card" style="border-top-color:{report.colors.get(f.value, "#2563eb")}">'
        f'<div class="k">{escape(f.title)}</div><div class="v">{escape(f.value)}</div>'
        f'<div class="d">{escape(f.detail)}</div></div>'
        for f in report.findings
    )
    return f'<div class="cards">{items}</div>'


def section(report: Report, s) -> str:
    blocks = "".join(
        table(report, b, b.title != s.title) if isinstance(b, Table) else figure(b)
        for b in s.blocks
    )
    return f'<section id="{escape(s.id)}"><h2>{escape(s.title)}</h2>{blocks}</section>'


def table(report: Report, t: Table, with_title: bool) -> str:
    title = f"<h3>{escape(t.title)}</h3>" if with_title else ""
    compact = ' class="compact"' if len(t.label_headers) + len(t.headers) <= 5 else ""
    return (
        f'<div class="block">{title}<p class="caption">{escape(t.caption)}</p>'
        f'<div class="scroll"><table{compact}>{thead(t)}{tbody(report, t)}</table></div>'
        f"{legend(t)}</div>"
    )


def header_text(text: str) -> str:
    """Escaped, with break opportunities after underscores so long metric names can wrap."""
    return escape(text).replace("_", "_<wbr>")


def thead(t: Table) -> str:
    span = ' rowspan="2"' if t.groups else ""
    top = "".join(f'<th class="label"{span}>{escape(h)}</th>' for h in t.label_headers)
    cells = "".join(
        f'<th>{header_text(h)}<span class="hint">{escape(hint) or "&nbsp;"}</span></th>'
        for h, hint in zip(t.headers, t.hints)
    )
    if not t.groups:
        return f"<thead><tr>{top}{cells}</tr></thead>"
    top += "".join(
        f'<th class="group" colspan="{n}">{header_text(name)}</th>' for name, n in t.groups
    )
    return f"<thead><tr>{top}</tr><tr>{cells}</tr></thead>"


def tbody(report: Report, t: Table) -> str:
    body = []
    previous: list[str] = []
    for row in t.rows:
        classes = ["ref"] if row.role in ("target", "retain") else []
        # Grouped label columns (model, attack): show a value only where it changes.
        shown = list(row.labels)
        for i in range(min(len(shown), len(previous)) - 1):
            if row.labels[: i + 1] == previous[: i + 1]:
                shown[i] = ""
        if len(row.labels) > 1 and previous and row.labels[0] != previous[0]:
            classes.append("group")
        previous = row.labels
        labels = "".join(label_cell(report, text, i) for i, text in enumerate(shown))
        cells = "".join(
            f'<td class="{c.mark or ("missing" if c.value is None else "")}">{escape(c.text)}</td>'
            for c in row.cells
        )
        body.append(f'<tr class="{" ".join(classes)}">{labels}{cells}</tr>')
    return f"<tbody>{''.join(body)}</tbody>"


def label_cell(report: Report, text: str, index: int) -> str:
    if index:
        return f'<td class="label sub">{escape(text)}</td>'
    color = report.colors.get(text)
    swatch = f'<span class="swatch" style="background:{color}"></span>' if color else ""
    return f'<td class="label">{swatch}{escape(text)}</td>'


def legend(t: Table) -> str:
    marks = {c.mark for row in t.rows for c in row.cells}
    items = [
        f'<span><i class="{m}"></i>{escape(text)}</span>'
        for m, text in LEGEND.items()
        if m in marks
    ]
    if any(row.role in ("target", "retain") for row in t.rows) and items:
        items.append('<span><i class="ref"></i>reference model (not ranked)</span>')
    return f'<div class="legend">{"".join(items)}</div>' if items else ""


def figure(img: Image) -> str:
    data = base64.b64encode(img.png).decode("ascii")
    return (
        f'<div class="block"><figure><img alt="{escape(img.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(img.caption)}</figcaption></figure></div>"
    )


def footer(report: Report) -> str:
    folders = "".join(f"<li><code>{escape(f)}</code></li>" for f in report.folders)
    built = f" on {escape(report.built_at)}" if report.built_at else ""
    return f'<footer class="wrap">Built by unlearnkit{built} from the stored results in:<ul>{folders}</ul></footer>'
