"""`attendance ingest`: read exports, check every row, print the validation report."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from attendance_cli.cli import common as c


class ReportFormat(str, Enum):
    text = "text"
    json = "json"


def register(app: typer.Typer) -> None:
    app.command(
        "ingest",
        short_help="Check exports row by row and print the validation report.",
        epilog=c.examples(
            "attendance ingest autumn.csv spring.csv                   # check two exports",
            "attendance ingest export.csv -o marks.parquet             # keep the checked marks",
            "attendance ingest export.csv --lenient --rejects bad.csv  # set bad rows aside",
            "attendance ingest *.csv --unmarked unmarked.csv           # every session left unmarked",
            "attendance ingest grid.csv --map 'Pupil Ref=pupil_id'     # name a column"),
    )(ingest)


def ingest(
    files: c.Files,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", metavar="FILE", help="Write the accepted, de-duplicated marks with pupil details to this .parquet file; "
                               "other commands read it faster than the CSVs.", dir_okay=False,
        rich_help_panel=c.OUTPUT)] = None,
    report_format: Annotated[ReportFormat, typer.Option(
        "--format", "-f", metavar="text|json", help="Validation report as text or JSON.", rich_help_panel=c.OUTPUT)] = ReportFormat.text,
    codes: c.CodesOpt = "dfe",
    source: c.SourceOpt = None,
    maps: c.MapOpt = None,
    encoding: c.EncodingOpt = None,
    lenient: c.LenientOpt = False,
    rejects: c.RejectsOpt = Path("attendance-rejects.csv"),
    duplicates: c.DuplicatesOpt = c.Duplicates.error,
    blank_means: c.BlankOpt = None,
    unmarked: Annotated[Optional[Path], typer.Option(
        "--unmarked", metavar="FILE", help="Write every unmarked session (pupil, date, session, file, line, and "
        "whether the pupil was on roll) to this CSV, to put right in the MIS.", dir_okay=False,
        rich_help_panel=c.OUTPUT)] = None,
) -> None:
    """Read register exports, check every row and print the validation report.

    Every row is accounted for: accepted, rejected with a reason, or skipped as report
    furniture (titles, totals, legends, blank lines). Stops with the file, line, column, value
    and a fix for any row it cannot use, unless --lenient.
    """
    with c.user_errors():
        from attendance_cli.dataset import Dataset
        from attendance_cli.jobs import ingest as job

        c.check_rejects_writable(lenient, rejects)
        data = Dataset.open(files, c.ingest_options(codes, source, maps, encoding, lenient, duplicates, blank_means))
        with c.progress(f"Reading {len(files)} export{'s' if len(files) != 1 else ''}"
                        + (f" and writing {output}" if output is not None else "")):
            done = job(data, output)
        result = done.tally
        written = [f"{output} ({result.report.marks:,} marks)"] if output is not None else []
        if unmarked is not None and done.quality is not None:
            from attendance_cli.outputs import write_frame

            write_frame(done.quality.unmarked, "csv", unmarked)
            written.append(f"{unmarked} ({done.quality.unmarked.height:,} unmarked sessions)")
        if result.report.rejected:
            c.write_rejects(result, rejects)
            written.append(f"{rejects} ({result.report.rejected:,} rejected rows)")
        from attendance_cli.cli.render import validation_json, validation_text

        text = validation_json(result.report, written, done.quality) if report_format == ReportFormat.json else \
            validation_text(result.report, written, done.quality)
        typer.echo(text, nl=False)
        c.exit_for(result)
