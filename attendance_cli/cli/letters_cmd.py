"""`attendance letters` and `attendance templates`: the week's letters to families, written and recorded once."""

from __future__ import annotations

import contextlib
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from attendance_cli.cli import common as c

LETTERS = "Letters"
#: From this many letters, worker processes typeset them on every core.
MANY = 100


class LetterFormat(str, Enum):
    pdf = "pdf"
    html = "html"
    txt = "txt"
    eml = "eml"


def register(app: typer.Typer) -> None:
    app.command(
        "letters",
        short_help="Write the letters for new trigger events (PDF, HTML, text or e-mail) and record them once.",
        epilog=c.examples(
            "attendance letters *.csv --policy primary-academy --out letters/ --dry-run     # review first",
            "attendance letters *.csv --policy primary-academy --out letters/ --contacts guardians.csv",
            "attendance letters *.csv --policy primary-academy --out letters/ --exclude S1042 --exclude S2210",
            "attendance letters *.csv --policy my-school.toml --out letters/ --format eml --contacts guardians.csv",
            "attendance templates copy my-letters/      # then set letters = \"my-letters\" in the policy"),
    )(letters)
    templates_app = typer.Typer(help="The letter templates: list them, show one, copy them to edit.",
                                no_args_is_help=True, rich_markup_mode=None, epilog=c.examples(
                                    "attendance templates list", "attendance templates show punctuality-1",
                                    "attendance templates copy my-letters/      # then set letters = \"my-letters\" in the policy"))
    templates_app.command("list", help="The letter types and layouts, and where each comes from.", epilog=c.examples(
        "attendance templates list",
        "attendance templates list --folder my-letters/   # which are the school's own"))(templates_list)
    templates_app.command("show", help="Print a template (the school's copy if its folder has one).", epilog=c.examples(
        "attendance templates show punctuality-1", "attendance templates show letter.typ.j2   # a layout",
        "attendance templates show punctuality-1 --folder my-letters/",
        "attendance templates show x --names      # the names a template may use"))(templates_show)
    templates_app.command("copy", help="Copy the default templates into a folder for the school to edit.",
                          epilog=c.examples("attendance templates copy my-letters/",
                                            "attendance templates copy my-letters/ --force   # overwrite earlier copies")
                          )(templates_copy)
    app.add_typer(templates_app, name="templates")


