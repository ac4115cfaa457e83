"""`attendance send`: send the e-mailed letters the ledger holds unsent, without reading the exports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from attendance_cli.cli import common as c


def register(app: typer.Typer) -> None:
    app.command(
        "send",
        short_help="Send the e-mailed letters still to send (queued by letters --send, or failed), recorded in the ledger.",
        epilog=c.examples(
            "attendance send --db ledger.sqlite --school school.toml            # retry what failed",
            "attendance send --policy primary-academy --dry-run                 # check the mail settings",
            "attendance send --db ledger.sqlite --school school.toml --resend-unknown"),
    )(send)


def send(
    policy: Annotated[Optional[str], typer.Option(
        "--policy", "-p", metavar="NAME|FILE", help="Take the ledger and the school settings file from this policy.",
        callback=c.policy_option)] = None,
    db: c.LedgerOpt = None,
    school: Annotated[Optional[Path], typer.Option(
        "--school", metavar="FILE", help="School settings with the [smtp] table; default: the policy's `school`, "
        "else ./school.toml.", dir_okay=False)] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Connect and log in to check the settings; send and record nothing.")] = False,
    rate: c.RateOpt = None,
    resend_unknown: c.ResendUnknownOpt = False,
    wait: c.WaitOpt = 30.0,
    quiet: c.QuietOpt = False,
) -> None:
    """Send every e-mailed letter the ledger holds as queued or failed: each is read from the .eml
    file its letters run wrote (nothing is written again, no event recorded), marked 'sending'
    before it goes, then 'sent', or 'failed' with the server's reason. A letter an earlier run
    handed to the server without hearing back is not sent again without --resend-unknown. Exit 4
    if any message failed or its outcome is unknown; `attendance send` again retries the failed."""
    with c.user_errors():
        from attendance_cli.jobs.send import SendOptions, check_connection, send_letters
        from attendance_cli.letters.school import load_school, school_path
        from attendance_cli.rules.triggers import ledger_path_for

        chosen = None
        if policy is not None:
            from attendance_cli.rules import load_policy

            chosen = load_policy(policy)
        settings_file = school_path(school, chosen.school if chosen is not None else None)
        options = SendOptions(load_school(settings_file), rate, resend_unknown, wait)
        if dry_run:
            where = check_connection(options)
            c.stderr_console().print(c.escape(f"Dry run: connected to the mail server {where}; nothing was sent or "
                                              "recorded."))
            return
        if chosen is not None:
            ledger = ledger_path_for(chosen, db)
        else:
            import os

            from attendance_cli.rules.triggers import DEFAULT_LEDGER

            ledger = db or (Path(os.environ["ATTENDANCE_DB"]) if os.environ.get("ATTENDANCE_DB") else DEFAULT_LEDGER)
        if not ledger.exists():
            from attendance_cli.errors import MissingFileError

            raise MissingFileError(f"There is no ledger at {ledger}.",
                                   fix="Give --db PATH (the ledger attendance letters --send records in), or --policy.")
        # one sending run at a time per ledger (as one recording run): a message another run has in
        # flight is never taken for one an earlier run left unknown
        with c.recording(ledger, options.wait), c.progress("Sending the e-mails"):
            outcome = send_letters(ledger, options)
        c.send_report(outcome, quiet)
