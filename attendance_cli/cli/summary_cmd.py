"""`attendance summary`: DfE attendance figures per pupil or per group."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from attendance_cli.cli import common as c


def register(app: typer.Typer) -> None:
    app.command(
        "summary",
        short_help="Attendance per pupil or per group, by the DfE method.",
        epilog=c.examples(
            "attendance summary export.csv                          # every pupil, every date",
            "attendance summary *.csv --window ytd --by year_group  # school year to date, per year",
            "attendance summary *.csv --window last-week -o week.csv # last school week, for Excel",
            "attendance summary *.csv --by form -o forms.xlsx       # a spreadsheet per form",
            "attendance summary *.csv --window ytd --cohort dfe     # as national figures count",
            "attendance summary lessons.csv --codes college --by subject"),
    )(summary)


def summary(
    files: c.Files,
    by: Annotated[Optional[list[str]], typer.Option(
        "--by", metavar="COLUMN", help="Group by a pupil column (year_group, form, or any attribute in the export, e.g. sen) or, "
                     "for lesson registers, subject, group_code or period. Repeatable.",
        rich_help_panel="Grouping")] = None,
    window: c.WindowOpt = None,
    as_of: c.AsOfOpt = None,
    start: c.FromOpt = None,
    end: c.ToOpt = None,
    calendar: c.CalendarOpt = None,
    cohort: c.CohortOpt = c.Cohort.all,
    fmt: c.FormatOpt = None,
    output: c.OutOpt = None,
    codes: c.CodesOpt = "dfe",
    source: c.SourceOpt = None,
    maps: c.MapOpt = None,
    encoding: c.EncodingOpt = None,
    lenient: c.LenientOpt = False,
    rejects: c.RejectsOpt = Path("attendance-rejects.csv"),
    duplicates: c.DuplicatesOpt = c.Duplicates.error,
    blank_means: c.BlankOpt = None,
    quiet: c.QuietOpt = False,
) -> None:
    """Attendance per pupil (or per group with --by) by the DfE method.

    Columns: possible and attended sessions, authorised and unauthorised absences, lates before
    and after the register closed, minutes late, attendance %, persistent absence (10% or more
    missed), severe absence (50% or more) and days missed.
    """
    with c.user_errors():
        from attendance_cli.dataset import Dataset
        from attendance_cli.outputs import choose_format, write_frame
        from attendance_cli.statistics import METHOD, group_statistics, pupil_statistics

        options = c.ingest_options(codes, source, maps, encoding, lenient, duplicates, blank_means)
        data = Dataset.open(files, options)
        export = data.export
        keys = _check_by(export, by or [])
        with c.progress(f"Reading {len(files)} export{'s' if len(files) != 1 else ''}"):
            chosen = c.with_cohort(_window(data, window, as_of, start, end, calendar), cohort)
            result = data.tally(chosen, keys, attributes=["surname", "forename", "year_group", "form", *keys])
        if start or end:
            _require_overlap(chosen, result.report)
        stats = pupil_statistics(result, keys)
        if keys:
            stats = group_statistics(stats, keys, lessons=export.shape == "lessons")
        out_format = choose_format(fmt.value if fmt else None, output, c.stdout_is_terminal())
        unit = "contact points (lessons)" if export.shape == "lessons" else "sessions"
        method = METHOD
        if chosen is not None and chosen.dfe_cohort:
            from attendance_cli.cohort import DESCRIPTION

            method = f"{METHOD} {DESCRIPTION}"
        if out_format == "table":
            from attendance_cli.cli.render import print_table

            what = f"by {', '.join(keys)}" if keys else "per pupil"
            print_table(stats, title=f"Attendance {what}: {result.report.window}",
                        caption=f"Counted in {unit}. {method}", keep=tuple(keys))
        else:
            write_frame(stats, out_format, output, sheet="summary",
                        metadata={"window": result.report.window, "method": method, "unit": unit})
        if result.report.rejected:
            c.write_rejects(result, rejects)
        c.reading_summary(result, rejects, quiet)
        c.exit_for(result)


def _window(data, window: c.WindowName | None, as_of: str | None, start: str | None, end: str | None,
            calendar: Path | None):
    """The window asked for. A named window that holds no school day (a mistyped --as-of, a
    holiday week) is refused, as `digest` and `slips` refuse it, instead of an empty table that
    reads as "nobody was absent"; the calendar this needs is the one the window is made from."""
    if window is None or start or end:
        return c.resolve_window(data.export, window, as_of, start, end, calendar)
    known = data.calendar(calendar)
    chosen = c.resolve_window(data.export, window, as_of, start, end, calendar, known=known)
    c.require_marks(chosen, known[0].school_days)
    return chosen


def _require_overlap(window, report) -> None:
    """--from/--to entirely outside the exports' dates is refused like an empty named window (from
    the pass's own date range: no second read)."""
    from attendance_cli.errors import UsageError
    from attendance_cli.ingest.dates import format_date

    first, last = report.first_date, report.last_date
    if first is None or (window.end or last) < first or (window.start or first) > last:
        raise UsageError(f"The window {window.describe()} holds no date of the exports"
                         + (f", which run from {format_date(first)} to {format_date(last)}." if first else "."),
                         fix="Check --from and --to (dates are day first).")


def _check_by(export, by: list[str]) -> list[str]:
    from attendance_cli.errors import UsageError
    from attendance_cli.ingest.headers import PUPIL_FIELDS

    allowed = list(dict.fromkeys(["year_group", "form", *PUPIL_FIELDS, *export.attributes, *export.mark_fields,
                                  *([] if export.shape == "lessons" else ["session"])]))
    allowed = [a for a in allowed if a not in ("full_name", "surname", "forename", "upn", "admission_number",
                                                 "admission_date", "leaving_date", "date_of_birth")]
    for key in by:
        if key not in allowed:
            raise UsageError(f"--by {key!r} is not a column of these exports.",
                             fix=f"Group by one of: {', '.join(allowed)}.")
    return list(dict.fromkeys(by))