def letters(
    files: c.Files,
    policy: c.PolicyOpt,
    out: Annotated[Optional[Path], typer.Option(
        "--out", metavar="DIR", help="Folder for the letters, the merged print file and the manifest.",
        rich_help_panel=LETTERS, file_okay=False)] = None,
    fmt: Annotated[LetterFormat, typer.Option(
        "--format", "-f", help="pdf (default), html, txt, or eml (an e-mail per guardian with an address; "
        "the others are printed as PDF).", rich_help_panel=LETTERS)] = LetterFormat.pdf,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="List the letters that would be written; write and record nothing.",
        rich_help_panel=LETTERS)] = False,
    only: Annotated[Optional[list[str]], typer.Option(
        "--only", metavar="PUPIL_ID", help="Only this pupil's letters (repeatable).", rich_help_panel=LETTERS)] = None,
    exclude: Annotated[Optional[list[str]], typer.Option(
        "--exclude", metavar="PUPIL_ID", help="Not this pupil's letters; their events stay new for next time "
        "(repeatable).", rich_help_panel=LETTERS)] = None,
    contacts: Annotated[Optional[Path], typer.Option(
        "--contacts", metavar="FILE", help="Guardians CSV: pupil_id, guardian_name, relationship, "
        "parental_responsibility, salutation, email, address. One letter per guardian with parental responsibility.",
        rich_help_panel=LETTERS, exists=True, dir_okay=False)] = None,
    school: Annotated[Optional[Path], typer.Option(
        "--school", metavar="FILE", help="School settings (name, address, telephone, signatory); default: the "
        "policy's `school`, else ./school.toml.", rich_help_panel=LETTERS)] = None,
    templates: Annotated[Optional[Path], typer.Option(
        "--templates", metavar="DIR", help="The school's letter templates, in front of the defaults "
        "(default: the policy's `letters`).", rich_help_panel=LETTERS, file_okay=False)] = None,
    letter_date: Annotated[Optional[str], typer.Option(
        "--date", metavar="DATE", help="The date printed on the letters (default: today).",
        rich_help_panel=LETTERS)] = None,
    preview: Annotated[Optional[Path], typer.Option(
        "--preview", metavar="DIR", help="With --dry-run: write the letters that would go out into DIR to read "
        "first (nothing is recorded).", rich_help_panel=LETTERS, file_okay=False)] = None,
    simplex: Annotated[bool, typer.Option(
        "--simplex", help="A print file for a single-sided printer: no blank page after a letter with an odd "
        "number of pages (by default each letter starts on a new sheet when printed on both sides).",
        rich_help_panel=LETTERS)] = False,
    include_older: Annotated[bool, typer.Option(
        "--include-older", help="Record new events first met more than the policy's letter_within school days ago "
        "as handled (they get no letter; without this they are listed as too old, and recorded by nothing).",
        rich_help_panel=LETTERS)] = False,
    adopt: Annotated[bool, typer.Option(
        "--adopt", help="Start mid-year: record everything already met as handled, write no letter, and say how "
        "many cases are at each stage.", rich_help_panel=LETTERS)] = False,
    referrals: Annotated[Optional[Path], typer.Option(
        "--referrals", metavar="FILE", help="Write the safeguarding events (children missing education, deletion "
        "from roll, students unreachable) as a CSV for the local authority.", rich_help_panel=LETTERS,
        dir_okay=False)] = None,
    pupils: Annotated[Optional[Path], typer.Option(
        "--pupils", metavar="FILE", help="Pupils or students CSV (pupil_id, forename, surname, email): names and "
        "e-mail addresses the exports do not carry (college and university letters).", rich_help_panel=LETTERS,
        exists=True, dir_okay=False)] = None,
    as_of: c.AsOfOpt = None,
    db: c.LedgerOpt = None,
    abandon: c.AbandonOpt = False,
    wait: c.WaitOpt = 30.0,
    new_ledger: c.NewLedgerOpt = False,
    calendar: c.CalendarOpt = None,
    codes: c.PolicyCodesOpt = None,
    source: c.SourceOpt = None,
    maps: c.MapOpt = None,
    encoding: c.EncodingOpt = None,
    send: c.SendOpt = False,
    rate: c.RateOpt = None,
    resend_unknown: c.ResendUnknownOpt = False,
    quiet: c.QuietOpt = False,
) -> None:
    """For every new trigger event whose rule names a letter: render the letter for each guardian,
    write it to --out, and record the event and the letter in the ledger, all in one go. A second
    run on the same data writes nothing; next week, only the new letters.

    Written to DIR: one file per letter (named from the date, pupil id and letter type, never from
    names), print-DATE.pdf (every printed letter, in pupil order, each starting on a new sheet when
    printed on both sides) and manifest-DATE.csv (pupil,
    letter, rule, recipient, address, e-mail, file: ready for a mail merge). The manifest is also
    printed. If anything fails, nothing is recorded and no letter is left in DIR.

    With --send, the run's e-mailed letters are then sent (and any an earlier --send could not
    send), each recorded as sent or failed; exit 4 if any failed. `attendance send` retries
    without reading the exports.
    """
    import datetime as dt

    with c.user_errors(), contextlib.ExitStack() as stack:
        from attendance_cli.dataset import Dataset
        from attendance_cli.errors import UsageError
        from attendance_cli.jobs import LettersOptions, letters as job
        from attendance_cli.letters.school import load_school
        from attendance_cli.letters.templates import Templates
        from attendance_cli.outputs import choose_format
        from attendance_cli.rules import load_policy
        from attendance_cli.rules.policy import check_codes
        from attendance_cli.rules.triggers import policy_settings

        if out is None and not dry_run and not adopt:
            raise UsageError("Say where the letters go with --out DIR (or list them with --dry-run).")
        if preview is not None and not dry_run:
            raise UsageError("--preview writes the letters a run would send, to read first: use it with --dry-run.",
                             fix="Add --dry-run, or leave out --preview to write and record the letters in --out.")
        chosen = load_policy(policy)
        resolved = policy_settings(chosen, calendar=calendar, db=db, codes=codes, school=school)
        settings = load_school(resolved.school)
        by_email = {rule.letter for rule in chosen.rules
                    if rule.letter and chosen.ladder_of(rule.ladder_name).channel == "email"}
        if (fmt is LetterFormat.eml or by_email) and not settings.email:
            why = "" if fmt is LetterFormat.eml else f" (the policy's {', '.join(sorted(by_email))} letters go by e-mail)"
            raise UsageError(f"E-mailed letters need the school's e-mail address (the From: of each message){why}.",
                             fix="Add email = \"...\" to the school settings file.")
        if (rate is not None or resend_unknown) and not send:
            raise UsageError("--rate and --resend-unknown go with --send.",
                             fix="Add --send to e-mail the letters, or leave those options out.")
        sending = None
        if send:
            from attendance_cli.jobs.send import SendOptions, mailer

            if fmt is not LetterFormat.eml and not by_email:
                raise UsageError("--send sends the e-mailed letters, and this run writes none.",
                                 fix="Add -f eml (letters to guardians with an e-mail address are e-mailed, the others "
                                     "printed).")
            sending = SendOptions(settings, rate, resend_unknown, wait)
            mailer(sending)  # the settings and the password, before anything is read or written
        folder = templates or (Path(chosen.letters) if chosen.letters else None)
        library = Templates(folder)
        needed = sorted({rule.letter for rule in chosen.rules if rule.letter})
        # every template the run could need, before any data is read: a broken one stops the run here
        library.check(needed, ["html", "txt", "pdf"] if fmt is LetterFormat.eml or by_email else [fmt.value])
        from attendance_cli.letters.pdf import Workers

        workers = stack.enter_context(Workers())
        guardians = None
        if contacts is not None:
            from attendance_cli.letters.contacts import read_contacts

            guardians = read_contacts(contacts)
        options = c.ingest_options(resolved.codes, source, maps, encoding, False, c.Duplicates.error, None)
        check_codes(chosen, options.codes, policy)
        data = Dataset.open(files, options)
        ledger_path = resolved.ledger
        console = c.stderr_console()
        if not dry_run:  # one recording run at a time per folder and ledger, from recovery to the end
            creating = c.ledger_to_record(chosen, db, new_ledger)
            stack.enter_context(c.recording(ledger_path, wait, out, creating))
        if out is not None and not dry_run:
            from attendance_cli.letters.deliver import recover

            for note in recover(out, ledger_path, wait, abandon):
                console.print(c.escape(note))
        when = c.parse_cli_date(letter_date, "--date") or dt.date.today()
        run_options = LettersOptions(resolved, settings.letter_details(), fmt.value, c.parse_cli_date(as_of, "--as-of"),
                                     when, tuple(only or ()), tuple(exclude or ()), include_older, adopt, guardians,
                                     pupils, recording=not dry_run)
        with c.progress(f"Evaluating the {chosen.name} policy"):
            run = job(data, run_options)
        found, plan = run.found, run.plan
        if run.warning:
            console.print(c.escape(run.warning))
        from attendance_cli.casework.plan import record_without_letters
        from attendance_cli.letters.render import render_letters

        for pupil in run.missing_only:
            console.print(c.escape(f"Warning: --only {pupil}: no new letter for this pupil."))
        if referrals is not None:
            from attendance_cli.casework.plan import referrals_frame
            from attendance_cli.outputs import write_frame

            write_frame(referrals_frame(plan, found), "csv", referrals)
        out_format = choose_format(None, None, c.stdout_is_terminal())
        if adopt:
            _show_staff(plan, found, out_format)
            if not dry_run:
                record_without_letters(found, plan, ledger_path, wait, mode="adopt")
            _adopt_summary(console, plan, dry_run, quiet)
            return
        if not dry_run and plan.letters.height >= MANY:
            workers.start()  # they load Typst while the figures are gathered
        with c.progress("Gathering the figures"):
            items = run.items
        from attendance_cli.letters.deliver import manifest_frame, other_rows, write_letters

        _show_staff(plan, found, out_format)
        others = plan.not_written(found)
        if dry_run:
            with c.progress_bar("Rendering letters", len(items)) as tick:
                rendered = render_letters(items, library, fmt.value, settings.email, tick)
            if preview is not None:
                from attendance_cli.letters.deliver import write_preview

                write_preview(items, fmt.value, preview, templates=str(folder) if folder else None,
                              school_email=settings.email, workers=workers)
            import polars as pl

            would = pl.concat([manifest_frame(rendered), other_rows(others, {}, when)])
            _show(would, out_format, f"Letters that would be written as of {c.format_day(found.evaluation.as_of)}")
            _summary(console, rendered, None, quiet, plan, dry_run=True, preview=preview)
            if sending is not None:
                _check_connection(console, sending)
            return
        assert out is not None
        if not items:
            # states pupils have left are closed too, so that entering one again is a new event
            recorded = (record_without_letters(found, plan, ledger_path, wait, mode="letters")
                        if plan.recorded.height or plan.held.height or found.evaluation.left.height else None)
            if others.height:  # what happened to each event, with no letter to list
                _show(other_rows(others, recorded.event_ids if recorded is not None else {}, when), out_format,
                      f"New events as of {c.format_day(found.evaluation.as_of)}: no letter in this run")
            _summary(console, [], None, quiet, plan, recorded=recorded)
            if sending is not None:
                _send(ledger_path, sending, quiet)
            return
        if sending is not None:  # a server that cannot be reached, or refuses the login: said before anything is written
            from attendance_cli.jobs.send import check_connection

            with c.progress("Connecting to the mail server"):
                check_connection(sending)
        with c.progress_bar("Writing letters", len(items)) as tick:
            written = write_letters(items, fmt.value, out, found.evaluation, plan.recorded, ledger_path, wait,
                                    templates=str(folder) if folder else None, school_email=settings.email,
                                    workers=workers, tick=tick, others=others, held=plan.held,
                                    queue=sending is not None, duplex=not simplex)
        if written.manifest:
            import polars as pl

            shown = pl.read_csv(out / written.manifest, infer_schema=False)
            _show(shown, out_format, f"Letters written to {out}")
        _summary(console, written.rendered, written, quiet, plan)
        if sending is not None:
            _send(ledger_path, sending, quiet)


