"""`attendance calendar`: the half terms and school weeks the other commands will use."""

from __future__ import annotations

from pathlib import Path

import typer

from attendance_cli.cli import common as c


def register(app: typer.Typer) -> None:
    app.command("calendar", short_help="Show the half terms and school weeks found in the exports.", epilog=c.examples(
        "attendance calendar autumn.csv spring.csv", "attendance calendar *.csv --calendar our-calendar.toml"))(calendar)


def calendar(
    files: c.Files,
    calendar: c.CalendarOpt = None,
    fmt: c.FormatOpt = None,
    output: c.OutOpt = None,
    codes: c.CodesOpt = "dfe",
    source: c.SourceOpt = None,
    maps: c.MapOpt = None,
    encoding: c.EncodingOpt = None,
    blank_means: c.BlankOpt = None,
    lenient: c.LenientOpt = False,
    rejects: c.RejectsOpt = Path("attendance-rejects.csv"),
    quiet: c.QuietOpt = False,
) -> None:
    """Show the half terms and school weeks, inferred from the exports or read from --calendar.

    A school day is a day with a mark that is not a closure code (#); a whole Monday–Friday
    week without school days ends a half term; terms are autumn (Aug–Dec), spring (Jan to
    Easter Sunday) and summer.
    """
    with c.user_errors():
        import polars as pl

        from attendance_cli.dataset import Dataset
        from attendance_cli.outputs import choose_format, write_frame

        c.check_rejects_writable(lenient, rejects)
        options = c.ingest_options(codes, source, maps, encoding, lenient, c.Duplicates.error, blank_means)
        data = Dataset.open(files, options)
        with c.progress("Reading dates"):
            # every row checked as every command checks it: a mistyped date is an error (or, --lenient, a
            # row set aside and said), never a school day quietly missing from the calendar
            data.read_once()
            checked = data.checked
            cal, _ = data.calendar(calendar)
        if checked.report.rejected:  # before the output: a failure here leaves nothing written
            c.write_rejects(checked, rejects)
        rows = [{
            "school_year": h.school_year, "half_term": h.name, "start": h.start, "end": h.end,
            "school_days": sum(1 for d in cal.school_days if h.start <= d <= h.end),
            "school_weeks": len(cal.school_weeks(h.start, h.end)),
        } for h in cal.half_terms]
        frame = pl.DataFrame(rows, schema={"school_year": pl.String, "half_term": pl.String, "start": pl.Date,
                                           "end": pl.Date, "school_days": pl.Int64, "school_weeks": pl.Int64})
        out_format = choose_format(fmt.value if fmt else None, output, c.stdout_is_terminal())
        if out_format == "table":
            from attendance_cli.cli.render import print_table

            shown = frame.with_columns(pl.col("start", "end").dt.strftime("%d/%m/%Y"))
            print_table(shown, title="School calendar", caption=f"Half terms {cal.source}.")
        else:
            write_frame(frame, out_format, output, sheet="calendar")
        if checked.report.rejected:
            c.reading_summary(checked, rejects, quiet)
            c.exit_for(checked)
