"""The letter wording format, and how it becomes plain text, HTML and Typst.

A letter template renders to plain text with a little structure, so one wording source serves
every output:

- paragraphs are separated by a blank line; a line break inside a paragraph is kept;
- a line starting ``- `` is a bullet point;
- ``**bold**`` is bold;
- a line ``::sessions`` is the table of sessions behind the trigger, ``::figures`` the table of
  the pupil's figures this school year.

Values from the data are never read as structure. The template environment passes every
``{{ value }}`` through `literal`, which wraps it in two private-use characters; text between
them is taken as it is, whatever it contains (``**``, ``- ``, ``<script>``, ``#``, ``{{ }}``), and
is then escaped for the output it lands in: HTML entities, a Typst string literal, or nothing for
plain text.
"""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

OPEN, CLOSE = "\ue000", "\ue001"
DIRECTIVES = ("sessions", "figures")


def literal(value: object) -> str:
    """A value as literal text: marker characters removed, whitespace (line breaks too) made single spaces."""
    text = "" if value is None else str(value)
    text = text.replace(OPEN, "").replace(CLOSE, "")
    return OPEN + " ".join(text.split()) + CLOSE


@dataclass(frozen=True)
class Run:
    text: str
    bold: bool = False


Line = tuple[Run, ...]


@dataclass(frozen=True)
class Block:
    kind: str  # "paragraph", "bullets", or a directive ("sessions", "figures")
    lines: tuple[Line, ...] = ()  # paragraph lines, or one line per bullet


@dataclass(frozen=True)
class Table:
    """A table a directive stands for: headings and rows of text."""

    headings: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""  # under the table: what the marks in it mean


@dataclass
class Document:
    blocks: list[Block]
    tables: dict[str, Table] = field(default_factory=dict)  # directive -> its table

    def words(self) -> int:
        """Words in the paragraphs and bullets (tables not counted): the length a family reads."""
        return sum(len(run.text.split()) for block in self.blocks for line in block.lines for run in line)


class MarkupError(ValueError):
    """The rendered wording is not well formed (an unknown ::directive, an unclosed **)."""

    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


def parse(text: str) -> list[Block]:
    """Blocks of the rendered wording. Raises MarkupError naming the line (of the rendered text)."""
    blocks: list[Block] = []
    paragraph: list[Line] = []
    bullets: list[Line] = []

    def flush() -> None:
        if paragraph:
            blocks.append(Block("paragraph", tuple(paragraph)))
            paragraph.clear()
        if bullets:
            blocks.append(Block("bullets", tuple(bullets)))
            bullets.clear()

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not _visible(line):
            flush()
            continue
        if line.startswith("::"):
            name = line[2:].strip()
            if name not in DIRECTIVES:
                raise MarkupError(f"unknown directive {line!r} (use {', '.join('::' + d for d in DIRECTIVES)})", number)
            flush()
            blocks.append(Block(name))
        elif line.startswith("- "):
            if paragraph:
                flush()
            bullets.append(_runs(line[2:], number))
        else:
            if bullets:
                flush()
            paragraph.append(_runs(line, number))
    flush()
    return blocks


def _visible(line: str) -> bool:
    return bool(line.replace(OPEN, "").replace(CLOSE, "").strip()) or (OPEN in line and _has_literal_text(line))


def _has_literal_text(line: str) -> bool:
    return any(part.strip() for part in re.findall(f"{OPEN}(.*?){CLOSE}", line))


def _runs(line: str, number: int) -> Line:
    """Split a line into runs: `**` toggles bold in template text only; literal text is never markup."""
    runs: list[Run] = []
    bold = False
    for index, part in enumerate(re.split(f"{OPEN}(.*?){CLOSE}", line)):
        if index % 2:  # a literal value
            if part:
                runs.append(Run(part, bold))
            continue
        pieces = part.split("**")
        for position, piece in enumerate(pieces):
            if position:
                bold = not bold
            if piece:
                runs.append(Run(piece, bold))
    if bold:
        raise MarkupError("a ** bold is not closed on its line", number)
    return tuple(_merge(runs))


