"""Options shared by every command, and the helpers that turn them into core objects.

Only the CLI imports Typer and Rich. Polars and the pipeline are imported inside the commands so
that `attendance --help` starts instantly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from attendance_cli.errors import EXIT_INTERRUPTED, AttendanceError, FileSystemError, MissingFileError, UsageError

if TYPE_CHECKING:
    from attendance_cli.calendar import Window
    from attendance_cli.ingest import Export, IngestOptions, Tally


class Source(str, Enum):
    arbor = "arbor"
    progresso = "progresso"
    sims = "sims"


class Duplicates(str, Enum):
    error = "error"
    keep_last = "keep-last"


class WindowName(str, Enum):
    week = "week"
    last_week = "last-week"
    half_term = "half-term"
    term = "term"
    ytd = "ytd"
    year = "year"


class Cohort(str, Enum):
    all = "all"
    dfe = "dfe"


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    xlsx = "xlsx"
    parquet = "parquet"


def examples(*lines: str) -> str:
    """An epilog of example commands that Click prints as written (the \\b stops re-wrapping)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


INGEST = "Reading exports"
WINDOW = "Choosing dates"
OUTPUT = "Output"

Files = Annotated[list[Path], typer.Argument(
    help="Register exports (CSV, or an Excel workbook) from Arbor, SIMS, Progresso or another MIS, or .parquet files "
         "written by 'attendance ingest'. Several files (e.g. one per term) are combined.",
    exists=True, dir_okay=False, readable=True, show_default=False, metavar="EXPORT")]
SourceOpt = Annotated[Optional[Source], typer.Option(
    "--source", metavar="arbor|progresso|sims", help="Force the MIS the exports came from instead of detecting it from the headers.",
    rich_help_panel=INGEST)]
MapOpt = Annotated[Optional[list[str]], typer.Option(
    "--map", metavar="'HEADER=field'",
    help="Map a column the detector does not know, e.g. --map 'Pupil Ref=pupil_id'. Repeatable. A name "
         "that is not a known field becomes an extra pupil attribute (e.g. --map 'House=house').",
    rich_help_panel=INGEST)]
EncodingOpt = Annotated[Optional[str], typer.Option(
    "--encoding", metavar="NAME", help="Text encoding of the exports if it cannot be detected: utf-8, utf-16, cp1252, latin-1.",
    rich_help_panel=INGEST)]
CodesOpt = Annotated[str, typer.Option(
    "--codes", metavar="NAME|FILE", help="Code table: a preset (dfe, college) or a .toml/.csv file. See 'attendance codes'.",
    rich_help_panel=INGEST)]
PolicyCodesOpt = Annotated[Optional[str], typer.Option(
    "--codes", metavar="NAME|FILE", help="Code table, instead of the one the policy names.", rich_help_panel=INGEST)]
LenientOpt = Annotated[bool, typer.Option(
    "--lenient", help="Set unusable rows aside in a rejects file and carry on (exit code 3) instead of stopping.",
    rich_help_panel=INGEST)]
RejectsOpt = Annotated[Path, typer.Option(
    "--rejects", metavar="FILE", help="Where --lenient writes rejected rows with their reasons.", rich_help_panel=INGEST)]
DuplicatesOpt = Annotated[Duplicates, typer.Option(
    "--duplicates", metavar="error|keep-last", help="A session marked differently in two rows: stop with an error, or keep the later row "
                         "(later file on the command line, then later line).", rich_help_panel=INGEST)]
BlankOpt = Annotated[Optional[str], typer.Option(
    "--blank-means", metavar="CODE",
    help="Read a blank mark as this code (some Progresso sites use blank for present). Default: blank is unmarked.",
    rich_help_panel=INGEST)]
WindowOpt = Annotated[Optional[WindowName], typer.Option(
    "--window", metavar="WINDOW", help="Count only this window, current as of --as-of: week, last-week (the last full school week), "
                     "half-term, term, ytd (school year to date) or year.", rich_help_panel=WINDOW)]
AsOfOpt = Annotated[Optional[str], typer.Option(
    "--as-of", metavar="DATE", help="The date windows are current as of (dd/mm/yyyy). Default: the last date in the data.",
    rich_help_panel=WINDOW)]
FromOpt = Annotated[Optional[str], typer.Option(
    "--from", metavar="DATE", help="Count from this date (dd/mm/yyyy), instead of --window.", rich_help_panel=WINDOW)]
