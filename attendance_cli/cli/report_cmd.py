"""`attendance report`: the half-termly attendance pack for leaders, governors and the trust."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from attendance_cli.cli import common as c

REPORT = "Report"


class Phase(str, Enum):
    primary = "primary"
    secondary = "secondary"
    special = "special"
    all = "all"


def register(app: typer.Typer) -> None:
    app.command(
        "report",
        short_help="The half-termly attendance report (HTML or PDF): headline, benchmarks, breakdowns, charts, patterns.",
        epilog=c.examples(
            "attendance report *.csv --out report.html                     # this half term",
            "attendance report *.csv --window ytd --out report.pdf --school school.toml",
            "attendance report *.csv --pupils pupils.csv --out report.html # breakdowns by SEN, FSM, ...",
            "attendance report *.csv --policy primary-academy --out report.html  # with letters and their effect",
            "attendance report *.csv --anonymous --suppress-below 10 --out governors.pdf",
            "attendance report *.csv --cohort dfe --phase secondary --out report.html  # like with like, nationally",
            "attendance report *.csv --benchmark authority.csv --out report.html      # the authority's own figures"),
    )(report)
    register_more(app)


def report(
    files: c.Files,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="report.html or report.pdf (written whole or "
                                      "not at all).", dir_okay=False, rich_help_panel=REPORT)],
    window: c.WindowOpt = None,
    as_of: c.AsOfOpt = None,
    start: c.FromOpt = None,
    end: c.ToOpt = None,
    calendar: c.CalendarOpt = None,
    cohort: c.CohortOpt = c.Cohort.all,
    title: Annotated[Optional[str], typer.Option("--title", help="The report's title.", rich_help_panel=REPORT)] = None,
    school: Annotated[Optional[Path], typer.Option(
        "--school", metavar="FILE", help="School settings (its name goes on the report).", exists=True, dir_okay=False,
        rich_help_panel=REPORT)] = None,
    pupils: Annotated[Optional[Path], typer.Option(
        "--pupils", metavar="FILE", help="Pupil attributes CSV (pupil_id, then sen, fsm, pupil_premium, gender, ethnicity, ...): "
        "one breakdown per column.", exists=True, dir_okay=False, rich_help_panel=REPORT)] = None,
    suppress_below: Annotated[int, typer.Option(
        "--suppress-below", metavar="N", min=1, help="Groups of fewer than N pupils are shown as 'fewer than N'.",
        rich_help_panel=REPORT)] = 5,
    anonymous: Annotated[bool, typer.Option(
        "--anonymous", help="Counts only: no pupil names or ids (for governors and the trust).",
        rich_help_panel=REPORT)] = False,
    policy: Annotated[Optional[str], typer.Option(
        "--policy", "-p", metavar="NAME|FILE", help="With the ledger: attendance before and after the letters sent "
        "under this policy.", rich_help_panel=REPORT, callback=c.policy_option)] = None,
    db: c.LedgerOpt = None,
    phase: Annotated[Optional[Phase], typer.Option(
        "--phase", metavar="primary|secondary|special|all", help="The national figures to compare with. Default: the "
        "school settings' phase, else from the year groups (all when the exports have none).",
        rich_help_panel=REPORT)] = None,
    benchmark: Annotated[Optional[Path], typer.Option(
        "--benchmark", metavar="FILE", help="Compare with these figures (an authority's own: a CSV with the columns "
        "of the national figures shipped, see the README) instead of the national ones.", dir_okay=False,
        rich_help_panel=REPORT)] = None,
    codes: c.CodesOpt = "dfe",
    source: c.SourceOpt = None,
    maps: c.MapOpt = None,
    encoding: c.EncodingOpt = None,
    quiet: c.QuietOpt = False,
) -> None:
    """A standalone report for a window (default: the current half term): attendance, absence, PA
    and SA against the national figures for the phase and against the same window last year;
    breakdowns by year group, form and pupil attributes with small groups suppressed; charts of the
    weekly trend, day and session, reasons and lateness; patterns; the effect of letters; the method.
    The figures are those `attendance summary` gives for the same window.
    """
    import datetime as dt

    with c.user_errors():
        from attendance_cli.dataset import Dataset
        from attendance_cli.errors import UsageError
        from attendance_cli.jobs import ReportOptions, report as job
        from attendance_cli.outputs import atomic_write
        from attendance_cli.reports.figures import read_pupil_file
        from attendance_cli.reports.render import charts, context, to_html, to_pdf

        kind = out.suffix.lower().lstrip(".")
        if kind not in ("html", "pdf"):
            raise UsageError(f"Cannot tell the report's format from {out.name}.", fix="Name it .html or .pdf.")
        school_settings = None
        if school is not None:
            from attendance_cli.letters.school import load_school

            loaded = load_school(school)
            school_settings = loaded.letter_details()
            if phase is None and loaded.phase is not None:
                phase = Phase(loaded.phase)
        chosen_policy = None
        if policy is not None:
            from attendance_cli.rules import load_policy

            chosen_policy = load_policy(policy)
        options = ReportOptions(c.window_choice(window, as_of, start, end, cohort), calendar, title, suppress_below,
                                read_pupil_file(pupils) if pupils is not None else None, chosen_policy, db,
                                phase.value if phase is not None else None, benchmark)
        data = Dataset.open(files, c.ingest_options(codes, source, maps, encoding, False, c.Duplicates.error, None))
        from attendance_cli.reports.charts import warm_up

        warm_up()
        with c.progress("Working out the figures"):
            result = job(data, options)
        with c.progress("Drawing the charts"):
            svgs = charts(result.figures)
            page = context(result.figures, school_settings, anonymous)
        if kind == "html":
            text = to_html(page, svgs)
            atomic_write(out, lambda temp: temp.write_text(text, encoding="utf-8"))
        else:
            pdf = to_pdf(page, svgs, dt.date.today())
            atomic_write(out, lambda temp: temp.write_bytes(pdf))
        if not quiet:
            from attendance_cli.formatting import plural

            pupil_count = plural(result.figures.headline.get("pupils", 0) or 0, "pupil")
            c.stderr_console().print(c.escape(f"Wrote {out}: {result.window.describe()}, {pupil_count}."))


def register_more(app: typer.Typer) -> None:
    app.command(
        "slips",
        short_help="The half-termly attendance report for each family: one page per pupil, in form order (PDF).",
        epilog=c.examples(
            "attendance slips *.csv --policy primary-academy --out slips.pdf",
            "attendance slips *.csv --policy primary-academy --out slips.pdf --per-pupil slips/ --school school.toml",
            "attendance slips *.csv --policy primary-academy --out 3A.pdf --form 3A --window half-term --text legal.txt"),
    )(slips)
    app.command(
        "digest",
        short_help="The weekly list for each tutor or head of year: one file per form or year group.",
        epilog=c.examples(
            "attendance digest *.csv --by form --out digests/                 # an HTML page per form",
            "attendance digest *.csv --by year_group --out digests/ -f csv",
            "attendance digest *.csv --by form --out digests/ --policy primary-academy   # with new triggers",
            "attendance digest *.csv --by form --out digests/ --send --staff staff.csv --school school.toml"),
    )(digest)


def slips(
    files: c.Files,
    policy: c.PolicyOpt,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="The merged PDF, in form order.",
                                      dir_okay=False, rich_help_panel=REPORT)],
    per_pupil: Annotated[Optional[Path], typer.Option(
        "--per-pupil", metavar="DIR", help="Also one PDF per pupil in this folder (named by pupil id; an id with "
        "characters other than letters, digits and - also gets a short code from the id, so no two share a file).",
        file_okay=False, rich_help_panel=REPORT)] = None,
    school: Annotated[Optional[Path], typer.Option(
        "--school", metavar="FILE", help="School settings (its name goes on each slip, and its slip_text under "
        "the figures).", exists=True, dir_okay=False, rich_help_panel=REPORT)] = None,
    text: Annotated[Optional[Path], typer.Option(
        "--text", metavar="FILE", help="The school's own paragraph for every slip (e.g. the legal text), instead of "
        "the school settings' slip_text: plain text, paragraphs split by blank lines, '- ' bullets, **bold**.",
        exists=True, dir_okay=False, rich_help_panel=REPORT)] = None,
    form: Annotated[Optional[list[str]], typer.Option(
        "--form", metavar="FORM", help="Only this form's pupils (repeatable).", rich_help_panel=REPORT)] = None,
    year: Annotated[Optional[list[str]], typer.Option(
        "--year", metavar="YEAR_GROUP", help="Only this year group's pupils, as the export names it, e.g. 'Year 3' "
        "(repeatable).", rich_help_panel=REPORT)] = None,
    simplex: Annotated[bool, typer.Option(
        "--simplex", help="A merged PDF for a single-sided printer: no blank back to each slip (by default each "
        "slip is on a sheet of its own when printed on both sides).", rich_help_panel=REPORT)] = False,
    window: c.WindowOpt = None,
    start: c.FromOpt = None,
    end: c.ToOpt = None,
    as_of: c.AsOfOpt = None,
    calendar: c.CalendarOpt = None,
    codes: c.PolicyCodesOpt = None,
    source: c.SourceOpt = None,
    maps: c.MapOpt = None,
    encoding: c.EncodingOpt = None,
    letter_date: Annotated[Optional[str], typer.Option("--date", metavar="DATE", help="The date printed on the slips "
                                                       "(default: today).", rich_help_panel=REPORT)] = None,
    quiet: c.QuietOpt = False,
) -> None:
    """Per pupil: attendance over the window (default: the school year to date; --window, or --from
    and --to), days missed, times late, and the policy's band (e.g. inadequate, requires
    improvement, good, outstanding) with its explanation, then the school's own paragraph. Each
    slip prints its window's dates; the figures are those of `attendance summary` for the same
    window."""
    import datetime as dt

    with c.user_errors():
        from attendance_cli.dataset import Dataset
        from attendance_cli.jobs import SlipsOptions, slips as job
        from attendance_cli.outputs import atomic_write
        from attendance_cli.reports.slips import slips_pdf
        from attendance_cli.rules import load_policy
        from attendance_cli.rules.triggers import policy_settings

        settings = policy_settings(load_policy(policy), calendar=calendar, codes=codes, school=school)
        own = None
        if text is not None:
            from attendance_cli.reports.slips import slip_document

            own = text.read_text(encoding="utf-8-sig")
            slip_document(own, str(text))  # a mistake in it named before the exports are read
        choice = c.window_choice(window, as_of, start, end)
        data = Dataset.open(files, c.ingest_options(settings.codes, source, maps, encoding, False, c.Duplicates.error, None))
        with c.progress("Working out each pupil's figures"):
            result = job(data, SlipsOptions(settings, choice.as_of, choice, tuple(form or ()), tuple(year or ()), own))
        rows = result.rows
        when = c.parse_cli_date(letter_date, "--date") or dt.date.today()
        with c.progress(f"Typesetting {len(rows):,} slips"):
            pdfs, whole = slips_pdf(rows, result.school, result.dates, when, result.bands, result.text, not simplex)
        atomic_write(out, lambda temp: temp.write_bytes(whole))
        if per_pupil is not None:
            from attendance_cli.outputs import new_folder
            from attendance_cli.reports.naming import file_names

            # every pupil their own file, named the same in every run (A/1 and A-1 would both clean to A-1);
            # written together: all or none, and a run killed part-way put right by the next
            from attendance_cli.outputs import write_together

            names = file_names((row["pupil_id"] for row in rows), mark_changed=True)
            with new_folder(per_pupil):
                write_together(per_pupil, [(f"{names[row['pupil_id']]}.pdf",
                                            lambda path, pdf=pdf: path.write_bytes(pdf))
                                           for row, pdf in zip(rows, pdfs)], ".attendance-slips-", "slips")
        if not quiet:
            from attendance_cli.formatting import plural

            extra = f" and one per pupil in {per_pupil}" if per_pupil else ""
            written = plural(len(rows), "slip")
            c.stderr_console().print(c.escape(f"Wrote {written} to {out}{extra}: {result.window.describe()}."))


class DigestFormat(str, Enum):
    html = "html"
    csv = "csv"
    pdf = "pdf"


def digest(
    files: c.Files,
    by: Annotated[str, typer.Option("--by", metavar="form|year_group", help="One file per form or per year group.",
                                    rich_help_panel=REPORT)],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Folder for the files (digest-GROUP.EXT).",
                                      file_okay=False, rich_help_panel=REPORT)],
    fmt: Annotated[DigestFormat, typer.Option("--format", "-f", help="html (default), csv or pdf.",
                                              rich_help_panel=REPORT)] = DigestFormat.html,
    policy: Annotated[Optional[str], typer.Option(
        "--policy", "-p", metavar="NAME|FILE", help="List each pupil's new trigger events under this policy "
        "(not yet in the ledger).", rich_help_panel=REPORT, callback=c.policy_option)] = None,
    db: c.LedgerOpt = None,
    as_of: c.AsOfOpt = None,
    calendar: c.CalendarOpt = None,
    codes: c.CodesOpt = "dfe",
    source: c.SourceOpt = None,
    maps: c.MapOpt = None,
    encoding: c.EncodingOpt = None,
    send: c.SendOpt = False,
    staff: Annotated[Optional[Path], typer.Option(
        "--staff", metavar="FILE", help="With --send: who gets each digest, a CSV of form (or year_group), name, email.",
        exists=True, dir_okay=False, rich_help_panel=c.SENDING)] = None,
    school: Annotated[Optional[Path], typer.Option(
        "--school", metavar="FILE", help="With --send: school settings with the [smtp] table (default: the policy's "
        "`school`, else ./school.toml).", dir_okay=False, rich_help_panel=c.SENDING)] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="With --send: write the digests, connect and log in, list who would get them; send and "
        "record nothing.", rich_help_panel=c.SENDING)] = False,
    rate: c.RateOpt = None,
    resend_unknown: c.ResendUnknownOpt = False,
    wait: c.WaitOpt = 30.0,
    quiet: c.QuietOpt = False,
) -> None:
    """For each form (or year group): every pupil's attendance this week and this school year, days
    missed, sessions left unmarked this week, and, with --policy, the trigger events new this
    week. Written whole or not at all.

    With --send, each digest is e-mailed (attached) to the staff --staff lists for its group, once a
    week: the ledger records each as sent or failed; a failed one is sent by the next --send of the
    same week, none twice. A group with no staff address is reported. Exit 4 if any failed."""
    with c.user_errors():
        from attendance_cli.dataset import Dataset
        from attendance_cli.jobs import DigestOptions, digest as job
        from attendance_cli.outputs import new_folder

        from attendance_cli.errors import UsageError

        settings = None
        if policy is not None:
            from attendance_cli.rules import load_policy
            from attendance_cli.rules.triggers import policy_settings

            # the policy's calendar, ledger and code table, as `triggers` uses them
            settings = policy_settings(load_policy(policy), calendar=calendar, db=db,
                                       codes=codes if codes != "dfe" else None, school=school)
        if (staff is not None or dry_run or resend_unknown or rate is not None) and not send:
            raise UsageError("--staff, --dry-run, --rate and --resend-unknown go with --send.",
                             fix="Add --send to e-mail the digests, or leave those options out.")
        sending = people = None
        if send:
            from attendance_cli.jobs.send import SendOptions, mailer
            from attendance_cli.letters.school import load_school, school_path
            from attendance_cli.mail.staff import read_staff

            if staff is None:
                raise UsageError("--send needs --staff FILE: who gets each digest.",
                                 fix=f"Give a CSV with the columns {by}, name, email.")
            school_file = settings.school if settings is not None else school_path(school, None)
            sending = SendOptions(load_school(school_file), rate, resend_unknown, wait)
            mailer(sending)  # the settings and the password, before the exports are read
            people = read_staff(staff, by)
        data = Dataset.open(files, c.ingest_options(settings.codes if settings else codes, source, maps, encoding, False,
                                                    c.Duplicates.error, None))
        with c.progress("Working out the week"):
            result = job(data, DigestOptions(by, c.parse_cli_date(as_of, "--as-of"), calendar, settings))
        with new_folder(out):  # a failed run leaves no folder of its own behind
            written = _write_digests(out, result, by, fmt)
        if not quiet:
            from attendance_cli.formatting import plural

            c.stderr_console().print(c.escape(f"Wrote {plural(len(written), 'digest')} to {out}: {result.week}."))
        if sending is not None:
            _send_digests(result, written, out, by, people, sending, staff, settings, db, dry_run, quiet)


def _send_digests(result, written: list[str], out: Path, by: str, people, sending, staff: Path, settings, db,
                  dry_run: bool, quiet: bool) -> None:
    from attendance_cli.formatting import plural
    from attendance_cli.jobs.send import check_connection, digest_mails, send_digests

    console = c.stderr_console()
    files = {group: out / name for group, name in zip(result.groups, written)}
    mails, unstaffed = digest_mails(list(result.groups), files, people, by, result.week)
    label = "form" if by == "form" else "year group"
    if unstaffed:
        console.print(c.escape(f"Warning: no staff address in {staff} for {plural(len(unstaffed), label)} "
                               f"({', '.join(unstaffed)}): {'its digest was' if len(unstaffed) == 1 else 'their digests were'} "
                               "written, not sent."))
    if dry_run:
        where = check_connection(sending)
        console.print(c.escape(f"Dry run: connected to the mail server {where}; {plural(len(mails), 'digest')} would "
                               "be sent; nothing was sent or recorded."))
        for mail in mails:
            console.print(c.escape(f"  {label} {mail.group} to {mail.email}"))
        return
    if settings is not None:
        ledger = settings.ledger
    else:
        import os

        from attendance_cli.rules.triggers import DEFAULT_LEDGER

        ledger = db or (Path(os.environ["ATTENDANCE_DB"]) if os.environ.get("ATTENDANCE_DB") else DEFAULT_LEDGER)
    with c.progress("Sending the digests"):
        outcome = send_digests(ledger, sending, mails, by, result.week_start or result.as_of)
    c.send_report(outcome, quiet, "digest")


def _write_digests(out: Path, result, by: str, fmt: DigestFormat) -> list[str]:
    """Every group's digest (`result`: jobs.DigestResult), written together (`outputs.write_together`): all
    or none, and a run killed part-way put right by the next. Returns the names written."""
    from attendance_cli.outputs import write_frame, write_together
    from attendance_cli.reports.naming import file_names

    groups, week, year, reference = result.groups, result.week, result.year, result.as_of

    # one file per group: 3/B and 3-B both clean to 3-B, and the second would overwrite the first
    names = file_names(groups)
    label = {"form": "Form", "year_group": ""}[by]

    template = None
    if fmt is DigestFormat.html:
        from attendance_cli.reports.render import environment

        template = environment("html").get_template("digest.html.j2")

    def writer(group, rows):
        if fmt is DigestFormat.csv:
            return lambda path: write_frame(rows, "csv", path, stamp=result.stamp)
        title = f"Attendance this week: {label + ' ' if label else ''}{group}"
        return lambda path: path.write_bytes(_digest_page(fmt, title, week, year, rows, reference, template))

    return write_together(out, [(f"digest-{names[group]}.{fmt.value}", writer(group, rows))
                                for group, rows in groups.items()], DIGEST_STAGING, "digest")


DIGEST_STAGING = ".attendance-digest-"


def recover_digests(out: Path) -> list[str]:
    """A digest run killed part-way, put right (`outputs.recover_together`)."""
    from attendance_cli.outputs import recover_together

    return recover_together(out, DIGEST_STAGING)


def _digest_page(fmt: DigestFormat, title: str, week: str, year: str, rows, reference, template=None) -> bytes:
    """One group's digest as an HTML page or a PDF (`template`: digest.html.j2, loaded once for every group's)."""
    from attendance_cli.errors import UsageError
    from attendance_cli.reports.render import environment

    if fmt is DigestFormat.html:
        from markupsafe import Markup

        from attendance_cli.reports.render import digest_rows

        page = (template or environment("html").get_template("digest.html.j2")).render(
            title=title, week=week, year=year, body=Markup(digest_rows(rows)))
        return page.encode("utf-8")
    from attendance_cli.letters.pdf import compile_one

    env = environment("typ")
    source_text = env.get_template("digest.typ.j2").render(title=title, week=week, year=year, rows=rows.to_dicts())
    data, message = compile_one((source_text, True, reference.isoformat()))
    if message or data is None:
        raise UsageError(f"The digest template digest.typ.j2 does not compile: {message}.")
    return data
