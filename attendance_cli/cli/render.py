"""Showing results on a terminal: Rich tables and the text validation report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from attendance_cli.formatting import cell, percentage, plural  # noqa: F401  (plural is used by the commands)

if TYPE_CHECKING:
    import polars as pl

    from attendance_cli.ingest import ValidationReport

HEADINGS = {
    "pupil_id": "Pupil", "name": "Name", "surname": "Surname", "forename": "Forename", "year_group": "Year",
    "form": "Form", "possible_sessions": "Possible", "attended_sessions": "Attended",
    "authorised_absences": "Auth\nabsent", "unauthorised_absences": "Unauth\nabsent", "late_before_close": "Late\n(L)",
    "late_after_close": "Late\n(U)", "minutes_late": "Mins\nlate", "attendance_pct": "Attend\n%",
    "persistent_absence": "PA", "severe_absence": "SA", "days_missed": "Days\nmissed", "pupils": "Pupils",
    "overall_absence_pct": "Absence\n%", "authorised_absence_pct": "Auth\n%", "unauthorised_absence_pct": "Unauth\n%",
    "persistent_absence_pupils": "PA\npupils", "persistent_absence_pct": "PA\n%", "severe_absence_pupils": "SA\npupils",
    "severe_absence_pct": "SA\n%",
}


#: Columns a terminal table leaves out when the full set would not fit (CSV and files keep all).
SECONDARY = ("late_before_close", "late_after_close", "authorised_absence_pct", "unauthorised_absence_pct",
             "severe_absence_pupils", "persistent_absence_pupils", "attended_sessions", "overall_absence_pct",
             "minutes_late", "year_group", "severe_absence_pct", "severe_absence", "authorised_absences", "pupils",
             # attendance triggers
             "description", "evidence", "measure", "ladder", "letter", "window_end", "window_start", "evidence_sessions")


def print_table(frame: pl.DataFrame, title: str, caption: str | None = None, keep: tuple[str, ...] = ()) -> None:
    """A Rich table on stdout. Columns in SECONDARY are left out, least needed first, until the table
    fits the terminal; `keep` (e.g. the --by columns) are never left out."""
    from rich.console import Console
    from rich.table import Table

    import polars as pl

    console = Console(highlight=False)
    shown = frame
    if {"surname", "forename"} <= set(frame.columns):  # one column for the name saves room
        name = pl.concat_str(pl.col("surname"), pl.col("forename"), separator=", ", ignore_nulls=True)
        shown = frame.with_columns(name.alias("surname")).drop("forename").rename({"surname": "name"})
    for column in SECONDARY:  # drop the least needed columns until the table fits the terminal
        if _width(shown) <= console.width:
            break
        if column in shown.columns and column not in keep:
            shown = shown.drop(column)
    hidden = [c for c in frame.columns if c not in shown.columns and c not in ("surname", "forename")]
    if hidden:
        note = f"Not shown here: {', '.join(hidden)} (use -f csv or -o FILE.xlsx)."
        caption = f"{caption}\n{note}" if caption else note
    table = Table(title=title, caption=caption, caption_justify="left", header_style="bold", show_lines=False)
    for column, dtype in shown.schema.items():
        heading = HEADINGS.get(column, column)
        if dtype.is_numeric() or dtype == pl.Boolean or column in ("pupil_id", "rule_id"):
            # figures are never cut: Rich narrows the text columns instead
            widest = max([len(line) for line in heading.split("\n")] + [len(cell(column, v)) for v in shown[column].to_list()])
            table.add_column(heading, justify="right" if dtype.is_numeric() else "left", no_wrap=True, min_width=widest)
        else:
            table.add_column(heading, overflow="fold")
    for row in shown.iter_rows():  # display only: one Rich row per result row
        table.add_row(*[cell(c, v) for c, v in zip(shown.columns, row)])
    console.print(table)


def _width(frame: pl.DataFrame) -> int:
    """Rough width of a table: the widest of heading and cells, plus borders and padding."""
    total = 1
    for column in frame.columns:
        cells = [len(cell(column, v)) for v in frame[column].head(200).to_list()]
        heading = max(len(line) for line in HEADINGS.get(column, column).split("\n"))
        total += max([heading, *cells]) + 3
    return total


def validation_text(report: ValidationReport, outputs: list[str]) -> str:
    """The validation report as plain text, from templates/ingest_report.txt.j2."""
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from attendance_cli.ingest.dates import format_date
    from attendance_cli.resources import templates_folder

    env = ImmutableSandboxedEnvironment(loader=FileSystemLoader(templates_folder()), undefined=StrictUndefined,
                                        autoescape=False, trim_blocks=True, lstrip_blocks=True,
                                        keep_trailing_newline=True)
    env.filters["date"] = format_date
    env.filters["n"] = lambda value: f"{value:,}"
    env.filters["plural"] = plural
    template = env.get_template("ingest_report.txt.j2")
    codes = report.code_counts.to_dicts() if report.code_counts is not None else []
    rejects = report.rejects.head(20).to_dicts() if report.rejects is not None else []
    return template.render(report=report, codes=codes, rejects=rejects, outputs=outputs,
                           reject_total=report.rejects.height if report.rejects is not None else 0)


def validation_json(report: ValidationReport, outputs: list[str]) -> str:
    import dataclasses
    import json

    def plain(value: object) -> object:
        if hasattr(value, "isoformat"):
            return value.isoformat()  # type: ignore[union-attr]
        return value

    files = []
    for f in report.files:
        item = {k: plain(v) for k, v in dataclasses.asdict(f).items()}
        item["balanced"] = f.balanced
        files.append(item)
    data = {
        "files": files, "codes_table": report.codes_table, "window": report.window, "pupils": report.pupils,
        "marks": report.marks, "first_date": plain(report.first_date), "last_date": plain(report.last_date),
        "unmarked": report.unmarked, "duplicates_collapsed": report.duplicates_collapsed,
        "rejected": report.rejected, "furniture": report.furniture,
        "codes": report.code_counts.to_dicts() if report.code_counts is not None else [],
        "rejects": report.rejects.to_dicts() if report.rejects is not None else [],
        "outputs": outputs,
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