ToOpt = Annotated[Optional[str], typer.Option(
    "--to", metavar="DATE", help="Count up to this date (dd/mm/yyyy), instead of --window.", rich_help_panel=WINDOW)]
CohortOpt = Annotated[Cohort, typer.Option(
    "--cohort", metavar="all|dfe", help="all: every pupil (the school's own figures). dfe: only the national statistics' "
    "cohort, pupils of compulsory school age (5 to 15 at 31 August: Year 1 to Year 11), without the 15-year-olds' "
    "sessions in the sixth half term, to compare with national figures. Ages come from Date of Birth, else Year Group.",
    rich_help_panel=WINDOW)]
CalendarOpt = Annotated[Optional[Path], typer.Option(
    "--calendar", metavar="FILE", help="The school's calendar (TOML or CSV of half terms) instead of inferring it from the data.",
    exists=True, dir_okay=False, rich_help_panel=WINDOW)]
FormatOpt = Annotated[Optional[OutputFormat], typer.Option(
    "--format", "-f", metavar="FORMAT", help="Output format: table, csv, json, xlsx or parquet. Default: a table on a terminal, CSV when piped, or from -o's suffix.",
    rich_help_panel=OUTPUT)]
OutOpt = Annotated[Optional[Path], typer.Option(
    "--output", "-o", metavar="FILE", help="Write the result to this file instead of stdout (written whole or not at all).",
    dir_okay=False, rich_help_panel=OUTPUT)]


def policy_option(value: str | None) -> str | None:
    """Option callback: a policy file that is not there is refused as a missing file (exit 2),
    before any export is read."""
    if value is not None:
        check_policy_file(value)
    return value


PolicyOpt = Annotated[str, typer.Option(
    "--policy", "-p", metavar="NAME|FILE", help="The attendance policy: a preset (dfe-national, primary-academy, absence-levels, "
    "college, university) or your own .toml file. See 'attendance policy list'.", show_default=False,
    callback=policy_option)]
LedgerOpt = Annotated[Optional[Path], typer.Option(
    "--db", metavar="FILE", help="The ledger (SQLite) that remembers recorded events. Default: the policy's 'ledger', "
    "else $ATTENDANCE_DB, else attendance-ledger.sqlite in the working directory.", dir_okay=False,
    rich_help_panel="Ledger")]
def wait_option(value: float) -> float:
    """--wait: seconds, 0 or more (`inf`: as long as it takes); `nan` or a negative number is refused."""
    if value != value or value < 0:
        raise typer.BadParameter(f"{value!r} is not a number of seconds (0 or more; inf waits as long as it takes).")
    return value


WaitOpt = Annotated[float, typer.Option(
    "--wait", metavar="SECONDS", callback=wait_option, help="If another run is recording in the ledger (or writing "
    "letters to the same folder), wait this long before giving up (inf: as long as it takes).",
    rich_help_panel="Ledger")]
NewLedgerOpt = Annotated[bool, typer.Option(
    "--new-ledger", help="Start a new ledger if there is none where the ledger is looked for (without this, a "
    "recording run refuses, so that a run started in the wrong folder does not send every letter again).",
    rich_help_panel="Ledger")]
SENDING = "Sending"
SendOpt = Annotated[bool, typer.Option(
    "--send", help="Send the e-mails through the school's mail server ([smtp] in the school settings; the password "
    "from $ATTENDANCE_SMTP_PASSWORD), recording each as sent or failed in the ledger; failed ones are retried by the "
    "next --send, none is sent twice. With --dry-run: connect and log in, send nothing.", rich_help_panel=SENDING)]
RateOpt = Annotated[Optional[float], typer.Option(
    "--rate", metavar="N", min=0.001, help="Send at most N messages a minute (default: the [smtp] rate, else 60).",
    rich_help_panel=SENDING)]
ResendUnknownOpt = Annotated[bool, typer.Option(
    "--resend-unknown", help="Also send again the messages an earlier run handed to the server without hearing back "
    "(stopped, or the connection lost): check first that they did not arrive.", rich_help_panel=SENDING)]
AbandonOpt = Annotated[bool, typer.Option(
    "--abandon-unfinished", help="An interrupted letters run whose staging folder is lost for good: take its letters "
    "(and the events they were for) out of the ledger, so this run writes them again. Without it such a run stops "
    "every letters run, so that no recorded letter is lost silently.", rich_help_panel="Ledger")]
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", help="Do not print the reading summary on stderr.", rich_help_panel=OUTPUT)]


