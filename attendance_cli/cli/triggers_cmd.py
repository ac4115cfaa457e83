"""`attendance triggers`: who has crossed one of the policy's thresholds, and what is new."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from attendance_cli.cli import common as c


def register(app: typer.Typer) -> None:
    app.command(
        "triggers",
        short_help="Pupils who have met a rule of the attendance policy (new since last week with --new).",
        epilog=c.examples(
            "attendance triggers *.csv --policy dfe-national                 # everything met today",
            "attendance triggers *.csv --policy primary-academy --new        # only what is new",
            "attendance triggers *.csv --policy primary-academy --new --record -o week.csv",
            "attendance triggers *.csv --policy my-school.toml --as-of 20/11/2026 --db /srv/attendance/ledger.sqlite",
            "attendance triggers lessons*.csv --policy college --codes college"),
    )(triggers)


def triggers(
    files: c.Files,
    policy: c.PolicyOpt,
    as_of: c.AsOfOpt = None,
    new_only: Annotated[bool, typer.Option("--new", help="Only events not yet recorded in the ledger.",
                                           rich_help_panel="Ledger")] = False,
    record: Annotated[bool, typer.Option("--record", help="Record the new events in the ledger (one transaction: "
                                         "all or nothing), so next week's run does not report them again.",
                                         rich_help_panel="Ledger")] = False,
    db: c.LedgerOpt = None,
    wait: c.WaitOpt = 30.0,
    new_ledger: c.NewLedgerOpt = False,
    calendar: c.CalendarOpt = None,
    fmt: c.FormatOpt = None,
    output: c.OutOpt = None,
    codes: c.PolicyCodesOpt = None,
    source: c.SourceOpt = None,
    maps: c.MapOpt = None,
    encoding: c.EncodingOpt = None,
    lenient: c.LenientOpt = False,
    rejects: c.RejectsOpt = Path("attendance-rejects.csv"),
    duplicates: c.DuplicatesOpt = c.Duplicates.error,
    blank_means: c.BlankOpt = None,
    quiet: c.QuietOpt = False,
) -> None:
    """Every pupil who meets a rule of the attendance policy as of a date (default: the last date
    in the data): one row per pupil and rule, with the value, the threshold, the window, the day
    it was first met and the sessions behind it.

    status: new (not yet in the ledger), recorded (a state such as persistent absence that was
    recorded and still holds) or stale (recorded, but the marks behind it have changed since).
    Sessions already behind a recorded event are never counted again for the same rule.
    """
    with c.user_errors(), contextlib.ExitStack() as stack:
        from attendance_cli.dataset import Dataset
        from attendance_cli.jobs import TriggersOptions, triggers as job
        from attendance_cli.outputs import choose_format
        from attendance_cli.rules import load_policy
        from attendance_cli.rules.policy import check_codes
        from attendance_cli.rules.triggers import policy_settings

        chosen = load_policy(policy)
        settings = policy_settings(chosen, calendar=calendar, db=db, codes=codes)
        options = c.ingest_options(settings.codes, source, maps, encoding, lenient, duplicates, blank_means)
        out_format = choose_format(fmt.value if fmt else None, output, c.stdout_is_terminal())
        check_codes(chosen, options.codes, policy)
        c.check_rejects_writable(lenient, rejects)
        data = Dataset.open(files, options)
        if record:  # one recording run at a time per ledger, from reading it to recording
            creating = c.ledger_to_record(chosen, db, new_ledger)
            stack.enter_context(c.recording(settings.ledger, wait, None, creating))
        with c.progress(f"Evaluating the {chosen.name} policy"):
            result = job(data, TriggersOptions(settings, c.parse_cli_date(as_of, "--as-of"), new_only, record))
        if result.warning and record:
            c.stderr_console().print(c.escape(result.warning))
        found = result.found
        if found.tally.report.rejected:  # before recording and the output: a failure here leaves nothing done
            c.write_rejects(found.tally, rejects)
        recorded = _show(result, out_format, output, settings.ledger if record else None, wait)
        c.reading_summary(found.tally, rejects, quiet)
        c.trigger_summary(found, recorded, new_only, quiet)
        c.exit_for(found.tally)


def _show(result, out_format: str, output: Path | None, ledger: Path | None, wait: float):
    """Print or write the table; with a ledger, record the events too, the output shown (or the file
    put in place) inside the ledger's transaction, last before it commits: a run that cannot show
    its events records nothing, and a run killed after showing them has recorded none, so the next
    run shows them again. An event is never recorded unseen."""
    from attendance_cli.outputs import write_frame

    def show() -> None:
        if out_format == "table":
            from attendance_cli.cli.render import print_table

            found = result.found
            print_table(result.table, title=result.title,
                        caption=f"Policy {found.evaluation.policy.name}, {len(found.evaluation.policy.rules)} rules. "
                                f"Ledger: {found.ledger_path or 'none yet'}.")
        else:
            write_frame(result.table, out_format, None, sheet="triggers", metadata=result.metadata,
                        stamp=result.stamp)

    def record(then: Callable[[], None]):
        from attendance_cli.locks import checkpoint
        from attendance_cli.outputs import kill_point
        from attendance_cli.rules.triggers import record_triggers

        def shown_then_kill_point() -> None:
            then()
            checkpoint("shown")
            kill_point("triggers-shown")  # the fault tests: killed after showing, before the commit

        with c.progress("Recording in the ledger"):
            done = record_triggers(result.found, ledger, wait=wait, before_commit=shown_then_kill_point)
        checkpoint("committed")
        return done

    if output is not None and out_format != "table":
        from attendance_cli.outputs import atomic_write, place

        recorded = []

        def write_then_record(temp: Path) -> None:
            write_frame(result.table, out_format, temp, sheet="triggers", metadata=result.metadata,
                        stamp=result.stamp)
            if ledger is not None:  # the file goes into place inside the transaction
                recorded.append(record(lambda: place(temp, output)))

        atomic_write(output, write_then_record)
        return recorded[0] if recorded else None
    if ledger is None:
        show()
        return None
    return record(show)
