"""`attendance trust summary|triggers|report`: every school of a trust or local authority, each run
as its own school, side by side and trust-wide."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from attendance_cli.cli import common as c

if TYPE_CHECKING:
    from attendance_cli.trust import Trust

SCHOOLS = "Schools"

app = typer.Typer(
    name="trust", no_args_is_help=True, rich_markup_mode=None,
    help="Many schools: a trust's or local authority's schools, listed in a trust file (trust.toml) or told apart "
         "by a school column in the exports. Each school is counted on its own, with its own calendar, policy and "
         "ledger, exactly as its own run counts it; the trust-wide figures are worked out from the schools' summed "
         "sessions. Schools run in parallel on this machine, or on a Dask cluster with --scheduler.",
    epilog=c.examples(
        "attendance trust summary trust.toml                        # each school and the trust, every date",
        "attendance trust summary trust.toml --window ytd --by year_group -o trust.xlsx",
        "attendance trust summary la-export.csv                     # split by the export's School column",
        "attendance trust triggers trust.toml --new",
        "attendance trust report trust.toml --out trust.html --suppress-below 10",
        "attendance trust summary region.toml --scheduler tcp://10.0.0.5:8786"),
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="trust", short_help="Many schools (a trust or local authority): summary, triggers and "
                                                 "report per school and trust-wide.")


Sources = Annotated[list[Path], typer.Argument(
    help="The trust file (trust.toml: each school's name, DfE number, phase and exports), or exports with a school "
         "column (School, School Name, DfE Number, URN, Establishment), split into one school per value.",
    exists=True, dir_okay=False, readable=True, show_default=False, metavar="TRUST.toml|EXPORT")]
JobsOpt = Annotated[Optional[int], typer.Option(
    "--jobs", "-j", metavar="N", min=1, help="Schools run at once, each in a worker process. Default: one per CPU; "
    "1 runs them one after another in this process.", rich_help_panel=SCHOOLS)]
SchedulerOpt = Annotated[Optional[str], typer.Option(
    "--scheduler", metavar="ADDRESS", help="Run the schools on a Dask distributed cluster (tcp://HOST:8786) instead of "
    "this machine; needs the extra: pip install 'attendance-cli[dask]'. Every worker must see the exports at the same "
    "paths (a shared folder) and have the same version of attendance installed.", rich_help_panel=SCHOOLS)]


@contextlib.contextmanager
def _trust(sources: list[Path], policy: str | None = None) -> Iterator[Trust]:
    """The trust file's schools, or the exports split by their school column (into a private
    temporary folder, removed when the run ends)."""
    from dataclasses import replace

    if len(sources) == 1 and sources[0].suffix.lower() == ".toml":
        from attendance_cli.trust import load_trust

        trust = load_trust(sources[0])
        if policy is not None:  # instead of the trust's own default; a school naming its own keeps it
            trust = replace(trust, schools=tuple(s if s.own_policy else replace(s, policy=_policy_path(policy))
                                                 for s in trust.schools))
        yield trust
        return
    import tempfile

    from attendance_cli.trust.split import split_by_school

    with tempfile.TemporaryDirectory(prefix="attendance-trust-") as folder:
        chosen = _policy_path(policy) if policy else "dfe-national"
        trust = split_by_school(sources, Path(folder), policy=chosen)
        yield replace(trust, schools=tuple(replace(s, policy=chosen) for s in trust.schools))


def _policy_path(policy: str) -> str:
    if c.names_a_file(policy, (".toml",)):
        return str(Path(policy).resolve())
    return policy


def _where(jobs: int | None, scheduler: str | None):
    from attendance_cli.jobs.trust import Where

    return Where(jobs, scheduler)


def _reading(schools, quiet: bool) -> None:
    """One line on stderr: how many schools, files, marks and pupils were read."""
    if quiet:
        return
    from attendance_cli.formatting import plural

    files = sum(s.reading.files for s in schools)
    marks = sum(s.reading.marks for s in schools)
    pupils = sum(s.reading.pupils for s in schools)
    windows = sorted({s.reading.window for s in schools})
    counting = windows[0] if len(windows) == 1 else "each school's own window"
    console = c.stderr_console()
    console.print(c.escape(
        f"Read {plural(len(schools), 'school')} ({plural(files, 'file')}): {plural(marks, 'mark')} for "
        f"{plural(pupils, 'pupil')} (pupils are counted per school); counting {counting}."))
    # what a school's own run would say, said here per school (no pupil names: stderr ends up in cron logs)
    for s in schools:
        if s.reading.unmarked:
            console.print(c.escape(f"  {s.school}: {plural(s.reading.unmarked, 'unmarked session')} (attendance "
                                   "ingest on its exports lists them)."))
    lasts = {s.reading.last for s in schools if s.reading.last is not None}
    if len(lasts) > 1:
        latest = max(lasts)
        behind = [s for s in schools if s.reading.last is not None and s.reading.last < latest]
        console.print(c.escape("Note: the schools' exports end on different days ("
                               + "; ".join(f"{s.school} on {s.reading.last:%d/%m/%Y}" for s in behind)
                               + f", the others on {latest:%d/%m/%Y}): a named window is each school's own, as of "
                               "its own last date."))


@app.command("summary", short_help="Attendance per school and trust-wide (from summed sessions).", epilog=c.examples(
    "attendance trust summary trust.toml                       # a row per school and one for the trust",
    "attendance trust summary trust.toml --window ytd --by year_group",
    "attendance trust summary trust.toml --pupils -o pupils.csv  # every pupil, with the school's columns",
    "attendance trust summary la-export.csv -f json            # split by the School column",
    "attendance trust summary trust.toml --jobs 4",
    "attendance trust summary region.toml --scheduler tcp://10.0.0.5:8786"))
def summary(
    sources: Sources,
    by: Annotated[Optional[list[str]], typer.Option(
        "--by", metavar="COLUMN", help="Within each school, group by a pupil column (year_group, form, ...); the "
        "trust-wide rows are then per group too. Repeatable.", rich_help_panel="Grouping")] = None,
    pupils: Annotated[bool, typer.Option("--pupils", help="One row per pupil (with the school's name and DfE number) "
                                         "instead of per school.", rich_help_panel="Grouping")] = False,
    window: c.WindowOpt = None,
    as_of: c.AsOfOpt = None,
    start: c.FromOpt = None,
    end: c.ToOpt = None,
    cohort: c.CohortOpt = c.Cohort.all,
    jobs: JobsOpt = None,
    scheduler: SchedulerOpt = None,
    fmt: c.FormatOpt = None,
    output: c.OutOpt = None,
    quiet: c.QuietOpt = False,
) -> None:
    """Attendance per school and trust-wide, by the DfE method: the figures each school's own
    `attendance summary` gives (with its own calendar for a named window), and a row 'All schools'
    worked out from the schools' summed pupils and sessions, never from their percentages.

    A named window (--window half-term) is each school's own: two schools whose half terms differ
    each count their own. Pupil ids are the school's own: the same id at two schools is two pupils.
    """
    with c.user_errors():
        from attendance_cli.errors import UsageError
        from attendance_cli.jobs.trust import TrustSummaryOptions, trust_summary

        if pupils and by:
            raise UsageError("--pupils and --by cannot be combined.", fix="Use one: per pupil, or per group.")
        options = TrustSummaryOptions(c.window_choice(window, as_of, start, end, cohort), tuple(by or ()), pupils,
                                      _where(jobs, scheduler))
        with _trust(sources) as trust, c.progress(f"Counting {len(trust.schools)} schools"):
            result = trust_summary(trust, options)
        _show(result, fmt, output)
        _reading(result.schools, quiet)
        for school in result.schools:  # a school with nobody counted has no row: said, never silently left out
            if school.total.height == 0 or int(school.total["pupils"].sum() or 0) == 0:
                c.stderr_console().print(c.escape(
                    f"Note: {school.school}: no pupil counted in {school.reading.window} (a holiday there, or no "
                    "pupil of the cohort): it has no row, and nothing of it is in the trust's row."))


def _show(result, fmt, output: Path | None) -> None:
    from attendance_cli.outputs import choose_format, write_frame

    out_format = choose_format(fmt.value if fmt else None, output, c.stdout_is_terminal())
    if out_format == "table":
        from attendance_cli.cli.render import print_table

        what = f"by school and {', '.join(result.by)}" if result.by else "by school"
        from attendance_cli.calendar import STAMP_COLUMNS

        one_window = result.table["window"].n_unique() == 1  # else each school's window is a column
        dates = [c for c in STAMP_COLUMNS if c != "window" or one_window]  # the title says them
        print_table(result.table.drop(dates),
                    title=f"Attendance {what}: {result.window_text}",
                    caption=f"Counted in {result.unit}. {result.method}", keep=("school", *result.by))
    else:
        write_frame(result.table, out_format, output, sheet="trust",
                    metadata={"window": result.window_text, "method": result.method, "unit": result.unit})


@app.command("triggers", short_help="Every school's pupils who meet a rule of its policy, with the school's columns.", epilog=c.examples(
    "attendance trust triggers trust.toml                # every school's events as of its last date",
    "attendance trust triggers trust.toml --new -o new-this-week.csv",
    "attendance trust triggers la-export.csv --policy absence-levels"))
def triggers(
    sources: Sources,
    policy: Annotated[Optional[str], typer.Option(
        "--policy", "-p", metavar="NAME|FILE", help="The policy of every school that does not name its own in the "
        "trust file (default: the trust file's, else dfe-national).", callback=c.policy_option)] = None,
    as_of: c.AsOfOpt = None,
    new_only: Annotated[bool, typer.Option("--new", help="Only events not yet recorded in each school's ledger.",
                                           rich_help_panel="Ledger")] = False,
    jobs: JobsOpt = None,
    scheduler: SchedulerOpt = None,
    fmt: c.FormatOpt = None,
    output: c.OutOpt = None,
    quiet: c.QuietOpt = False,
) -> None:
    """Every pupil of every school who meets a rule of the school's policy, as `attendance triggers`
    lists them, with the school's name and DfE number first. Each school is evaluated with its own
    policy, calendar and ledger (the trust file's `ledger` for the school, else its policy's): a
    school with no ledger has nothing recorded, so all its events are new. Nothing is recorded: run
    `attendance triggers --record` (or `letters`) in each school.
    """
    with c.user_errors():
        from attendance_cli.jobs.trust import TrustTriggersOptions, trust_triggers
        from attendance_cli.outputs import choose_format, write_frame

        out_format = choose_format(fmt.value if fmt else None, output, c.stdout_is_terminal())
        options = TrustTriggersOptions(c.parse_cli_date(as_of, "--as-of"), new_only, _where(jobs, scheduler))
        with _trust(sources, policy) as trust, c.progress(f"Evaluating {len(trust.schools)} schools"):
            result = trust_triggers(trust, options)
        if out_format == "table":
            from attendance_cli.cli.render import print_table

            print_table(result.table, title="Rules met, by school", keep=("school",),
                        caption="Each school's own policy and ledger: "
                                + "; ".join(f"{s.school}: {s.policy} as of {c.format_day(s.as_of)}, ledger "
                                            f"{s.ledger or 'none'}" for s in result.schools) + ".")
        else:
            write_frame(result.table, out_format, output, sheet="triggers")
        if not quiet:
            _reading(result.schools, quiet)
            from attendance_cli.formatting import plural

            for s in result.schools:
                line = f"{s.school}: {plural(s.counts['new'], 'new event')}"
                if s.counts["recorded"]:
                    line += f"; {plural(s.counts['recorded'], 'recorded state')} still met"
                if s.counts["stale"]:
                    line += f"; {plural(s.counts['stale'], 'recorded event')} stale"
                c.stderr_console().print(c.escape(line + "."))


@app.command("report", short_help="The schools side by side (HTML or PDF), small numbers suppressed.", epilog=c.examples(
    "attendance trust report trust.toml --out trust.html              # each school's current half term",
    "attendance trust report trust.toml --window ytd --out trust.pdf --suppress-below 10"))
def report(
    sources: Sources,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="trust.html or trust.pdf (written whole or not at all).",
                                      dir_okay=False, rich_help_panel="Report")],
    window: c.WindowOpt = None,
    as_of: c.AsOfOpt = None,
    start: c.FromOpt = None,
    end: c.ToOpt = None,
    title: Annotated[Optional[str], typer.Option("--title", help="The report's title.", rich_help_panel="Report")] = None,
    suppress_below: Annotated[int, typer.Option(
        "--suppress-below", metavar="N", min=1, help="Schools of fewer than N pupils, and counts of persistently or "
        "severely absent pupils from 1 to N-1, are suppressed, with any further figure from which one could be "
        "worked out.", rich_help_panel="Report")] = 5,
    jobs: JobsOpt = None,
    scheduler: SchedulerOpt = None,
    quiet: c.QuietOpt = False,
) -> None:
    """The schools side by side (HTML or PDF): each school's attendance, absence, persistent and severe
    absence for its window (default: its own current half term), as its own `attendance report`
    gives them, with the national figures for its phase, and the trust's figures from summed
    sessions. Counts only: no pupil is named. Small numbers are suppressed.
    """
    with c.user_errors():
        from attendance_cli.errors import UsageError
        from attendance_cli.jobs.trust import TrustReportOptions, trust_report
        from attendance_cli.outputs import atomic_write
        from attendance_cli.trust.render import to_html, to_pdf

        kind = out.suffix.lower().lstrip(".")
        if kind not in ("html", "pdf"):
            raise UsageError(f"Cannot tell the trust report's format from {out.name}.", fix="Name it .html or .pdf.")
        options = TrustReportOptions(c.window_choice(window, as_of, start, end), suppress_below, title,
                                     _where(jobs, scheduler))
        with _trust(sources) as trust, c.progress(f"Working out {len(trust.schools)} schools' figures"):
            result = trust_report(trust, options)
        if kind == "html":
            text = to_html(result)
            atomic_write(out, lambda temp: temp.write_text(text, encoding="utf-8"))
        else:
            import datetime as dt

            pdf = to_pdf(result, dt.date.today())
            atomic_write(out, lambda temp: temp.write_bytes(pdf))
        if not quiet:
            from attendance_cli.formatting import plural

            c.stderr_console().print(c.escape(f"Wrote {out}: {plural(len(result.schools), 'school')}."))