# -- console and errors ------------------------------------------------------------------------

_state = {"debug": False}


def set_debug(value: bool) -> None:
    _state["debug"] = value


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print an AttendanceError as `Error: ...` on stderr and exit with its code."""
    try:
        yield
    except AttendanceError as exc:
        if _state["debug"]:
            raise
        _report(exc)
        raise typer.Exit(exc.exit_code) from None


def _report(exc: AttendanceError) -> None:
    stderr_console().print(f"[bold red]Error:[/] {escape(exc.describe())}")


INTERRUPTED = "Interrupted: nothing was written or recorded."


class Interrupted(KeyboardInterrupt):
    """Ctrl-C after a run recorded something: `message` says what (see `recording`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@contextlib.contextmanager
def failures() -> Iterator[None]:
    """Around the whole run (the root command): every failure becomes one `Error: ...` on stderr
    and an exit code, never a traceback (except with --debug). Besides what `user_errors` does in
    each command: the toolkit's errors raised while options are parsed (a missing policy file);
    an OSError (a full disk, no permission, a file where a folder should be), also one a worker
    process raised, as the path and the system's reason; a worker process that died; and Ctrl-C,
    which Typer would otherwise turn into a silent exit 130."""
    try:
        yield
    except KeyboardInterrupt as exc:
        if _state["debug"]:
            import traceback

            traceback.print_exc()
        sys.stderr.write(getattr(exc, "message", INTERRUPTED) + "\n")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except AttendanceError as exc:
        _fail(exc)
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise  # `| head`: handled quietly by Typer and main()
        _fail(FileSystemError.from_os_error(exc))
    except RuntimeError as exc:
        if isinstance(exc, typer.Exit):  # a command's own exit code
            raise
        from concurrent.futures import BrokenExecutor

        if not isinstance(exc, BrokenExecutor):
            raise
        _fail(AttendanceError("a worker process stopped before finishing its work (out of memory, or killed); "
                              "nothing was written."))


def _fail(exc: AttendanceError) -> None:
    """Report `exc` and exit with its code; with --debug, the traceback of what is being handled."""
    if _state["debug"]:
        raise
    _report(exc)
    raise typer.Exit(exc.exit_code) from None


def escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@contextlib.contextmanager
def progress(message: str) -> Iterator[None]:
    """A spinner with elapsed time on stderr while long work runs (only on a terminal)."""
    if not sys.stderr.isatty() or os.environ.get("ATTENDANCE_NO_PROGRESS"):
        yield
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=stderr_console(), transient=True) as bar:
        bar.add_task(message, total=None)
        yield


@contextlib.contextmanager
def progress_bar(message: str, total: int) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr for work done item by item; yields the function to call with the
    number of items done (default 1)."""
    if not sys.stderr.isatty() or os.environ.get("ATTENDANCE_NO_PROGRESS") or total < 20:
        yield lambda done=1: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=stderr_console(), transient=True) as bar:
        task = bar.add_task(message, total=total)
        yield lambda done=1: bar.advance(task, done)


# -- options to core objects --------------------------------------------------------------------


def ingest_options(codes: str, source: Source | None, maps: list[str] | None, encoding: str | None,
                   lenient: bool, duplicates: Duplicates, blank_means: str | None) -> IngestOptions:
    from attendance_cli.codes import load_code_table
    from attendance_cli.ingest import IngestOptions
    from attendance_cli.ingest.headers import parse_maps

    table = load_code_table(codes)
    if blank_means is not None and blank_means not in table.tokens:
        raise UsageError(f"--blank-means {blank_means!r} is not a code in the {table.name!r} table.",
                         fix=f"Use one of: {table.describe_codes(80)}")
    return IngestOptions(codes=table, source=source.value if source else None, maps=parse_maps(maps),
                         encoding=encoding, blank_means=blank_means, lenient=lenient, duplicates=duplicates.value)


def names_a_file(text: str, suffixes: tuple[str, ...]) -> bool:
    """Whether a NAME|FILE value is a file rather than a preset's name: a path, or a name with one
    of the file's suffixes (the rule `load_code_table` and `load_policy` follow)."""
    return text.endswith(suffixes) or "/" in text or "\\" in text


