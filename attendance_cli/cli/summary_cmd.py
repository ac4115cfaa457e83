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
    suppress_below: Annotated[Optional[int], typer.Option(
        "--suppress-below", metavar="N", min=1, help="With --by, for a table to share: groups of fewer than N pupils, "
        "and counts of persistently or severely absent pupils from 1 to N-1, are suppressed (written c), with any "
        "further figure from which one could be worked out.", rich_help_panel="Grouping")] = None,
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
        from attendance_cli.jobs import SummaryOptions, summary as job

        c.check_rejects_writable(lenient, rejects)
        if suppress_below is not None and not by:
            raise c.UsageError("--suppress-below is for tables of groups: a row per pupil names the pupil.",
                               fix="Add --by (e.g. --by year_group), or leave out --suppress-below.")
        data = Dataset.open(files, c.ingest_options(codes, source, maps, encoding, lenient, duplicates, blank_means))
        options = SummaryOptions(c.window_choice(window, as_of, start, end, cohort), tuple(by or ()), calendar,
                                 suppress_below)
        with c.progress(f"Reading {len(files)} export{'s' if len(files) != 1 else ''}"):
            result = job(data, options)
        if result.tally.report.rejected:  # before the output: a failure here leaves nothing written
            c.write_rejects(result.tally, rejects)
        _show(result, fmt, output, _codes_text(data.export.options.codes, codes))
        c.reading_summary(result.tally, rejects, quiet)
        c.exit_for(result.tally)


def _codes_text(table, given: str | None) -> str:
    """The code table for a workbook's About sheet: its name, its file if one was given, its codes."""
    from attendance_cli.formatting import plural

    where = f", from {Path(given).resolve()}" if given and ("/" in given or "\\" in given or given.endswith((".toml", ".csv"))) else ""
    return f"{table.name}{where} ({plural(len(table.codes), 'code')})"


def _show(result, fmt: c.OutputFormat | None, output: Path | None, codes_text: str = "") -> None:
    from attendance_cli.outputs import choose_format, write_frame

    out_format = choose_format(fmt.value if fmt else None, output, c.stdout_is_terminal())
    if out_format == "table":
        from attendance_cli.cli.render import print_table

        what = f"by {', '.join(result.by)}" if result.by else "per pupil"
        print_table(result.table, title=f"Attendance {what}: {result.window_text}",
                    caption=f"Counted in {result.unit}. {result.method}", keep=result.by, hidden=result.hidden,
                    total=bool(result.by))
    else:
        from attendance_cli.jobs.summary import ALL_PUPILS

        report = result.tally.report
        table = result.table
        totals = int(bool(result.by) and table.height > 0 and table[result.by[0]][-1] == ALL_PUPILS)
        write_frame(table, out_format, output, sheet="summary",
                    metadata={"window": result.window_text, "method": result.method, "unit": result.unit},
                    stamp=result.stamp, hidden=result.hidden, totals=totals,
                    about={"codes": codes_text or report.codes_table, "files": [f.path for f in report.files]})