def _check_connection(console, sending) -> None:
    from attendance_cli.jobs.send import check_connection

    where = check_connection(sending)
    console.print(c.escape(f"Dry run: connected to the mail server {where}; nothing was sent or recorded."))


def _send(ledger_path: Path, sending, quiet: bool) -> None:
    """The ledger's e-mailed letters still to send (this run's, and those an earlier --send could not send)."""
    from attendance_cli.jobs.send import send_letters

    with c.progress("Sending the e-mails"):
        outcome = send_letters(ledger_path, sending)
    c.send_report(outcome, quiet)


def _show_staff(plan, found, out_format: str) -> None:
    """Safeguarding events and the other steps a person must take head the run's output (a table on a
    terminal; piped, the manifest's CSV carries them with their decision)."""
    if out_format != "table":
        return
    staff = plan.staff_frame(found)
    if staff.height:
        from attendance_cli.cli.render import print_table

        print_table(staff, title=f"Actions for today ({c.format_day(found.evaluation.as_of)}): for staff, not letters")


def _adopt_summary(console, plan, dry_run: bool, quiet: bool) -> None:
    from attendance_cli.cli.render import plural

    if quiet:
        return
    counts = plan.stage_counts()
    verb = "would be adopted" if dry_run else "adopted"
    console.print(c.escape(f"{plural(plan.table.height, 'event')} for {plural(plan.table['pupil_id'].n_unique(), 'pupil')} "
                            f"{verb}: recorded as handled, no letter written."))
    for (ladder, stage), number in counts.items():
        console.print(c.escape(f"  {ladder}, stage {stage}: {plural(number, 'case')}"))
    if dry_run:
        console.print("Dry run: nothing was recorded.")


