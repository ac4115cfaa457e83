"""`letters`: the letters new trigger events call for, planned and with every figure gathered
(the CLI renders, writes and records them: attendance_cli.letters.deliver)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

    from attendance_cli.casework.plan import Plan
    from attendance_cli.dataset import Dataset
    from attendance_cli.letters.model import Letter
    from attendance_cli.rules.triggers import PolicySettings, Triggers


@dataclass(frozen=True)
class LettersOptions:
    settings: PolicySettings  # the policy with its calendar, ledger, code table and school settings file
    school: dict[str, Any]  # the school settings (letters.school.load_school(...).letter_details())
    fmt: str = "pdf"  # pdf, html, txt or eml
    as_of: dt.date | None = None
    letter_date: dt.date = field(default_factory=dt.date.today)  # printed on the letters
    only: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    include_older: bool = False
    adopt: bool = False  # record what is already met as handled, no letters
    contacts: pl.DataFrame | None = None  # guardians (letters.contacts.read_contacts)
    pupils_file: Path | None = None  # names and e-mail addresses the exports do not carry
    #: the run will record: an as-of date that would make the ledger send letters again is refused
    recording: bool = False
    look: str = "use --dry-run"


@dataclass
class LettersRun:
    """A letters run planned: the events found, what the plan does with each, and (worked out when
    first asked for) every letter with its figures."""

    data: Dataset
    options: LettersOptions
    found: Triggers
    plan: Plan
    earlier: pl.DataFrame  # the letters the ledger already holds
    warning: str | None  # the policy is new to a ledger that holds another's runs

    @property
    def missing_only(self) -> list[str]:
        """--only pupils with no new letter in this run."""
        planned = set(self.plan.letters["pupil_id"].to_list())
        return [pupil for pupil in self.options.only if pupil not in planned]

    @cached_property
    def items(self) -> list[Letter]:
        from attendance_cli.letters.facts import gather

        o = self.options
        return gather(self.found, self.data.export, o.settings.policy, self.plan.letters, o.letter_date, o.fmt,
                      o.contacts, self.earlier, o.school, pupils_file=o.pupils_file)


def letters(data: Dataset, options: LettersOptions) -> LettersRun:
    from attendance_cli.casework.plan import plan_letters
    from attendance_cli.letters.facts import read_letters
    from attendance_cli.rules.triggers import find_triggers, new_policy_warning, refuse_unsafe_recording

    settings = options.settings
    found = find_triggers(data, settings.policy, settings.calendar_file, options.as_of, settings.ledger)
    if options.recording:
        refuse_unsafe_recording(found, options.as_of is not None, options.look)
    earlier = read_letters(found.ledger_path, None)
    plan = plan_letters(found, settings.policy, earlier, options.only, options.exclude,
                        include_older=options.include_older, adopt=options.adopt)
    return LettersRun(data, options, found, plan, earlier, new_policy_warning(found))
