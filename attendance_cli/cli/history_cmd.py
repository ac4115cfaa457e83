"""`attendance history`: one pupil's timeline of attendance and trigger events."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from attendance_cli.cli import common as c


def register(app: typer.Typer) -> None:
    app.command(
        "history",
        short_help="One pupil's timeline: attendance per half term, events recorded, stages reached, actions taken.",
        epilog=c.examples(
            "attendance history 000126                       # events in the ledger",
            "attendance history 000126 exports/*.csv         # with attendance per half term",
            "attendance history 000126 *.csv --db /srv/attendance/ledger.sqlite -f csv > 000126.csv"),
    )(history)


def history(
    pupil_id: Annotated[str, typer.Argument(metavar="PUPIL_ID", help="The pupil's identifier, as in the exports.")],
    files: Annotated[Optional[list[Path]], typer.Argument(
        metavar="[EXPORT]...", help="Register exports, for the attendance per half term (optional).",
        exists=True, dir_okay=False, readable=True, show_default=False)] = None,
    policy: Annotated[Optional[str], typer.Option("--policy", "-p", metavar="NAME|FILE",
                                                  help="Only this policy's events (default: every policy in the ledger). "
                                                       "Its ledger, code table and calendar are used.",
                                                  callback=c.policy_option)] = None,
    db: c.LedgerOpt = None,
    codes: Annotated[Optional[str], typer.Option(
        "--codes", metavar="NAME|FILE", help="Code table for the exports (default: the policy's, else dfe).",
        rich_help_panel=c.INGEST)] = None,
    calendar: c.CalendarOpt = None,
    fmt: c.FormatOpt = None,
    output: c.OutOpt = None,
) -> None:
    """A pupil's timeline: attendance per half term (from the exports, if given), then every
    event recorded in the ledger with its rule, stage, value and the sessions behind it, and when
    the pupil left a state (for example no longer persistently absent), and what the school recorded it
    did about each case (`attendance case record`: the action, its ladder, until and note)."""
    with c.user_errors():
        from attendance_cli.errors import UsageError
        from attendance_cli.jobs import HistoryOptions, history as job
        from attendance_cli.jobs.history import ledger_for
        from attendance_cli.outputs import choose_format, write_frame
        from attendance_cli.rules import load_policy

        pupil_id = pupil_id.strip()  # ids are read from the exports without surrounding spaces
        chosen = load_policy(policy) if policy else None
        options = HistoryOptions(pupil_id, chosen, calendar, db)
        ledger_path = ledger_for(options)
        data = None
        if files:  # (without exports, a missing ledger leaves nothing to show: the error below says so)
            from attendance_cli.dataset import Dataset

            c.given_ledger(db)
            codes = codes or (chosen.codes if chosen else "dfe")
            data = Dataset.open(files, c.ingest_options(codes, None, None, None, False, c.Duplicates.error, None))
        result = job(data, options)
        if files and not ledger_path.exists():
            c.stderr_console().print(c.escape(f"No ledger at {ledger_path}: no events to show, only attendance "
                                               "(give the ledger with --db if it is elsewhere)."))
        if result.timeline.is_empty():
            where = f" in {ledger_path}" if ledger_path.exists() else f" (no ledger at {ledger_path})"
            raise UsageError(f"Nothing is known about pupil {pupil_id!r}{where}" + (" or in the exports." if files else "."),
                             fix="Check the pupil id (as in the exports), and --db if the ledger is elsewhere.")
        out_format = choose_format(fmt.value if fmt else None, output, c.stdout_is_terminal())
        if out_format == "table":
            from attendance_cli.cli.render import print_table

            print_table(result.timeline, title=f"History of pupil {pupil_id}{result.name}",
                        caption=f"Ledger: {ledger_path if ledger_path.exists() else 'none'}. {result.note}")
        else:
            write_frame(result.timeline, out_format, output, sheet="history")
