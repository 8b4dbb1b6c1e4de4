"""Report tables as Markdown pipe tables, with text from runs escaped."""

from __future__ import annotations

import html

from unlearnkit.report.table_model import Cell, Table


def table_markdown(table: Table) -> str:
    """A pipe table; best cells in bold, leaks flagged with ▲."""
    headers = table.label_headers + [
        f"{h} ({hint})" if hint else h for h, hint in zip(table.flat_headers, table.hints)
    ]
    lines = ["| " + " | ".join(md_escape(h) for h in headers) + " |"]
    lines.append(
        "|" + "|".join([":---"] * len(table.label_headers) + ["---:"] * len(table.headers)) + "|"
    )
    for row in table.rows:
        cells = [md_escape(x) for x in row.labels] + [md_cell(c) for c in row.cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_legend(table: Table) -> str:
    marks = {c.mark for row in table.rows for c in row.cells}
    notes = []
    if "best" in marks:
        notes.append("**bold**: best unlearned model in the column")
    if "leak" in marks:
        notes.append("▲: the attack brought forgotten knowledge back")
    return "; ".join(notes) + "." if notes else ""


def md_cell(c: Cell) -> str:
    if c.mark == "best":
        return f"**{c.text}**"
    if c.mark == "leak":
        return f"{c.text} ▲"
    return c.text


def md_text(text: object) -> str:
    """Text from a run (a model, method or folder name) for Markdown: its HTML shown, never run."""
    return html.escape(str(text), quote=False)


def md_escape(text: str) -> str:
    """Text for a pipe-table cell."""
    return md_text(text).replace("|", "\\|")
