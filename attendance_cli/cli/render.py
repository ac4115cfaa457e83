"""Showing results on a terminal: Rich tables and the text validation report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

    from attendance_cli.ingest import ValidationReport

HEADINGS = {
    "pupil_id": "Pupil", "surname": "Surname", "forename": "Forename", "year_group": "Year", "form": "Form",
    "possible_sessions": "Possible", "attended_sessions": "Attended", "authorised_absences": "Auth",
    "unauthorised_absences": "Unauth", "late_before_close": "Late (L)", "late_after_close": "Late (U)",
    "minutes_late": "Mins late", "attendance_pct": "Attendance %", "persistent_absence": "PA",
    "severe_absence": "SA", "days_missed": "Days missed", "pupils": "Pupils",
    "overall_absence_pct": "Absence %", "authorised_absence_pct": "Auth %", "unauthorised_absence_pct": "Unauth %",
    "persistent_absence_pupils": "PA pupils", "persistent_absence_pct": "PA %", "severe_absence_pupils": "SA pupils",
    "severe_absence_pct": "SA %",
}


def plural(count: int, word: str) -> str:
    """`1 pupil`, `2 pupils`, `1,234 marks`."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def percentage(value: float | None) -> str:
    """Two decimals, rounded down: a pupil on 89.996% shows 89.99%, never 90.00%, so the table
    and the persistent-absence flag always agree (possible sessions under 1,000)."""
    if value is None:
        return ""
    return f"{math.floor(value * 100 + 1e-9) / 100:.2f}"


def cell(column: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if column.endswith("_pct"):
        return percentage(value)  # type: ignore[arg-type]
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def print_table(frame: pl.DataFrame, title: str, caption: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=caption, caption_justify="left", header_style="bold", show_lines=False)
    for column, dtype in frame.schema.items():
        numeric = dtype.is_numeric()
        table.add_column(HEADINGS.get(column, column), justify="right" if numeric else "left",
                         no_wrap=column in ("pupil_id",))
    for row in frame.iter_rows():  # display only: one Rich row per result row
        table.add_row(*[cell(c, v) for c, v in zip(frame.columns, row)])
    Console(highlight=False).print(table)


def template_dir() -> Path:
    """Templates ship inside the wheel; in a source checkout they are at the top level."""
    here = Path(__file__).resolve().parent.parent
    packaged = here / "templates"
    return packaged if packaged.is_dir() else here.parent / "templates"


def validation_text(report: ValidationReport, outputs: list[str]) -> str:
    """The validation report as plain text, from templates/ingest_report.txt.j2."""
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from attendance_cli.ingest.dates import format_date

    env = ImmutableSandboxedEnvironment(loader=FileSystemLoader(template_dir()), undefined=StrictUndefined,
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
