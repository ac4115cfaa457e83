"""Showing results on a terminal: Rich tables and the text validation report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from attendance_cli.formatting import HEADINGS, cell, percentage, plural  # noqa: F401  (plural is used by the commands)
from attendance_cli.formatting import heading as heading_of

if TYPE_CHECKING:
    import polars as pl

    from attendance_cli.ingest import ValidationReport



#: Columns a terminal table leaves out when the full set would not fit (CSV and files keep all).
SECONDARY = ("late_before_close", "late_after_close", "authorised_absence_pct", "unauthorised_absence_pct",
             "severe_absence_pupils", "persistent_absence_pupils", "attended_sessions", "overall_absence_pct",
             "minutes_late", "year_group", "severe_absence_pct", "severe_absence", "authorised_absences", "pupils",
             # attendance triggers
             "description", "evidence", "measure", "ladder", "letter", "window_end", "window_start", "evidence_sessions",
             # attendance codes (what each category counts as is in the method)
             "possible_session", "attendance", "aliases", "late", "valid_from", "valid_until",
             # attendance history, and the triggers on a narrow terminal
             "policy", "stage", "threshold", "status")
#: Values up to this wide never wrap, even with spaces in them ("Year 6", "4 or more").
SHORT = 12
#: A column of longer text wraps, between words, never narrower than its longest word; it is worth
#: keeping if it can be this wide.
READABLE = 30
#: Free text longer than READABLE (a detail, a description) may be narrower than its longest word,
#: down to this: a longer word there is folded.
WORD = 16


def print_table(frame: pl.DataFrame, title: str, caption: str | None = None, keep: tuple[str, ...] = (),
                hidden: pl.DataFrame | None = None, total: bool = False) -> None:
    """A Rich table on stdout. Columns in SECONDARY are left out, least needed first, until the table
    fits the terminal; `keep` (e.g. the --by columns) are never left out.

    Figures, dates, identifiers, codes and short values are never wrapped or cut; long text
    (a detail, a description, a code's meaning) takes the wrapping, between words, and no heading
    is split inside a word.

    `hidden`: a boolean per figure, true where it is suppressed (written `c`); `total`: the last row is
    the whole school's, set apart by a line."""
    from rich.console import Console
    from rich.table import Table

    import polars as pl

    suppressed = hidden
    console = Console(highlight=False)
    shown = frame
    if {"surname", "forename"} <= set(frame.columns):  # one column for the name saves room
        name = pl.concat_str(pl.col("surname"), pl.col("forename"), separator=", ", ignore_nulls=True)
        shown = frame.with_columns(name.alias("surname")).drop("forename").rename({"surname": "name"})
    layout = {column: _Column.of(shown, column) for column in shown.columns}
    for column in SECONDARY:  # drop the least needed columns until the table fits the terminal
        if _width(layout.values()) <= console.width:
            break
        if column in layout and column not in keep:
            shown = shown.drop(column)
            del layout[column]
    # still too wide even with the text wrapped: the last columns go, said below, rather than be cut off
    for column in reversed(shown.columns[1:]):
        if _width(layout.values(), narrowest=True) <= console.width:
            break
        if column not in keep:
            shown = shown.drop(column)
            del layout[column]
    hidden = [c for c in frame.columns if c not in shown.columns and c not in ("surname", "forename")]
    if hidden:
        note = f"Not shown here: {', '.join(hidden)} (use -f csv or -o FILE.xlsx)."
        caption = f"{caption}\n{note}" if caption else note
    table = Table(title=title, caption=caption, caption_justify="left", header_style="bold", show_lines=False)
    widths = _share(layout.values(), console.width)
    for spec in layout.values():
        if spec.wraps:
            table.add_column(spec.heading, overflow="fold", width=widths[spec])
        else:
            table.add_column(spec.heading, justify="right" if spec.numeric else "left", no_wrap=True,
                             min_width=spec.narrowest)
    from attendance_cli.statistics.suppression import HIDDEN

    masks = suppressed.iter_rows(named=True) if suppressed is not None else iter(lambda: {}, None)
    for number, (row, mask) in enumerate(zip(shown.iter_rows(), masks)):  # display only: one Rich row per result row
        table.add_row(*[HIDDEN if mask.get(c) else cell(c, v) for c, v in zip(shown.columns, row)],
                      end_section=total and number == shown.height - 2, style="bold" if total and number == shown.height - 1 else None)
    console.print(table)


class _Column:
    """How one column is laid out: its heading, whether it wraps, and how narrow it may get."""

    def __init__(self, heading: str, wraps: bool, numeric: bool, narrowest: int, widest: int) -> None:
        self.heading = heading
        self.wraps = wraps  # long text: wraps between words
        self.numeric = numeric  # right-aligned
        self.narrowest = narrowest  # never narrower: the widest value, or for text its longest word
        self.widest = widest  # the widest value (or heading word): never wider
        self.readable = max(narrowest, min(widest, READABLE)) if wraps else widest  # to be read comfortably

    @classmethod
    def of(cls, frame: pl.DataFrame, column: str) -> _Column:
        import polars as pl

        dtype = frame.schema[column]
        cells = [cell(column, v) for v in frame[column].to_list()]  # every row: Rich measures them all too
        widest = max([len(c) for c in cells], default=0)
        numeric = dtype.is_numeric()
        wraps = not (numeric or dtype == pl.Boolean or dtype.is_temporal()) and widest > SHORT and any(
            " " in c for c in cells)
        longest_word = max([len(w) for c in cells for w in c.split()], default=0)
        heading = heading_of(column, long=False)
        heading_word = max(len(w) for w in heading.split())
        if wraps:
            narrowest = max(min(longest_word, WORD) if widest > READABLE else longest_word, heading_word)
            if narrowest < widest:
                return cls(heading, True, False, narrowest, max(widest, heading_word))
        narrowest = max(widest, heading_word)
        return cls(_stack(heading, narrowest), False, numeric, narrowest, narrowest)


def _stack(heading: str, width: int) -> str:
    """A heading in lines of at most `width` (or one word), split between words: a column that
    never wraps would otherwise cut its heading short."""
    lines: list[str] = []
    for given in heading.split("\n"):
        line = ""
        for word in given.split():
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return "\n".join(lines)


def _share(columns, width: int) -> dict[_Column, int]:
    """The width of each wrapping column: what the others leave of the terminal, shared out evenly,
    each at least its narrowest and at most its widest. (Rich's own sharing can take a column below
    its narrowest while another still has room, and then draws the table wider than the terminal.)"""
    columns = list(columns)
    wrapping = [spec for spec in columns if spec.wraps]
    widths = {spec: spec.narrowest for spec in wrapping}
    room = width - 1 - sum(spec.narrowest + 3 for spec in columns)
    growing = [spec for spec in wrapping if widths[spec] < spec.widest]
    while room > 0 and growing:
        step = max(1, room // len(growing))
        for spec in list(growing):
            added = min(step, spec.widest - widths[spec], room)
            widths[spec] += added
            room -= added
            if widths[spec] >= spec.widest:
                growing.remove(spec)
            if room <= 0:
                break
    return widths


def _width(columns, narrowest: bool = False) -> int:
    """The width a table needs to be read comfortably (every column at its readable width), or at
    all (`narrowest`), with borders and padding."""
    return 1 + sum((spec.narrowest if narrowest else spec.readable) + 3 for spec in columns)


def validation_text(report: ValidationReport, outputs: list[str], quality=None) -> str:
    """The validation report as plain text, from templates/ingest_report.txt.j2."""
    from attendance_cli.ingest.dates import format_date
    from attendance_cli.resources import templates_folder
    from attendance_cli.templating import environment

    env = environment([templates_folder()], "plain")
    env.filters["date"] = format_date
    env.filters["n"] = lambda value: f"{value:,}"
    env.filters["plural"] = plural
    template = env.get_template("ingest_report.txt.j2")
    codes = report.code_counts.to_dicts() if report.code_counts is not None else []
    rejects = report.rejects.head(20).to_dicts() if report.rejects is not None else []
    return template.render(report=report, codes=codes, rejects=rejects, outputs=outputs,
                           reject_total=report.rejects.height if report.rejects is not None else 0,
                           quality=quality.as_dict() if quality is not None else None)


def validation_json(report: ValidationReport, outputs: list[str], quality=None) -> str:
    import json

    found = report.as_dict(outputs)
    if quality is not None:
        found["data_quality"] = quality.as_dict()
    return json.dumps(found, indent=2, ensure_ascii=False) + "\n"
