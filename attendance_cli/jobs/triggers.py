"""`triggers`: who meets a rule of the policy as of a date, and what is new since the ledger."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

    from attendance_cli.dataset import Dataset
    from attendance_cli.rules.triggers import PolicySettings, Triggers


@dataclass(frozen=True)
class TriggersOptions:
    settings: PolicySettings  # the policy, with its calendar, ledger and code table resolved
    as_of: dt.date | None = None  # default: the last date in the data
    new_only: bool = False  # only the events not yet in the ledger
    #: the run will record: an as-of date that would make the ledger send letters again is refused
    #: (`look` says how to look without recording)
    recording: bool = False
    look: str = "leave out --record"


@dataclass(frozen=True)
class TriggersResult:
    found: Triggers
    table: pl.DataFrame  # the rows shown: every event met, or only the new ones
    warning: str | None  # the policy is new to a ledger that holds another's runs

    @property
    def title(self) -> str:
        from attendance_cli.ingest.dates import format_date

        policy = self.found.evaluation.policy
        return f"{policy.title or policy.name}: rules met as of {format_date(self.found.evaluation.as_of)}"

    @property
    def stamp(self) -> dict[str, object]:
        """The date the rules were evaluated as of, as a column of the output (each event has its own
        window_start and window_end)."""
        return {"as_of": self.found.evaluation.as_of}

    @property
    def metadata(self) -> dict[str, str]:
        from attendance_cli.ingest.dates import format_date

        return {"policy": self.found.evaluation.policy.name, "as_of": format_date(self.found.evaluation.as_of)}


def triggers(data: Dataset, options: TriggersOptions) -> TriggersResult:
    from attendance_cli.rules.triggers import find_triggers, new_policy_warning, refuse_unsafe_recording

    settings = options.settings
    found = find_triggers(data, settings.policy, settings.calendar_file, options.as_of, settings.ledger)
    if options.recording:
        refuse_unsafe_recording(found, options.as_of is not None, options.look)
    return TriggersResult(found, found.new if options.new_only else found.table, new_policy_warning(found))