def _merge(runs: Sequence[Run]) -> list[Run]:
    merged: list[Run] = []
    for run in runs:
        if merged and merged[-1].bold == run.bold:
            merged[-1] = Run(merged[-1].text + run.text, run.bold)
        else:
            merged.append(run)
    return merged


# -- plain text ---------------------------------------------------------------------------------


def to_text(document: Document, width: int = 72) -> str:
    """Plain text: paragraphs wrapped at `width`, bullets indented, tables in aligned columns."""
    out: list[str] = []
    for block in document.blocks:
        if block.kind == "paragraph":
            out.append("\n".join(textwrap.fill(_plain(line), width) for line in block.lines))
        elif block.kind == "bullets":
            out.append("\n".join(textwrap.fill(_plain(line), width, initial_indent="- ", subsequent_indent="  ")
                                 for line in block.lines))
        else:
            out.append(_text_table(document.tables[block.kind]))
    return "\n\n".join(part for part in out if part)


def _plain(line: Line) -> str:
    return "".join(run.text for run in line).strip()


def _text_table(table: Table) -> str:
    if not table.rows:
        return ""
    widths = [max(len(cell) for cell in column) for column in zip(table.headings, *table.rows)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (table.headings, *table.rows)]
    text = "\n".join("  " + line for line in lines)
    return text + ("\n\n" + textwrap.fill(table.note, 72) if table.note else "")


# -- HTML ---------------------------------------------------------------------------------------


def to_html(document: Document) -> str:
    """HTML fragments: <p>, <ul>, <table>; every text escaped."""
    out: list[str] = []
    for block in document.blocks:
        if block.kind == "paragraph":
            out.append("<p>" + "<br>\n".join(_html_line(line) for line in block.lines) + "</p>")
        elif block.kind == "bullets":
            out.append("<ul>\n" + "\n".join(f"<li>{_html_line(line)}</li>" for line in block.lines) + "\n</ul>")
        else:
            table = document.tables[block.kind]
            if table.rows:
                head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headings)
                body = "\n".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                                 for row in table.rows)
                out.append(f'<table class="{block.kind}">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>')
                if table.note:
                    out.append(f'<p class="note">{html.escape(table.note)}</p>')
    return "\n".join(out)


def _html_line(line: Line) -> str:
    return "".join(f"<strong>{html.escape(r.text)}</strong>" if r.bold else html.escape(r.text) for r in line)


# -- Typst --------------------------------------------------------------------------------------


def typst_string(text: str) -> str:
    """A Typst string literal: nothing inside it is markup or code."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ").replace("\r", " ") + '"'


def to_typst(document: Document) -> str:
    """Typst markup in which every piece of text is a string literal (`#"..."`), so no character of
    the wording or of the data can act as Typst markup or code."""
    out: list[str] = []
    for block in document.blocks:
        if block.kind == "paragraph":
            out.append(" #linebreak()\n".join(_typst_line(line) for line in block.lines))
        elif block.kind == "bullets":
            out.append("\n".join(f"- {_typst_line(line)}" for line in block.lines))
        else:
            table = document.tables[block.kind]
            if table.rows:
                cells = ", ".join(typst_string(c) for row in table.rows for c in row)
                head = ", ".join(f"strong({typst_string(h)})" for h in table.headings)
                out.append(f"#attendance-table({len(table.headings)}, ({head},), ({cells},))")
                if table.note:
                    out.append(f"#text(size: 9pt)[#{typst_string(table.note)}]")
    return "\n\n".join(out)


def _typst_line(line: Line) -> str:
    return "".join(f"#strong({typst_string(r.text)})" if r.bold else f"#{typst_string(r.text)}" for r in line)