def _show(frame, out_format: str, title: str) -> None:
    """The manifest: every row as CSV or JSON; on a terminal, the letters (the events for staff are in
    the table above them, and the counts of the rest on stderr)."""
    from attendance_cli.outputs import write_frame

    if out_format == "table":
        import polars as pl

        from attendance_cli.cli.render import print_table

        letters = frame.filter(pl.col("decision") == "letter") if "decision" in frame.columns else frame
        if letters.height:
            print_table(letters.drop("address", "email", "decision", "reason", strict=False), title=title)
    else:
        write_frame(frame, out_format, None)


def _summary(console, rendered, written, quiet: bool, plan, dry_run: bool = False, preview: Path | None = None,
             recorded=None) -> None:
    """The run on stderr: letters, and what happened to every other new event, in counts (no names:
    stderr ends up in cron logs)."""
    from attendance_cli.casework import DECISIONS
    from attendance_cli.cli.render import plural

    unaddressed = {r.letter.pupil_id for r in rendered if not r.letter.guardian}
    printed = sum(1 for r in rendered if r.letter.channel == "post")
    if unaddressed:
        console.print(c.escape(f"Warning: {plural(len(unaddressed), 'pupil')} with no guardian on file (or none with "
                                "parental responsibility): their letters are addressed to the parent or carer, for print."))
    if quiet:
        return
    pupils = len({r.letter.pupil_id for r in rendered})
    counts = plan.counts()
    others = [f"{plural(n, 'event')} {DECISIONS[name]}" for name, n in sorted(counts.items()) if name != "letter"]
    tail = ("\n  " + "\n  ".join(others)) if others else ""
    if dry_run:
        where = (f"; they are in {preview} to read. Nothing was recorded." if preview is not None
                 else ". Nothing was written or recorded.")
        console.print(c.escape(f"Dry run: {plural(len(rendered), 'letter')} for {plural(pupils, 'pupil')} would be "
                                f"written ({printed} for print){where}{tail}"))
        return
    if written is None:
        made = ""
        if recorded is not None and recorded.recorded:
            made += f" Recorded {plural(recorded.recorded, 'event')} without a letter."
        if recorded is not None and recorded.closed:
            made += f" Closed {plural(recorded.closed, 'state')} no longer met."
        console.print(c.escape(f"No new letters.{made}{tail}"))
        return
    line = f"Wrote {plural(written.letters, 'letter')} for {plural(pupils, 'pupil')} to {written.folder}"
    parts = [p for p in (written.merged and f"print file {written.merged}", written.manifest and f"manifest {written.manifest}") if p]
    console.print(c.escape(line + (f" ({'; '.join(parts)})" if parts else "")
                            + f"; recorded {plural(written.events, 'event')}.{tail}"))
    if written.skipped:
        console.print(c.escape(f"{plural(written.skipped, 'event')} had been recorded by another run meanwhile: "
                                "no letter written for them."))


