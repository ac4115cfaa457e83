"""Trigger events: a policy evaluated over the exports, checked against the ledger, recorded once.

This is the events stage of the pipeline: exports → tally → marks → rules (policy) → events
(ledger). `find_triggers` works out what is met as of a date and what is new since the ledger
last recorded; `record_triggers` writes the new events and closes states pupils have left, in one
transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from attendance_cli.calendar import SchoolCalendar
from attendance_cli.dataset import Dataset
from attendance_cli.errors import UsageError
from attendance_cli.ingest import Export, Tally
from attendance_cli.ingest.dates import format_date
from attendance_cli.rules import Evaluation, LedgerState, Policy, evaluate

DEFAULT_LEDGER = Path("attendance-ledger.sqlite")
PUPIL = ("pupil_id", "surname", "forename", "year_group", "form")
#: Output columns of `attendance triggers`.
COLUMNS = (
    *PUPIL, "rule_id", "stage", "status", "value", "threshold", "measure", "window_start", "window_end", "first_met_on",
    "evidence_sessions", "evidence", "letter", "ladder", "description",
)


@dataclass(frozen=True)
class Triggers:
    """What a policy finds in the exports as of a date."""

    tally: Tally
    evaluation: Evaluation
    calendar: SchoolCalendar
    table: pl.DataFrame  # COLUMNS: new, recorded (open states) and stale events
    ledger_path: Path | None  # None when no ledger file exists yet
    last_day: dt.date | None = None  # the last school day with a mark in the exports
    state: LedgerState | None = None  # what the ledger held when the policy was evaluated
    data: Dataset | None = None  # the data set it was found in (later stages count from it, not the exports)

    @property
    def new(self) -> pl.DataFrame:
        return self.table.filter(pl.col("status") == "new")



@dataclass(frozen=True)
class PolicySettings:
    """What a policy decides for a run, each resolved here once, the same way for every command:
    the calendar file, the ledger, the code table and the school settings file. An option given on
    the command line wins over the policy."""

    policy: Policy
    calendar_file: Path | None
    ledger: Path
    codes: str
    school: Path


def policy_settings(policy: Policy, *, calendar: Path | None = None, db: Path | None = None, codes: str | None = None,
                    school: Path | None = None) -> PolicySettings:
    from attendance_cli.letters.school import school_path

    calendar_file = calendar or (Path(policy.calendar) if policy.calendar != "inferred" else None)
    return PolicySettings(policy, calendar_file, ledger_path_for(policy, db), codes or policy.codes,
                          school_path(school, policy.school))


def ledger_path_for(policy: Policy, db: Path | None) -> Path:
    """--db, else the policy's `ledger`, else the environment's ATTENDANCE_DB, else the working directory."""
    import os

    if db is not None:
        return db
    if policy.ledger:
        return Path(policy.ledger)
    if os.environ.get("ATTENDANCE_DB"):
        return Path(os.environ["ATTENDANCE_DB"])
    return DEFAULT_LEDGER


def read_ledger(path: Path, policy: Policy) -> LedgerState:
    """What the ledger holds for this policy; empty when the file does not exist yet (nothing recorded)."""
    if not path.exists():
        return LedgerState.empty()
    from attendance_cli.ledger import Ledger

    with Ledger(path, create=False) as ledger:
        # by rule, whichever policy recorded them: a renamed copy of a policy resends nothing
        events = ledger.events()
        evidence = ledger.evidence()
        actions = ledger.actions()
        held = ledger.held()
    empty = LedgerState.empty()
    return LedgerState(events.select(empty.events.columns), evidence.select(empty.evidence.columns),
                       actions.select(empty.actions.columns), held)


def find_triggers(data: Dataset | Export, policy: Policy, calendar_file: Path | None, as_of: dt.date | None,
                  ledger_path: Path | None) -> Triggers:
    """Evaluate the policy as of `as_of` (default: the last date in the data).

    From the data set's check of every row (as `summary` does) and its accepted marks in compact
    form; the calendar comes from those marks."""
    if isinstance(data, Export):
        data = Dataset(data)
    if policy.register_type == "lesson" and data.shape != "lessons":
        raise UsageError(f"The {policy.name!r} policy is for lesson registers, but these exports are session (AM/PM) registers.",
                         fix="Use a school policy such as dfe-national, or give the lesson exports.")
    result = data.checked
    marks = data.rule_marks
    calendar, last = data.calendar(calendar_file)
    as_of = as_of or last
    if as_of is None:
        raise UsageError("The exports hold no marks, so there is nothing to evaluate.")
    first = marks.first_date
    if as_of < first:
        # a mistyped year would otherwise give an empty list, which reads as "nothing to do"
        raise UsageError(f"--as-of {format_date(as_of)} is before the first mark in the exports ({format_date(first)}).",
                         fix=f"Give a date from {format_date(first)} to {format_date(last)}, or leave --as-of out "
                             "to evaluate as of the last date in the data.")
    state = read_ledger(ledger_path, policy) if ledger_path is not None else LedgerState.empty()
    evaluation = evaluate(policy, marks, calendar, as_of, state)
    table = _table(evaluation, state, result.pupils)
    return Triggers(result, evaluation, calendar, table,
                    ledger_path if ledger_path is not None and ledger_path.exists() else None, last, state, data)


def _table(evaluation: Evaluation, state: LedgerState, pupils: pl.DataFrame) -> pl.DataFrame:
    events = evaluation.events
    stale = evaluation.stale
    if stale.height:
        recorded = state.events.join(stale.select("event_id", "changes"), on="event_id")
        stale_rows = recorded.select(
            "pupil_id", "rule_id", "stage", pl.lit("stale").alias("status"), "value", "threshold", "measure",
            "window_start", "window_end", "first_met_on", pl.lit(0, dtype=pl.Int64).alias("evidence_sessions"),
            (pl.lit("recorded ") + pl.col("as_of").dt.strftime("%d/%m/%Y") + pl.lit("; marks changed since: ")
             + pl.col("changes")).alias("evidence"),
            "letter", "ladder", pl.lit("").alias("description"))
        events = pl.concat([events.select(stale_rows.columns), stale_rows], how="vertical_relaxed")
    for column in PUPIL[1:]:
        if column not in pupils.columns:
            pupils = pupils.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    table = events.join(pupils.select(PUPIL), on="pupil_id", how="left")
    return table.select(COLUMNS).sort("pupil_id", "ladder", "stage", "rule_id", "first_met_on", nulls_last=True)


@dataclass(frozen=True)
class Recorded:
    recorded: int
    skipped: int
    closed: int
    path: Path


def record_triggers(triggers: Triggers, path: Path, wait: float = 30.0,
                    before_commit: Callable[[], None] | None = None) -> Recorded:
    """Record the new events (with their evidence) and close the states pupils have left: one
    transaction; if anything fails nothing is recorded. `before_commit()` runs inside it, last (the
    output shown or put in place): if it fails nothing is recorded; a run killed after it has shown
    its events and recorded none, so the next run shows them again."""
    from attendance_cli.ledger import Ledger

    evaluation = triggers.evaluation
    new = evaluation.events.filter(pl.col("status") == "new")
    evidence = evaluation.evidence.join(new.select("key"), on="key", how="semi")
    with Ledger(path, wait=wait) as ledger:  # record() takes the columns it keeps (no decision: not a letters run)
        result = ledger.record(evaluation.policy.name, evaluation.as_of, new, evidence, evaluation.left,
                               before_commit=(lambda _: before_commit()) if before_commit else None)
    return Recorded(result.recorded, result.skipped, result.closed, path)



def new_policy_warning(found: Triggers) -> str | None:
    """A policy new to a ledger that holds another's runs is named in a warning: events are known by
    rule id, so a renamed copy sends nothing again, but a different policy with rules of the same id
    would be taken for the same rules."""
    if found.ledger_path is None:
        return None
    from attendance_cli.ledger import Ledger

    name = found.evaluation.policy.name
    with Ledger(found.ledger_path, create=False) as ledger:
        others = [p for p in ledger.policies() if p != name]
        known = name in ledger.policies()
    if not others or known:
        return None
    shown = ", ".join(repr(p) for p in others)
    return (f"Warning: the policy {name!r} is new to the ledger {found.ledger_path}, which holds runs of {shown}. "
            "Events are known by rule id, whichever policy recorded them: what those runs recorded under a rule id "
            f"this policy also has counts as already done for {name!r}.")


def refuse_unsafe_recording(found: Triggers, as_of_given: bool, look: str) -> None:
    """Refuse (exit 2) to record as of a day that would make the ledger send letters again.

    Evaluated after the last date in the exports, a ytd or half-term window is empty or in another
    school year: every open state (persistent absence, ...) is closed, and is new again, with its
    letter, next week. Evaluated before a run already recorded, the states that run closed are met
    again, so new. Looking (triggers without --record, letters --dry-run) is always allowed: `look`
    says how. `attendance letters` uses this too.
    """
    from attendance_cli.ingest.dates import format_date
    from attendance_cli.ledger import EARLIER_RUN_WHY, Ledger, RecordedLater

    as_of = found.evaluation.as_of
    last = found.last_day
    if last is not None and as_of > last:
        raise UsageError(
            f"--as-of {format_date(as_of)} is after the last date in the exports ({format_date(last)}): recording as "
            "of a day the registers do not reach would close every open state, such as persistent absence, and send "
            "its letter again next time.",
            fix=f"Export the registers up to {format_date(as_of)}, or leave out --as-of to record as of "
                f"{format_date(last)}; to look ahead without recording, {look}.")
    if found.ledger_path is None:
        return
    with Ledger(found.ledger_path, create=False) as ledger:
        latest = ledger.latest_as_of()
    if latest is None or as_of >= latest:
        return
    held = (f"{format_date(latest)}, the as-of date of a run already recorded in the ledger {found.ledger_path}. "
            f"{EARLIER_RUN_WHY}")
    if not as_of_given:
        raise RecordedLater(f"The exports end on {format_date(as_of)}, before {held}",
                            fix=f"Give the exports up to {format_date(latest)} or later (is the latest export "
                                f"missing?); to look back without recording, {look}.")
    if last is not None and last >= latest:
        fix = (f"Leave out --as-of to record as of the last date in the exports ({format_date(last)}), or give a date "
               f"from {format_date(latest)} on")
    else:
        fix = f"Give the exports up to {format_date(latest)} or later, and an --as-of from {format_date(latest)} on"
    raise RecordedLater(f"--as-of {format_date(as_of)} is before {held}",
                        fix=f"{fix}; to look back without recording, {look}.")