def check_policy_file(policy: str) -> None:
    """A policy given as a file that is not there is a missing file (exit 2); a preset's name is
    left to `load_policy`."""
    if names_a_file(policy, (".toml",)) and not Path(policy).exists():
        from attendance_cli.rules.policy import list_presets

        raise MissingFileError(f"Policy file {policy} does not exist.",
                               fix=f"Give a preset ({', '.join(list_presets())}) or start one with "
                                   f"'attendance policy init NAME {policy}'.")


def given_ledger(db: Path | None) -> None:
    """A ledger named with --db must be there for a command that only reads it (history): a
    mistyped path would otherwise show no events, as if none were recorded."""
    if db is not None and not db.exists():
        raise MissingFileError(f"There is no ledger at {db} (--db).",
                               fix="Check the path: it is the file `attendance triggers --record` and `attendance "
                                   "letters` record in. Leave --db out to use the default ledger.")


def ledger_to_record(policy, db: Path | None, new_ledger: bool) -> bool:
    """Before a run records (`letters` without --dry-run, `triggers --record`): whether it will create
    a new ledger. Refused (exit 2) unless the ledger was named with --db or --new-ledger was given: a
    run started in another folder would otherwise start a new ledger silently, and send every letter
    the real ledger already recorded again."""
    from attendance_cli.rules.triggers import DEFAULT_LEDGER, ledger_path_for

    path = ledger_path_for(policy, db)
    if path.exists():
        return False
    if db is not None or new_ledger:
        return True
    env = os.environ.get("ATTENDANCE_DB")
    places = ["--db (not given)", f"the policy's `ledger` key ({policy.ledger or 'not set'})",
              f"the ATTENDANCE_DB environment variable ({env or 'not set'})",
              f"./{DEFAULT_LEDGER} (in {Path.cwd()})"]
    raise UsageError(
        f"There is no ledger at {path}, so this run would start a new one, and write again every letter an existing "
        f"ledger has recorded. The ledger is looked for in this order, the first that is set: {'; '.join(places)}.",
        fix=f"Give --db PATH to the existing ledger, or --new-ledger to start a new one at {path}.")


@contextlib.contextmanager
def recording(ledger: Path, wait: float, folder: Path | None = None, creating: bool = False) -> Iterator[None]:
    """Around a recording run, from before it recovers interrupted runs to its end: one run at a
    time per letters folder and per ledger (see `attendance_cli.locks`), and what Ctrl-C says.

    Ctrl-C (KeyboardInterrupt) in the block becomes `Interrupted` with what is true, read from the
    ledger under the lock (so a run found there is this one's): nothing recorded, letters recorded
    and still to be moved by the next run, letters written, or events recorded. `creating` (see
    `ledger_to_record`): at the end, says the new ledger was created."""
    from attendance_cli.locks import run_locks

    def created() -> None:
        if creating and ledger.exists():
            stderr_console().print(escape(f"Created a new ledger at {ledger}."))

    with run_locks(folder, ledger, wait):
        before = _last_run(ledger)
        try:
            yield
        except Interrupted:
            raise
        except KeyboardInterrupt as exc:
            message = _interrupted(ledger, before)
            sending = getattr(exc, "message", None)  # what a sending run had sent (mail.outbox.SendInterrupted)
            if message is None and sending is None:
                raise
            raise Interrupted(" ".join(m for m in (message, sending) if m)) from None
        except typer.Exit:  # finished, with an exit code of its own (3: rows set aside)
            created()
            raise
    created()


def _last_run(ledger: Path) -> int | None:
    """The last run recorded in the ledger (0: none, or no ledger); None if it cannot be read."""
    import sqlite3

    from attendance_cli.ledger.schema import sqlite_uri

    if not ledger.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"{sqlite_uri(ledger)}?mode=ro", uri=True, timeout=5)) as db:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone():
                return 0
            return db.execute("SELECT coalesce(max(run_id), 0) FROM runs").fetchone()[0]
    except sqlite3.Error:
        return None


