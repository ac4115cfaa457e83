"""`attendance requests`: absence and leave requests triaged by the policy, decided, and answered by letter."""

from __future__ import annotations

import contextlib
import glob
from pathlib import Path
from typing import Annotated, Optional

import typer
import typer.core

from attendance_cli.cli import common as c

LIST = "list"
REQUESTS = "Requests"


class _DefaultList(typer.core.TyperGroup):
    """`attendance requests FILE...` is `attendance requests list FILE...`: the everyday use needs no
    subcommand, and `decide`, `import` and `letters` are still subcommands."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = [LIST, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    name="requests", cls=_DefaultList, no_args_is_help=True, rich_markup_mode=None,
    help="Absence and leave requests: each with its route from the policy (authorise, decline, or decided by a "
         "person), how often the pupil has asked, the attendance it would bring them to, and a flag for support "
         "staff; decisions recorded once in the ledger; the decision letters written once.",
    epilog=c.examples(
        "attendance requests requests.csv --policy primary-academy --exports 'exports/*.csv'",
        "attendance requests requests.csv --policy primary-academy --exports 'exports/*.csv' -o requests.xlsx",
        "attendance requests decide R1042 --grant --reason \"A family funeral abroad.\" --requests requests.csv "
        "--policy primary-academy",
        "attendance requests decide R1043 --partial --days 2 --reason \"...\" --requests requests.csv -p primary-academy",
        "attendance requests import decisions.csv --requests requests.csv --policy primary-academy",
        "attendance requests letters requests.csv --policy primary-academy --exports 'exports/*.csv' --out letters/"),
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="requests", short_help="Absence and leave requests: triage, decisions, decision letters.")


RequestFiles = Annotated[list[Path], typer.Argument(
    help="Requests files (CSV or a workbook): pupil id, first and last day, sessions, type (illness, appointment, "
         "exceptional circumstances, religious observance, other), reason, details, received date.",
    exists=True, dir_okay=False, readable=True, show_default=False, metavar="REQUESTS")]
RequestsOpt = Annotated[list[str], typer.Option(
    "--requests", "-r", metavar="FILE", help="The requests file(s) the decided requests are in (repeatable; a quoted "
    "pattern such as 'requests/*.csv' is expanded).", show_default=False, rich_help_panel=REQUESTS)]
ExportsOpt = Annotated[Optional[list[str]], typer.Option(
    "--exports", "-e", metavar="FILE", help="Register exports, for attendance now and after, pupils' names and the "
    "school's days (repeatable; quote a pattern: --exports 'exports/*.csv').", rich_help_panel=REQUESTS)]


def _paths(values: list[str] | None, option: str) -> list[Path]:
    """Files named by an option, patterns expanded (sorted); a name or pattern that finds nothing is an error."""
    from attendance_cli.errors import MissingFileError

    out: list[Path] = []
    for value in values or []:
        if any(ch in value for ch in "*?["):
            found = sorted(glob.glob(value))
            if not found:
                raise MissingFileError(f"{option} {value!r} matches no file.", fix="Check the folder and the pattern.")
            out += [Path(p) for p in found if Path(p).is_file()]
        elif not Path(value).exists():
            raise MissingFileError(f"{option} {value}: there is no such file.", fix="Check the path.")
        else:  # a folder, a pipe or an empty file is said to be so where the file is read
            out.append(Path(value))
    return list(dict.fromkeys(out))


def _found(files: list[Path], policy: str, exports: list[str] | None, as_of: str | None, db: Path | None,
           calendar: Path | None, maps: list[str] | None, encoding: str | None, codes: str | None):
    from attendance_cli.dataset import Dataset
    from attendance_cli.ingest.headers import parse_maps
    from attendance_cli.requests.read import FIELDS
    from attendance_cli.jobs import RequestsOptions, requests
    from attendance_cli.rules import load_policy
    from attendance_cli.rules.triggers import policy_settings

    chosen = load_policy(policy)
    settings = policy_settings(chosen, calendar=calendar, db=db, codes=codes)
    registers = _paths(exports, "--exports")
    data = None
    if registers:
        options = c.ingest_options(settings.codes, None, None, None, False, c.Duplicates.error, None)
        data = Dataset.open(registers, options)
    with c.progress("Reading the requests"):
        return requests(RequestsOptions(settings, tuple(files), c.parse_cli_date(as_of, "--as-of"),
                                        parse_maps(maps, FIELDS),
                                        encoding), data)


def _notes(found, quiet: bool) -> None:
    console = c.stderr_console()
    for note in found.notes:
        console.print(c.escape(f"Note: {note}"))
    if not quiet:
        console.print(c.escape(f"Read {found.read.accounted()}."))


@app.command(LIST, help="Each request with its route from the policy, the pupil's requests this year and recently, "
             "attendance now and after the request, and a flag for review by support staff.",
             epilog=c.examples(
                 "attendance requests requests.csv --policy primary-academy --exports 'exports/*.csv'",
                 "attendance requests requests.csv --policy university --exports 'lessons/*.csv' --review   # flagged only",
                 "attendance requests form-responses.xlsx --policy primary-academy --map 'Child ID=pupil_id'"))
def list_requests(
    files: RequestFiles,
    policy: c.PolicyOpt,
    exports: ExportsOpt = None,
    review: Annotated[bool, typer.Option("--review", help="Only the requests flagged for review.",
                                         rich_help_panel=REQUESTS)] = False,
    undecided: Annotated[bool, typer.Option("--undecided", help="Only requests with no decision in the ledger.",
                                            rich_help_panel=REQUESTS)] = False,
    as_of: Annotated[Optional[str], typer.Option(
        "--as-of", metavar="DATE", help="Count the requests received up to this date (dd/mm/yyyy; default: "
        "today); attendance is counted to it, or to the registers' last date if that is earlier.",
        rich_help_panel=c.WINDOW)] = None,
    calendar: c.CalendarOpt = None,
    db: c.LedgerOpt = None,
    fmt: c.FormatOpt = None,
    output: c.OutOpt = None,
    maps: c.MapOpt = None,
    encoding: c.EncodingOpt = None,
    codes: c.PolicyCodesOpt = None,
    quiet: c.QuietOpt = False,
) -> None:
    """Columns: request_id, pupil, type, first and last day, sessions (AM, PM or all), the school days and
    sessions asked for, received date, route (authorise, partial, decline, decide), who decides, the
    sessions the policy would grant, the code to enter if granted and if not, notice (asked later than
    the policy asks), requests this school year and in the policy's recent weeks, attendance now and
    after the request, review (and why), and any decision recorded."""
    with c.user_errors():
        import polars as pl

        from attendance_cli.outputs import choose_format, write_frame

        found = _found(files, policy, exports, as_of, db, calendar, maps, encoding, codes)
        table = found.table
        if review:
            table = table.filter(pl.col("review"))
        if undecided:
            table = table.filter(pl.col("decision").is_null())
        out_format = choose_format(fmt.value if fmt else None, output, c.stdout_is_terminal())
        title = f"Absence requests as of {c.format_day(found.as_of)}"
        if out_format == "table":
            from attendance_cli.cli.render import print_table

            # the columns a person deciding reads first (a terminal is narrow; -f csv has them all)
            shown = table.select("request_id", "pupil_id", "surname", "forename", "type", "route", "date_from",
                                 "asked_sessions", "attendance_after", "review", "decision", "date_to", "code",
                                 "notice", "requests_recent", "review_why", "attendance_now", "decided_by", "reason")
            print_table(shown, title=title, caption=f"Routes from the {found.options.settings.policy.name} policy. "
                        "Attendance: school year to date, by the DfE method; 'after' adds the sessions asked for "
                        "after the registers' last date as absences.")
        else:
            write_frame(table, out_format, output, sheet="requests",
                        metadata={"as_of": str(found.as_of), "policy": found.options.settings.policy.name},
                        stamp=found.stamp)
        _notes(found, quiet)


Grant = Annotated[bool, typer.Option("--grant", help="Grant every session asked for.", rich_help_panel=REQUESTS)]
Partial = Annotated[bool, typer.Option("--partial", help="Grant part: the days --from/--to, or the first --days N.",
                                       rich_help_panel=REQUESTS)]
Decline = Annotated[bool, typer.Option("--decline", help="Decline the request.", rich_help_panel=REQUESTS)]


@app.command("decide", help="Record a decision on one request in the ledger (once: a request decided stays decided).",
             epilog=c.examples(
                 "attendance requests decide R1042 --grant --reason \"A family funeral abroad.\" -r requests.csv -p primary-academy",
                 "attendance requests decide R1043 --partial --from 12/01/2027 --to 13/01/2027 --reason \"...\" -r requests.csv -p primary-academy",
                 "attendance requests decide R1044 --decline --reason \"A holiday is not an exceptional circumstance.\" "
                 "-r requests.csv -p primary-academy"))
def decide(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request's id, as `attendance requests` lists it.")],
    requests_files: RequestsOpt,
    policy: c.PolicyOpt,
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why: the letter gives it to the family.",
                                        rich_help_panel=REQUESTS, show_default=False)],
    grant: Grant = False,
    partial: Partial = False,
    decline: Decline = False,
    start: Annotated[Optional[str], typer.Option("--from", metavar="DATE", help="Partial: the first day granted.",
                                                 rich_help_panel=REQUESTS)] = None,
    end: Annotated[Optional[str], typer.Option("--to", metavar="DATE", help="Partial: the last day granted.",
                                               rich_help_panel=REQUESTS)] = None,
    days: Annotated[Optional[float], typer.Option("--days", metavar="N", help="Partial: the first N school days.",
                                                  rich_help_panel=REQUESTS)] = None,
    by: Annotated[str, typer.Option("--by", metavar="NAME", help="Who decided (default: who the policy says decides).",
                                    rich_help_panel=REQUESTS)] = "",
    on: Annotated[Optional[str], typer.Option("--on", metavar="DATE", help="The day it was decided (default: today).",
                                              rich_help_panel=REQUESTS)] = None,
    declined_code: Annotated[Optional[str], typer.Option(
        "--declined-code", metavar="CODE", help="The code for sessions not granted, instead of the policy's (O rather "
        "than G when the leave asked for was not a holiday).", rich_help_panel=REQUESTS)] = None,
    exports: ExportsOpt = None,
    calendar: c.CalendarOpt = None,
    db: c.LedgerOpt = None,
    new_ledger: c.NewLedgerOpt = False,
    wait: c.WaitOpt = 30.0,
    maps: c.MapOpt = None,
    encoding: c.EncodingOpt = None,
) -> None:
    with c.user_errors():
        import datetime as dt

        from attendance_cli.errors import UsageError
        from attendance_cli.requests.decisions import Choice

        chosen = [name for name, on_ in (("grant", grant), ("partial", partial), ("decline", decline)) if on_]
        if len(chosen) != 1:
            raise UsageError("Give one of --grant, --partial or --decline.")
        if chosen[0] != "partial" and (start or end or days is not None):
            raise UsageError("--from, --to and --days say which days a partial grant covers: use them with --partial.")
        if start is not None and days is not None:
            raise UsageError("Give the days granted either as --from/--to or as --days N, not both.")
        choice = Choice(request_id, chosen[0], reason, c.parse_cli_date(on, "--on") or dt.date.today(), by,
                        c.parse_cli_date(start, "--from"), c.parse_cli_date(end, "--to"), days,
                        declined_code=declined_code)
        _record([choice], requests_files, policy, exports, calendar, db, new_ledger, wait, maps, encoding,
                "the command line")


@app.command("import", help="Record the decisions in a decisions file (request_id, decision, reason; from and to, "
             "or days, for a partial grant; decided_by, decided_on and declined_code optional): all of them or none.",
             epilog=c.examples("attendance requests import decisions.csv -r requests.csv -p primary-academy"))
def import_decisions(
    decisions: Annotated[Path, typer.Argument(metavar="DECISIONS", help="The decisions CSV.", exists=True,
                                              dir_okay=False)],
    requests_files: RequestsOpt,
    policy: c.PolicyOpt,
    exports: ExportsOpt = None,
    calendar: c.CalendarOpt = None,
    db: c.LedgerOpt = None,
    new_ledger: c.NewLedgerOpt = False,
    wait: c.WaitOpt = 30.0,
    maps: c.MapOpt = None,
    encoding: c.EncodingOpt = None,
) -> None:
    with c.user_errors():
        import datetime as dt

        from attendance_cli.requests.decisions import read_decisions

        choices = read_decisions(decisions, dt.date.today())
        _record(choices, requests_files, policy, exports, calendar, db, new_ledger, wait, maps, encoding,
                str(decisions))


def _record(choices, requests_files, policy, exports, calendar, db, new_ledger, wait, maps, encoding,
            origin: str) -> None:
    from attendance_cli.jobs import decide_requests
    from attendance_cli.outputs import choose_format, write_frame
    from attendance_cli.rules import load_policy

    files = _paths(requests_files, "--requests")
    if not files:
        from attendance_cli.errors import UsageError

        raise UsageError("Name the requests file the request is in with --requests FILE.")
    # a decision recorded in a new ledger by mistake would never reach the letters run that reads the real one
    c.ledger_to_record(load_policy(policy), db, new_ledger)
    found = _found(files, policy, exports, None, db, calendar, maps, encoding, None)
    recorded, frame = decide_requests(found, choices, wait, origin)
    out_format = choose_format(None, None, c.stdout_is_terminal())
    shown = frame.select("request_id", "pupil_id", "type", "decision", "asked_sessions", "granted_sessions",
                         "granted_from", "granted_to", "code", "declined_code", "decided_by", "decided_on")
    if out_format == "table":
        from attendance_cli.cli.render import print_table

        print_table(shown, title="Decisions", caption="code: for the sessions granted; declined_code: for the others, "
                                                      "if the pupil is away anyway.")
    else:
        write_frame(shown, out_format, None)
    from attendance_cli.cli.render import plural

    same = f"; {plural(recorded.unchanged, 'decision')} already recorded the same way" if recorded.unchanged else ""
    c.stderr_console().print(c.escape(f"Recorded {plural(recorded.recorded, 'decision')} in "
                                      f"{found.options.settings.ledger}{same}. `attendance requests letters` writes "
                                      "the letters."))


@app.command("letters", help="Write the letters on the decisions recorded for these requests (each once), with "
             "the codes the school should enter, and record them.",
             epilog=c.examples(
                 "attendance requests letters requests.csv -p primary-academy --exports 'exports/*.csv' --out letters/ "
                 "--contacts guardians.csv",
                 "attendance requests letters requests.csv -p university --exports 'lessons/*.csv' --pupils students.csv "
                 "--out mail/ --dry-run"))
def letters(
    files: RequestFiles,
    policy: c.PolicyOpt,
    exports: Annotated[list[str], typer.Option(
        "--exports", "-e", metavar="FILE", help="Register exports: pupils' names, forms and attendance to date "
        "(repeatable; quote a pattern: --exports 'exports/*.csv').", rich_help_panel=REQUESTS, show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", metavar="DIR", help="Folder for the letters, the print file "
                                                "and the manifest.", file_okay=False, rich_help_panel=REQUESTS)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the letters that would be written; write and "
                                          "record nothing.", rich_help_panel=REQUESTS)] = False,
    contacts: Annotated[Optional[Path], typer.Option(
        "--contacts", metavar="FILE", help="Guardians CSV, as for `attendance letters`.", exists=True, dir_okay=False,
        rich_help_panel=REQUESTS)] = None,
    pupils: Annotated[Optional[Path], typer.Option(
        "--pupils", metavar="FILE", help="Pupils or students CSV (pupil_id, forename, surname, email).", exists=True,
        dir_okay=False, rich_help_panel=REQUESTS)] = None,
    school: Annotated[Optional[Path], typer.Option(
        "--school", metavar="FILE", help="School settings (default: the policy's `school`, else ./school.toml).",
        rich_help_panel=REQUESTS)] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="pdf|html|txt|eml", help="As for `attendance letters`.",
                                     rich_help_panel=REQUESTS)] = "pdf",
    templates: Annotated[Optional[Path], typer.Option(
        "--templates", metavar="DIR", help="The school's letter templates (default: the policy's `letters`).",
        file_okay=False, rich_help_panel=REQUESTS)] = None,
    letter_date: Annotated[Optional[str], typer.Option("--date", metavar="DATE", help="The date on the letters "
                                                       "(default: today).", rich_help_panel=REQUESTS)] = None,
    calendar: c.CalendarOpt = None,
    db: c.LedgerOpt = None,
    abandon: c.AbandonOpt = False,
    wait: c.WaitOpt = 30.0,
    maps: c.MapOpt = None,
    encoding: c.EncodingOpt = None,
    quiet: c.QuietOpt = False,
) -> None:
    import datetime as dt

    with c.user_errors(), contextlib.ExitStack() as stack:
        from attendance_cli.errors import UsageError
        from attendance_cli.jobs import letters_due
        from attendance_cli.letters.school import load_school, school_path
        from attendance_cli.letters.templates import FORMATS, Templates
        from attendance_cli.rules import load_policy

        if fmt not in FORMATS:
            raise UsageError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}.")
        if out is None and not dry_run:
            raise UsageError("Say where the letters go with --out DIR (or list them with --dry-run).")
        chosen = load_policy(policy)
        settings = load_school(school_path(school, chosen.school))
        by_email = chosen.requests is not None and chosen.requests.channel == "email"
        if (fmt == "eml" or by_email) and not settings.email:
            raise UsageError("E-mailed letters need the school's e-mail address (the From: of each message).",
                             fix="Add email = \"...\" to the school settings file.")
        folder = templates or (Path(chosen.letters) if chosen.letters else None)
        library = Templates(folder)
        if chosen.requests is not None:
            library.check(chosen.requests.letters, ["html", "txt", "pdf"] if fmt == "eml" or by_email else [fmt])
        guardians = None
        if contacts is not None:
            from attendance_cli.letters.contacts import read_contacts

            guardians = read_contacts(contacts)
        if not _paths(exports, "--exports"):
            raise UsageError("Give the register exports with --exports: letters take names and forms from them.")
        found = _found(files, policy, exports, None, db, calendar, maps, encoding, None)
        ledger_path = found.options.settings.ledger
        if not ledger_path.exists():
            from attendance_cli.errors import MissingFileError

            raise MissingFileError(f"There is no ledger at {ledger_path}, so no decision to write a letter for.",
                                   fix="Give --db the ledger `attendance requests decide` recorded the decisions in.")
        console = c.stderr_console()
        if not dry_run:
            stack.enter_context(c.recording(ledger_path, wait, out, False))
            from attendance_cli.letters.deliver import recover

            for note in recover(out, ledger_path, wait, abandon):
                console.print(c.escape(note))
        when = c.parse_cli_date(letter_date, "--date") or dt.date.today()
        items = letters_due(found, when, fmt, guardians, settings.model_dump(), pupils)
        from attendance_cli.cli.render import plural
        from attendance_cli.letters.deliver import decision_manifest, write_decision_letters
        from attendance_cli.outputs import choose_format, write_frame

        out_format = choose_format(None, None, c.stdout_is_terminal())

        def show(frame, title: str) -> None:
            if out_format == "table":
                from attendance_cli.cli.render import print_table

                print_table(frame.drop("address", "email", "relationship"), title=title,
                            caption="code: enter it for the sessions granted; declined_code: for the others, if the "
                                    "pupil is away anyway.")
            else:
                write_frame(frame, out_format, None)

        if not items:
            console.print("No decision letters to write: every decision recorded for these requests has its letter "
                          "(or its type names none).")
            return
        early = [i for i in items if i.context["request"]["decided_on"] > when]
        if early:
            raise UsageError(f"--date {when:%d/%m/%Y} is before request {early[0].context['request']['id']} was decided "
                             f"({early[0].context['request']['decided_on']:%d/%m/%Y}): a letter cannot be dated before "
                             "its decision.", fix="Leave out --date (today), or give a day on or after the decisions.")
        unaddressed = sorted({i.pupil_id for i in items if not i.guardian and i.channel == "post"})
        if unaddressed:
            console.print(c.escape(f"Warning: {len(unaddressed)} pupil(s) with no guardian on file (or none with "
                                   "parental responsibility): their letters are addressed to the parent or carer, "
                                   "for print."))
        if dry_run:
            from attendance_cli.letters.render import render_letters

            rendered = render_letters(items, library, fmt, settings.email)
            show(decision_manifest(rendered), "Decision letters that would be written")
            console.print(c.escape(f"Dry run: {plural(len(rendered), 'letter')} would be written. Nothing was written "
                                   "or recorded."))
            return
        assert out is not None
        written = write_decision_letters(items, fmt, out, ledger_path, wait, templates=str(folder) if folder else None,
                                         school_email=settings.email)
        if written.manifest:
            import polars as pl

            show(pl.read_csv(out / written.manifest, infer_schema=False), f"Decision letters written to {out}")
        parts = [p for p in (written.merged and f"print file {written.merged}",
                             written.manifest and f"manifest {written.manifest}") if p]
        if not quiet:
            console.print(c.escape(f"Wrote {plural(len(written.files), 'letter')} to {written.folder}"
                                   + (f" ({'; '.join(parts)})" if parts else "") + "; recorded in the ledger."))
