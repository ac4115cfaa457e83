"""`history`: one pupil's timeline, from the exports (if given) and the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attendance_cli.dataset import Dataset
    from attendance_cli.reports.history import History
    from attendance_cli.rules import Policy


@dataclass(frozen=True)
class HistoryOptions:
    pupil_id: str
    policy: Policy | None = None  # its ledger and calendar, and its events only
    calendar: Path | None = None
    db: Path | None = None


def ledger_for(options: HistoryOptions) -> Path:
    """--db, else the policy's ledger, else ATTENDANCE_DB, else the working directory's."""
    import os

    from attendance_cli.rules.triggers import DEFAULT_LEDGER, ledger_path_for

    if options.policy is not None:
        return ledger_path_for(options.policy, options.db)
    if options.db is not None:
        return options.db
    return Path(os.environ["ATTENDANCE_DB"]) if os.environ.get("ATTENDANCE_DB") else DEFAULT_LEDGER


def history(data: Dataset | None, options: HistoryOptions) -> History:
    from attendance_cli.reports.history import pupil_history

    calendar_file = options.calendar
    if options.policy is not None:
        from attendance_cli.rules.triggers import policy_settings

        calendar_file = policy_settings(options.policy, calendar=options.calendar, db=options.db).calendar_file
    return pupil_history(options.pupil_id.strip(), data, calendar_file, ledger_for(options),
                         options.policy.name if options.policy else None)
