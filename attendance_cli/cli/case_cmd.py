"""`attendance case`: record what the school did about a case (a pupil on a ladder), and list the cases."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from attendance_cli.cli import common as c

if TYPE_CHECKING:
    from attendance_cli.rules.policy import Policy

ACTIONS_HELP = ("evidence-received, meeting-held, notice-issued, notice-waived, referred, closed, hold "
                "(hold needs --until)")

app = typer.Typer(
    name="case", no_args_is_help=True, rich_markup_mode=None,
    help="What the school did about a case (a pupil on a ladder of the policy): meetings held, evidence received, "
         "notices issued or waived, referrals, holds, cases closed. The next run of `attendance letters` reads them.",
    epilog=c.examples(
        "attendance case record S1 --ladder unauthorised --action meeting-held --date 12/11/2026",
        "attendance case record S1 --ladder medical --action hold --date 20/11/2026 --until 01/12/2026",
        "attendance case import actions.csv --policy primary-academy",
        "attendance case list --pupil S1"),
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="case", short_help="Record what the school did about a case (case record, case import); "
                                                "list the cases.")


PolicyOpt = Annotated[Optional[str], typer.Option(
    "--policy", "-p", metavar="NAME|FILE", help="The attendance policy: ladders are checked against its ladders, and "
    "its 'ledger' is used unless --db is given.", callback=c.policy_option)]


def _policy(name: str | None) -> Policy | None:
    if name is None:
        return None
    from attendance_cli.rules import load_policy

    return load_policy(name)


def _ledger(policy: Policy | None, db: Path | None) -> Path:
    """--db, else the policy's 'ledger', else $ATTENDANCE_DB, else ./attendance-ledger.sqlite."""
    import os

    from attendance_cli.rules.triggers import DEFAULT_LEDGER, ledger_path_for

    if policy is not None:
        return ledger_path_for(policy, db)
    if db is not None:
        return db
    return Path(os.environ["ATTENDANCE_DB"]) if os.environ.get("ATTENDANCE_DB") else DEFAULT_LEDGER


def _say(text: str) -> None:
    c.stderr_console().print(c.escape(text))


@app.command("record", short_help="Record one action on a case (meeting-held, hold, closed, ...).", epilog=c.examples(
    "attendance case record S1 --ladder unauthorised --action meeting-held --date 12/11/2026",
    "attendance case record S1 --ladder penalty --action notice-issued --date 13/11/2026 --policy dfe-national",
    "attendance case record S1 --ladder medical --action evidence-received --date 16/11/2026 --until 20/11/2026",
    "attendance case record S1 --ladder unauthorised --action hold --date 16/11/2026 --until 04/12/2026 "
    "--note 'bereavement'",
    "attendance case record S1 --ladder unauthorised --action closed --date 18/12/2026 --db /srv/attendance/ledger.sqlite"))