# -- templates --------------------------------------------------------------------------------


FolderOpt = Annotated[Optional[Path], typer.Option("--folder", metavar="DIR", help="The school's templates folder, "
                                                   "searched before the defaults.", file_okay=False)]


def templates_list(folder: FolderOpt = None) -> None:
    with c.user_errors():
        from attendance_cli.letters.templates import Templates

        library = Templates(folder)
        for name in library.names():
            path = library.path_of(f"{name}.j2")
            origin = "school" if folder is not None and path is not None and path.parent == folder else "default"
            typer.echo(f"{name}\t{origin}")
        for layout in ("letter.typ.j2", "letter.html.j2", "letter.txt.j2"):
            typer.echo(f"_layout/{layout}\tlayout")


def templates_show(name: Annotated[str, typer.Argument(help="A letter type (e.g. punctuality-1) or a layout "
                                                       "(letter.typ.j2).")],
                   folder: FolderOpt = None,
                   names: Annotated[bool, typer.Option("--names", help="List the names a template may use instead.")] = False,
                   ) -> None:
    with c.user_errors():
        from attendance_cli.letters.templates import NAMES_HELP, show

        typer.echo(NAMES_HELP if names else show(name, folder), nl=False)


def templates_copy(target: Annotated[Path, typer.Argument(help="A new folder.", file_okay=False)],
                   force: Annotated[bool, typer.Option("--force", help="Overwrite templates already there.")] = False
                   ) -> None:
    with c.user_errors():
        from attendance_cli.letters.templates import copy_defaults

        written = copy_defaults(target, force)
        c.stderr_console().print(c.escape(f"Copied {len(written)} templates to {target}. Point the policy at it with "
                                           f"letters = \"{target}\", or pass --templates {target}."))