def _interrupted(ledger: Path, before: int | None) -> str | None:
    """What a run stopped by Ctrl-C recorded since `before` (None: nothing, say INTERRUPTED)."""
    import sqlite3

    from attendance_cli.formatting import plural
    from attendance_cli.ledger.schema import sqlite_uri

    unknown = (f"Interrupted: could not read the ledger {ledger} to tell whether this run recorded anything. Run it "
               "again: a letters run with the same --out finishes moving any letters recorded.")
    after = _last_run(ledger)
    if before is None or after is None:
        return unknown
    if after == before:
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"{sqlite_uri(ledger)}?mode=ro", uri=True, timeout=5)) as db:
            runs = db.execute("SELECT coalesce(sum(recorded), 0), coalesce(sum(closed), 0) FROM runs WHERE run_id > ?",
                              (before,)).fetchone()
            moves = (db.execute("SELECT letters, state, folder FROM letter_runs WHERE run_id > ?", (before,)).fetchall()
                     if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'letter_runs'").fetchone() else [])
    except sqlite3.Error:
        return unknown
    were = lambda n: "was" if n == 1 else "were"  # noqa: E731
    if moves:
        letters = sum(row[0] for row in moves)
        folder = moves[-1][2]
        if any(state == "moving" for _, state, _ in moves):
            return (f"Interrupted: {plural(letters, 'letter')} {were(letters)} recorded in the ledger {ledger}; the "
                    f"next `attendance letters` run with the same --out ({folder}) finishes moving them into the "
                    "folder.")
        return f"Interrupted: {plural(letters, 'letter')} {were(letters)} written to {folder} and recorded in the ledger {ledger}."
    events, closed = runs
    extra = f", and {plural(closed, 'state')} closed" if closed else ""
    return f"Interrupted: {plural(events, 'event')} {were(events)} recorded in the ledger {ledger}{extra}."


def parse_cli_date(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    from attendance_cli.ingest.dates import parse_date

    value = parse_date(text)
    if value is None:
        from attendance_cli.ingest.dates import EARLIEST, LATEST, out_of_range

        if out_of_range(text):
            raise UsageError(f"{option} {text!r} is outside the years this program reads ({EARLIEST.year} to "
                             f"{LATEST.year}).", fix="Check the year.")
        from attendance_cli.ingest.dates import month_first

        reading = month_first(text)
        raise UsageError(f"{option} {text!r} is not a day-first date (it reads as month first: {reading})." if reading
                         else f"{option} {text!r} is not a date.",
                         fix="Write dates day first: dd/mm/yyyy, e.g. 20/11/2026.")
    return value


def window_choice(window: WindowName | None, as_of: str | None, start: str | None = None, end: str | None = None,
                  cohort: Cohort = Cohort.all):
    """The window options as the jobs take them (dates parsed here, so an error names the option)."""
    from attendance_cli.jobs import WindowChoice

    return WindowChoice(window.value if window else None, parse_cli_date(as_of, "--as-of"),
                        parse_cli_date(start, "--from"), parse_cli_date(end, "--to"), cohort == Cohort.dfe)


def check_rejects_writable(lenient: bool, path: Path) -> None:
    """With --lenient, before anything is read, written or recorded: the rejects file can be written (its
    folder exists and may be written in; the file, if there, may be replaced). Found out only at the end,
    a run would have written its output and recorded its events, then failed."""
    if not lenient:
        return
    folder = path.parent if str(path.parent) else Path(".")
    problem = None
    if not folder.is_dir():
        problem = f"its folder {folder} does not exist"
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem = f"its folder {folder} may not be written in"
    elif path.exists() and (path.is_dir() or not os.access(path, os.W_OK)):
        problem = "it is a folder" if path.is_dir() else "the file there may not be replaced"
    if problem:
        raise UsageError(f"--rejects {path}: the rejects file cannot be written ({problem}); nothing was read, "
                         "written or recorded.", fix="Give --rejects a file in a folder you may write in.")


def write_rejects(tally: Tally, path: Path) -> None:
    """Write the --lenient rejects file (only when there are rejects)."""
    from attendance_cli.outputs import write_frame

    rejects = tally.report.rejects
    if rejects is not None and rejects.height:
        write_frame(rejects, "csv", path)


def reading_summary(tally: Tally, rejects_path: Path | None, quiet: bool) -> None:
    """One short paragraph on stderr: what was read, what was set aside."""
    if quiet:
        return
    from attendance_cli.ingest.dates import format_date

    from attendance_cli.cli.render import plural

    report = tally.report
    layouts = sorted({f.layout for f in report.files})
    read = f"Read {plural(len(report.files), 'file')} ({', '.join(layouts)}): "
    if report.marks == 0 and report.unmarked == 0:
        lines = [read + "no marks."]
    else:
        lines = [read + f"{plural(report.marks, 'mark')} for {plural(report.pupils, 'pupil')}, "
                 f"{format_date(report.first_date)} to {format_date(report.last_date)}; counting {report.window}."]
    extras = []
    if report.unmarked_in_window:
        extras.append(f"{plural(report.unmarked_in_window, 'unmarked session')}")
    if report.duplicates_collapsed:
        extras.append(f"{plural(report.duplicates_collapsed, 'duplicate mark')} collapsed")
    if report.furniture:
        extras.append(f"{plural(report.furniture, 'report line')} skipped")
    if report.rejected:
        extras.append(f"{plural(report.rejected, 'row')} rejected (see {rejects_path})")
    if report.outside_cohort:
        extras.append(f"{plural(report.outside_cohort, 'pupil')} outside the DfE cohort's ages left out")
    if report.age_unknown:
        extras.append(f"{plural(report.age_unknown, 'pupil')} with no date of birth or year group giving an age left out")
    notes = [f"{Path(f.path).name}: {f.encoding_note}" for f in report.files if f.encoding_note]
    if extras:
        text = "; ".join(extras)
        lines.append(text[0].upper() + text[1:] + ".")
    lines += notes
    console = stderr_console()
    for line in lines:
        console.print(escape(line))


def format_day(day: dt.date | None) -> str:
    from attendance_cli.ingest.dates import format_date

    return format_date(day)


def trigger_summary(found, recorded, new_only: bool, quiet: bool) -> None:
    """What the policy found and what was recorded, on stderr."""
    import polars as pl

    from attendance_cli.cli.render import plural

    console = stderr_console()
    table = found.table
    counts = {s: table.filter(pl.col("status") == s).height for s in ("new", "recorded", "stale")}
    pupils = table.filter(pl.col("status") == "new")["pupil_id"].n_unique()
    if not quiet:
        line = f"{plural(counts['new'], 'new event')} for {plural(pupils, 'pupil')}"
        if counts["recorded"]:
            line += f"; {plural(counts['recorded'], 'recorded state')} still met"
        console.print(escape(line + "."))
    if counts["stale"]:
        hint = " (run without --new to list them)" if new_only else ""
        console.print(escape(f"Warning: {plural(counts['stale'], 'recorded event')} stale: the marks behind "
                              f"{'it' if counts['stale'] == 1 else 'them'} have changed since{hint}."))
    if recorded is not None:
        line = f"Recorded {plural(recorded.recorded, 'event')} in {recorded.path}"
        extras = []
        if recorded.skipped:
            extras.append(f"{recorded.skipped:,} already recorded by another run")
        if recorded.closed:
            extras.append(f"{plural(recorded.closed, 'state')} closed: no longer met")
        console.print(escape(line + (f" ({'; '.join(extras)})" if extras else "") + "."))


def exit_for(tally: Tally) -> None:
    """Exit code 3 when a --lenient run set rows aside."""
    from attendance_cli.errors import EXIT_REJECTS

    if tally.report.rejected:
        raise typer.Exit(EXIT_REJECTS)


def warn_new_policy(found) -> None:
    """The warning (triggers.new_policy_warning) that a policy is new to a ledger holding another's runs."""
    from attendance_cli.rules.triggers import new_policy_warning

    warning = new_policy_warning(found)
    if warning:
        stderr_console().print(escape(warning))


def send_report(outcome, quiet: bool, what: str = "e-mail") -> None:
    """What a sending run did, on stderr (file names and addresses, never a pupil's name), and exit 4 if
    any message failed or its outcome is unknown. Earlier unknown messages are warned about."""
    from attendance_cli.errors import EXIT_NOT_SENT
    from attendance_cli.formatting import plural

    console = stderr_console()
    for label in outcome.earlier_unknown:
        console.print(escape(f"Warning: {label} was handed to the mail server by an earlier run that did not hear "
                             "back: not sent again. Check whether it arrived; --resend-unknown sends it again."))
    if True:  # what was sent is the result of the run: said with -q too (-q hides the reading summary)
        line = f"Sent {plural(len(outcome.sent), what)}"
        if outcome.already:
            line += f"; {outcome.already} already sent"
        if outcome.failed:
            line += f"; failed {len(outcome.failed)} (tried again by the next --send)"
        if outcome.unknown:
            line += f"; unknown {len(outcome.unknown)} (not sent again without --resend-unknown)"
        console.print(escape(line + "."))
    for label, reason in outcome.failed:
        console.print(escape(f"  failed: {label}: {reason}"))
    for label in outcome.unknown:
        console.print(escape(f"  unknown: {label}"))
    if not outcome.ok:
        raise typer.Exit(EXIT_NOT_SENT)