def record(
    pupil_id: Annotated[str, typer.Argument(metavar="PUPIL_ID", help="The pupil's identifier, as in the exports.")],
    ladder: Annotated[str, typer.Option("--ladder", "-l", metavar="LADDER", help="The case's ladder (e.g. "
                      "unauthorised, punctuality, medical): `attendance policy show` lists each rule's ladder.",
                      show_default=False)],
    action: Annotated[str, typer.Option("--action", "-a", metavar="ACTION", help=f"What the school did: {ACTIONS_HELP}.",
                      show_default=False)],
    date: Annotated[str, typer.Option("--date", "-d", metavar="DATE", help="The day it was done (dd/mm/yyyy), not "
                    "after today.", show_default=False)],
    until: Annotated[Optional[str], typer.Option("--until", metavar="DATE", help="hold: the date the case is on hold "
                     "until (needed). evidence-received: the date the evidence covers absences up to. Not for the "
                     "other actions.")] = None,
    note: Annotated[str, typer.Option("--note", metavar="TEXT", help="A note kept with the action (shown by "
                    "`attendance history`, never in messages).")] = "",
    db: c.LedgerOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Record one thing the school did about a pupil's case, in the ledger (which must already exist). The
    same action on the same case and date is recorded once."""
    with c.user_errors():
        from attendance_cli.casework.actions import normal_action, record_action
        from attendance_cli.ingest.dates import format_date, parse_date

        chosen = _policy(policy)
        path = _ledger(chosen, db)
        recorded, _ = record_action(path, pupil_id, ladder, action, date, until, note, chosen)
        day = parse_date(date.strip())
        end = parse_date(until.strip()) if until and until.strip() else None
        when = format_date(day) + (f", until {format_date(end)}" if end else "")
        what = (f"{normal_action(action)} for pupil {pupil_id.strip()} on the {ladder.strip()} case ({when}) "
                f"in {path}")
        _say(f"Recorded {what}." if recorded else f"Already recorded: {what}; nothing changed.")


@app.command("import", short_help="Record a CSV of actions, all or nothing.", epilog=c.examples(
    "attendance case import actions.csv",
    "attendance case import actions.csv --policy primary-academy   # ladders checked against the policy",
    "attendance case import actions.xlsx --db /srv/attendance/ledger.sqlite",
    "",
    "actions.csv:",
    "  pupil_id,ladder,action,date,until,note",
    "  S1,unauthorised,meeting-held,12/11/2026,,met mum",
    "  S2,medical,evidence-received,13/11/2026,20/11/2026,GP letter",
    "  S3,unauthorised,hold,16/11/2026,04/12/2026,"))
def import_(
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", help="A CSV (or workbook) of actions, one a row: "
                    "pupil_id (or Student ID, ...), ladder, action, date, until, note.",
                    exists=True, dir_okay=False, readable=True, show_default=False)],
    db: c.LedgerOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Record a file of actions, all or nothing: every row is checked first, and nothing is recorded if any
    row is bad (each problem is listed with its lines). Actions already in the ledger are recorded once, so
    importing the same file again records nothing new."""
    with c.user_errors():
        from attendance_cli.casework.actions import import_actions
        from attendance_cli.formatting import plural

        chosen = _policy(policy)
        path = _ledger(chosen, db)
        recorded, already = import_actions(path, file, chosen)
        extra = f" ({already:,} already recorded)" if already else ""
        _say(f"Recorded {plural(recorded, 'action')} from {file} in {path}{extra}.")


@app.command("list", short_help="The cases in the ledger: stage, letters, actions, holds.", epilog=c.examples(
    "attendance case list",
    "attendance case list --pupil S1",
    "attendance case list --ladder unauthorised --policy primary-academy -f csv > cases.csv"))
def list_(
    pupil: Annotated[Optional[str], typer.Option("--pupil", metavar="ID", help="Only this pupil's cases.")] = None,
    ladder: Annotated[Optional[str], typer.Option("--ladder", "-l", metavar="LADDER", help="Only this ladder's cases.")] = None,
    db: c.LedgerOpt = None,
    policy: PolicyOpt = None,
    fmt: c.FormatOpt = None,
    output: c.OutOpt = None,
) -> None:
    """Every case in the ledger (a pupil on a ladder with events or actions): the stage reached this school
    year, the last event and letter, the number of letters, what the school recorded, and any hold."""
    with c.user_errors():
        from attendance_cli.casework.actions import list_cases
        from attendance_cli.outputs import choose_format, write_frame

        chosen = _policy(policy)
        path = _ledger(chosen, db)
        cases = list_cases(path, chosen, pupil.strip() if pupil else None, ladder.strip() if ladder else None)
        if cases.is_empty():
            _say(f"No cases in {path}" + (" for the pupil and ladder given." if pupil or ladder else "."))
        out_format = choose_format(fmt.value if fmt else None, output, c.stdout_is_terminal())
        if out_format == "table":
            from attendance_cli.cli.render import print_table

            print_table(cases, title="Cases", caption=f"Ledger: {path}.", keep=("pupil_id", "ladder", "stage"))
        else:
            write_frame(cases, out_format, output, sheet="cases")
