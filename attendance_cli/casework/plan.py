"""A letters run's plan: the decisions for its new events, and the lists made from them.

`plan_letters` is the one call between the evaluated policy and the letters: it applies --only and
--exclude, decides every new event (`decide`), and gives the letters to write, the events to
record, the rows for the manifest that are not letters, and the list for staff.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from attendance_cli.casework.decide import Decisions, decide
from attendance_cli.rules.policy import Policy

#: The list for staff (and --referrals), in order.
STAFF = ("pupil_id", "surname", "forename", "year_group", "form", "ladder", "stage", "rule_id", "decision", "reason",
         "first_met_on", "value", "threshold", "evidence")


@dataclass(frozen=True)
class Plan:
    decisions: Decisions

    @property
    def table(self) -> pl.DataFrame:
        return self.decisions.table

    @property
    def letters(self) -> pl.DataFrame:
        return self.decisions.letters

    @property
    def recorded(self) -> pl.DataFrame:
        return self.decisions.recorded

    @property
    def held(self) -> pl.DataFrame:
        """pupil_id, rule_id, first_met_on of the events held for the family's other letter."""
        return self.table.filter(pl.col("decision") == "held").select("pupil_id", "rule_id", "first_met_on")

    def counts(self) -> dict[str, int]:
        return self.decisions.counts()

    def stage_counts(self) -> dict[tuple[str, int], int]:
        """Cases per ladder and stage (the highest stage each pupil meets on the ladder)."""
        top = self.table.group_by("pupil_id", "ladder").agg(pl.col("stage").max())
        counted = top.group_by("ladder", "stage").len().sort("ladder", "stage")
        return {(ladder, stage): n for ladder, stage, n in counted.iter_rows()}

    def _with_pupils(self, frame: pl.DataFrame, found) -> pl.DataFrame:
        pupils = found.tally.pupils
        for column in ("surname", "forename", "year_group", "form"):
            if column not in pupils.columns:
                pupils = pupils.with_columns(pl.lit(None, dtype=pl.String).alias(column))
        evidence = found.table.filter(pl.col("status") == "new").select("pupil_id", "rule_id", "first_met_on", "evidence")
        return (frame.join(pupils.select("pupil_id", "surname", "forename", "year_group", "form"), on="pupil_id", how="left")
                .join(evidence.unique(["pupil_id", "rule_id", "first_met_on"]), on=["pupil_id", "rule_id", "first_met_on"],
                      how="left"))

    def staff_frame(self, found) -> pl.DataFrame:
        """Safeguarding events first, then escalations, tasks without a letter and decisions awaited."""
        staff = self.decisions.for_staff
        return self._with_pupils(staff, found).select(STAFF)

    def not_written(self, found) -> pl.DataFrame:
        """Every new event that gets no letter in this run, for the manifest: what happened and why."""
        rest = self.table.filter(pl.col("decision") != "letter")
        return self._with_pupils(rest, found).select(
            "key", "pupil_id", "surname", "forename", "year_group", "form", "letter", "rule_id", "stage",
            "first_met_on", "decision", "reason", "record")


def plan_letters(found, policy: Policy, letters: pl.DataFrame, only: Sequence[str] = (), exclude: Sequence[str] = (),
                 *, include_older: bool = False, adopt: bool = False) -> Plan:
    """The decisions for the run's new events (`found`: `triggers.find_triggers`), with --only and
    --exclude applied first (an excluded pupil's events stay new for next time)."""
    events = found.evaluation.events
    if only:
        events = events.filter(pl.col("pupil_id").is_in(list(only)))
    if exclude:
        events = events.filter(~pl.col("pupil_id").is_in(list(exclude)))
    from attendance_cli.rules import LedgerState

    state = found.state or LedgerState.empty()
    return Plan(decide(policy, events, state, letters, found.calendar, found.evaluation.as_of,
                       include_older=include_older, adopt=adopt))


def record_without_letters(found, plan: Plan, ledger_path: Path, wait: float, mode: str):
    """Record the plan's events when no letter is written (adopting a ledger, or a run whose new events
    are all for staff or held): one transaction, as `triggers --record`."""
    from attendance_cli.ledger import Ledger

    evaluation = found.evaluation
    events = plan.recorded
    evidence = evaluation.evidence.join(events.select("key"), on="key", how="semi")
    with Ledger(ledger_path, wait=wait) as ledger:
        return ledger.record(evaluation.policy.name, evaluation.as_of, events, evidence,
                             evaluation.left, mode=mode, held=plan.held)


def referrals_frame(plan: Plan, found) -> pl.DataFrame:
    """The safeguarding events of the run, for the local authority: pupil, rule, since when, the sessions."""
    safe = plan.table.filter(pl.col("safeguarding"))
    return plan._with_pupils(safe, found).select(
        "pupil_id", "surname", "forename", "year_group", "form", "rule_id", pl.col("description"),
        "first_met_on", "value", "threshold", "evidence", "decision", "reason")
