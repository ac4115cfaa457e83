"""What a run does with each new event: the casework rules, in one place.

For every new event of a run, one decision, in this order (the first that applies):

1. `adopted`: `--adopt` records everything already met as handled, with no letter.
2. `on-hold`: the school put the case on hold (a `hold` action) until a date not yet past.
3. `action`: the rule names no letter: a task for staff, recorded.
4. `escalation`: the ladder's limit is reached (2 penalty notices in 3 years): the policy's other
   action, for staff, never another warning.
5. The case's stage this school year (since its last reset) is already at or past the event's:
   `awaiting` when the stage may repeat only after the school records a decision (`repeat_after`)
   and it has not; otherwise `escalation` for an event of the ladder's last stage (a list for staff,
   not another copy of the last letter) or `below-stage` for a lower one (recorded, no letter: a
   ladder never goes backwards).
6. `too-old`: first met more than `letter_within` school days before the as-of date (recorded
   without a letter only with --include-older).
7. One letter per family per run: among what is left, the pupil's highest-priority ladder (then
   its highest stage) gets the `letter`; the lower stages of that ladder are `superseded`, events
   of the ladders its letter `covers` are `covered` (both recorded), and the rest `held` (not
   recorded: they come up again next run, and are never too old for it, as the ledger remembers
   that they were held).

A case starts again each school year, after a `closed` action, and after the ladder's
`reset_quiet_school_weeks` school weeks with no event recorded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from attendance_cli.calendar import SchoolCalendar, school_year_start
from attendance_cli.rules.engine import LedgerState
from attendance_cli.rules.policy import Policy

#: Every decision, and what it means (the manifest and the run's summary say these words).
DECISIONS = {
    "letter": "letter written",
    "superseded": "superseded by a higher stage of the same ladder (recorded, no letter)",
    "covered": "covered by this run's letter to the family (recorded, no letter)",
    "held": "held for next run: the family gets another ladder's letter now (not recorded)",
    "below-stage": "below the stage the case reached this school year (recorded, no letter)",
    "escalation": "for staff: past the case's last letter, the policy's next step (recorded)",
    "awaiting": "waiting for the school's decision on the last letter (not recorded)",
    "action": "for staff: the rule writes no letter (recorded)",
    "too-old": "too old for a letter (not recorded; --include-older records them)",
    "on-hold": "on hold (not recorded)",
    "adopted": "adopted: recorded as handled, no letter",
}
#: Decisions whose events are recorded in the ledger (too-old too, with --include-older).
RECORDED = ("letter", "superseded", "covered", "below-stage", "escalation", "action", "adopted")

_COLUMNS = ("decision", "record", "reason", "safeguarding", "priority", "case_stage", "last_letter", "also")


@dataclass(frozen=True)
class Decisions:
    """The run's new events with what happens to each (`decision`, `record`, `reason`, `safeguarding`,
    `priority`, `case_stage`, `last_letter`)."""

    table: pl.DataFrame

    @property
    def letters(self) -> pl.DataFrame:
        return self.table.filter(pl.col("decision") == "letter")

    @property
    def recorded(self) -> pl.DataFrame:
        return self.table.filter(pl.col("record"))

    @property
    def for_staff(self) -> pl.DataFrame:
        """Safeguarding events first, then the rest a person must act on."""
        staff = self.table.filter(pl.col("safeguarding") | pl.col("decision").is_in(["escalation", "action", "awaiting"]))
        return staff.sort(["safeguarding", "priority", "pupil_id"], descending=[True, True, False], maintain_order=True)

    def counts(self) -> dict[str, int]:
        counted = self.table.group_by("decision").len()
        return {name: int(n) for name, n in counted.iter_rows()}


def _ladders(policy: Policy) -> pl.DataFrame:
    """One row per ladder of the policy's rules, with its settings."""
    rows = []
    for name in dict.fromkeys(rule.ladder_name for rule in policy.rules):
        ladder = policy.ladder_of(name)
        limit = ladder.limit
        rows.append({"ladder": name, "priority": ladder.priority, "top_stage": policy.top_stage(name),
                     "within": ladder.letter_within or policy.letter_within, "safeguarding": ladder.safeguarding,
                     "escalation": ladder.escalation, "covers": list(ladder.covers),
                     "quiet": ladder.reset_quiet_school_weeks, "recovered": ladder.reset_recovered_school_weeks,
                     "limit_action": limit.action if limit else None, "limit_count": limit.count if limit else None,
                     "limit_years": limit.years if limit else None, "limit_then": limit.then if limit else None})
    schema = {"ladder": pl.String, "priority": pl.Int64, "top_stage": pl.Int64, "within": pl.Int64,
              "safeguarding": pl.Boolean, "escalation": pl.String, "covers": pl.List(pl.String), "quiet": pl.Int64,
              "recovered": pl.Int64,
              "limit_action": pl.String, "limit_count": pl.Int64, "limit_years": pl.Int64, "limit_then": pl.String}
    return pl.DataFrame(rows, schema=schema)


def _rules(policy: Policy) -> pl.DataFrame:
    rows = [{"rule_id": rule.id, "order": index, "repeat_after": list(rule.repeat_after)}
            for index, rule in enumerate(policy.rules)]
    return pl.DataFrame(rows, schema={"rule_id": pl.String, "order": pl.Int64, "repeat_after": pl.List(pl.String)})


def case_history(policy: Policy, ledger: LedgerState, letters: pl.DataFrame, calendar: SchoolCalendar,
                 as_of: dt.date) -> pl.DataFrame:
    """Per pupil and ladder with a case open as of `as_of`: case_stage (the highest stage recorded in
    the case) and last_letter (the date of its latest letter, or null)."""
    year_start = school_year_start(as_of)
    closed = (ledger.actions.filter((pl.col("action") == "closed") & (pl.col("date") <= as_of))
              .group_by("pupil_id", "ladder").agg(pl.col("date").max().alias("closed_on")))
    decision = pl.col("decision") if "decision" in ledger.events.columns else pl.lit(None, dtype=pl.String)
    past = (ledger.events.filter(pl.col("as_of").is_between(year_start, as_of) & (decision.fill_null("") != "too-old"))
            .select("event_id", "pupil_id", "ladder", "stage", "as_of", "kind", "left_on")
            .join(closed, on=["pupil_id", "ladder"], how="left")
            .filter(pl.col("closed_on").is_null() | (pl.col("as_of") > pl.col("closed_on"))).drop("closed_on"))
    quiet = {row["ladder"]: row["quiet"] for row in _ladders(policy).iter_rows(named=True) if row["quiet"]}
    if quiet and past.height:
        weeks = pl.Series(calendar.school_weeks(end=as_of), dtype=pl.Date)
        now = weeks.len()
        past = past.with_columns(weeks.search_sorted(pl.Series(past["as_of"]).dt.truncate("1w"), side="right")
                                 .cast(pl.Int64).alias("_week"),
                                 pl.col("ladder").replace_strict(quiet, default=None, return_dtype=pl.Int64).alias("_quiet"))
        past = past.sort("pupil_id", "ladder", "_week")
        gap = pl.col("_week") - pl.col("_week").shift(1).over("pupil_id", "ladder")
        past = past.with_columns((gap > pl.col("_quiet")).fill_null(False).cum_sum().over("pupil_id", "ladder").alias("_seg"))
        keep = pl.col("_quiet").is_null() | (
            (pl.col("_seg") == pl.col("_seg").max().over("pupil_id", "ladder"))
            & ((now - pl.col("_week").max().over("pupil_id", "ladder")) <= pl.col("_quiet")))
        past = past.filter(keep).drop("_week", "_quiet", "_seg")
    recovered = {row["ladder"]: row["recovered"] for row in _ladders(policy).iter_rows(named=True) if row["recovered"]}
    if recovered and past.height:
        past = _drop_recovered(past, recovered, calendar, as_of)
    sent = (letters.join(past.select("event_id"), on="event_id", how="semi")
            .group_by("pupil_id", "ladder").agg(pl.col("letter_date").max().alias("last_letter")))
    cases = past.group_by("pupil_id", "ladder").agg(pl.col("stage").max().alias("case_stage"))
    return cases.join(sent, on=["pupil_id", "ladder"], how="left")


def _drop_recovered(past: pl.DataFrame, recovered: dict[str, int], calendar: SchoolCalendar,
                    as_of: dt.date) -> pl.DataFrame:
    """Cases of the `recovered` ladders whose states were all left (attendance back above the
    threshold) at least N school weeks ago, with nothing recorded since: they start again."""
    weeks = pl.Series(calendar.school_weeks(end=as_of), dtype=pl.Date)
    now = weeks.len()
    per = past.group_by("pupil_id", "ladder").agg(
        ((pl.col("kind") == "state") & pl.col("left_on").is_null()).any().alias("_open"),
        pl.col("left_on").max().alias("_left"), pl.col("as_of").max().alias("_last"))
    per = per.filter(pl.col("ladder").is_in(list(recovered)) & ~pl.col("_open") & pl.col("_left").is_not_null()
                     & (pl.col("_last") <= pl.col("_left")))
    if not per.height:
        return past
    since = now - weeks.search_sorted(per["_left"].dt.truncate("1w"), side="right").cast(pl.Int64)
    per = per.with_columns(since.alias("_weeks"),
                           pl.col("ladder").replace_strict(recovered, return_dtype=pl.Int64).alias("_need"))
    done = per.filter(pl.col("_weeks") >= pl.col("_need")).select("pupil_id", "ladder")
    return past.join(done, on=["pupil_id", "ladder"], how="anti")


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def decide(policy: Policy, events: pl.DataFrame, ledger: LedgerState, letters: pl.DataFrame,
           calendar: SchoolCalendar, as_of: dt.date, *, include_older: bool = False, adopt: bool = False) -> Decisions:
    """The decision for every new event of `events` (an evaluation's events: status 'new' are taken).
    `letters`: the ledger's letters (`Ledger.letters()`)."""
    new = events.filter(pl.col("status") == "new")
    ladders, rules = _ladders(policy), _rules(policy)
    cases = case_history(policy, ledger, letters, calendar, as_of)
    table = (new.join(ladders, on="ladder", how="left").join(rules, on="rule_id", how="left")
             .join(cases, on=["pupil_id", "ladder"], how="left")
             .with_columns(pl.col("case_stage").fill_null(0), pl.col("safeguarding").fill_null(False),
                           pl.col("priority").fill_null(0)))
    actions = ledger.actions.filter(pl.col("date") <= as_of)

    # on hold: a hold action dated on or before the as-of date, until a date not yet past
    holds = (actions.filter((pl.col("action") == "hold") & (pl.col("until").is_null() | (pl.col("until") >= as_of)))
             .group_by("pupil_id", "ladder").agg(pl.col("until").max().alias("_hold_until"), pl.col("note").last()
                                                 .alias("_hold_note"), pl.lit(True).alias("_held")))
    table = table.join(holds, on=["pupil_id", "ladder"], how="left")
    # the stage may repeat: one of its repeat_after actions recorded since the case's last letter
    repeats = (table.select("key", "pupil_id", "ladder", "repeat_after", "last_letter").explode("repeat_after")
               .join(actions.select("pupil_id", "ladder", pl.col("action").alias("repeat_after"), "date"),
                     on=["pupil_id", "ladder", "repeat_after"])
               .filter(pl.col("last_letter").is_null() | (pl.col("date") >= pl.col("last_letter")))
               .select("key").unique())
    table = table.with_columns(pl.col("key").is_in(repeats["key"].implode()).alias("_repeat"))
    # the limit: actions of its kind within the rolling years
    limit_rows = []
    for row in ladders.filter(pl.col("limit_action").is_not_null()).iter_rows(named=True):  # a few ladders
        since = _years_before(as_of, row["limit_years"])
        counted = (actions.filter((pl.col("ladder") == row["ladder"]) & (pl.col("action") == row["limit_action"])
                                  & (pl.col("date") > since))
                   .group_by("pupil_id").len().filter(pl.col("len") >= row["limit_count"]))
        limit_rows.append(counted.select("pupil_id", pl.lit(row["ladder"]).alias("ladder"), pl.lit(True).alias("_limit")))
    limited = (pl.concat(limit_rows) if limit_rows else
               pl.DataFrame(schema={"pupil_id": pl.String, "ladder": pl.String, "_limit": pl.Boolean}))
    table = table.join(limited, on=["pupil_id", "ladder"], how="left").with_columns(pl.col("_limit").fill_null(False))
    # school days after the day it was first met, up to the as-of date
    days = pl.Series(sorted(d for d in calendar.school_days if d <= as_of), dtype=pl.Date)
    table = table.with_columns((days.len() - days.search_sorted(table["first_met_on"], side="right").cast(pl.Int64))
                               .alias("_age"))
    # an event an earlier run held back for another letter keeps its place: it is not too old now
    earlier = ledger.held.filter(pl.col("held_on") < as_of).select("pupil_id", "rule_id", "first_met_on",
                                                                  pl.lit(True).alias("_was_held"))
    table = table.join(earlier.unique(["pupil_id", "rule_id", "first_met_on"]),
                       on=["pupil_id", "rule_id", "first_met_on"], how="left")
    table = table.with_columns(pl.when(pl.col("_was_held").fill_null(False)).then(0).otherwise(pl.col("_age"))
                               .alias("_age"))

    at_stage = pl.col("case_stage") >= pl.col("stage")
    has_repeat = pl.col("repeat_after").list.len() > 0
    decision = (
        pl.when(pl.lit(adopt)).then(pl.lit("adopted"))
        .when(pl.col("_held").fill_null(False)).then(pl.lit("on-hold"))
        .when(pl.col("letter").is_null()).then(pl.lit("action"))
        .when(pl.col("_limit")).then(pl.lit("escalation"))
        .when(at_stage & ~pl.col("_repeat") & has_repeat).then(pl.lit("awaiting"))
        .when(at_stage & ~pl.col("_repeat") & (pl.col("stage") >= pl.col("top_stage"))).then(pl.lit("escalation"))
        .when(at_stage & ~pl.col("_repeat")).then(pl.lit("below-stage"))
        .when(pl.col("_age") > pl.col("within")).then(pl.lit("too-old"))
        .otherwise(pl.lit("candidate")))
    table = table.with_columns(decision.alias("decision"))

    # one letter per family: the highest priority, then the highest stage, then the policy's order
    candidates = table.filter(pl.col("decision") == "candidate").sort(
        ["pupil_id", "priority", "stage", "order"], descending=[False, True, True, False])
    winners = candidates.group_by("pupil_id", maintain_order=True).first().select(
        "pupil_id", "key", pl.col("ladder").alias("_win_ladder"), pl.col("covers").alias("_win_covers"),
        pl.col("letter").alias("_win_letter"))
    table = table.join(winners.rename({"key": "_win_key"}), on="pupil_id", how="left")
    candidate = pl.col("decision") == "candidate"
    covered = pl.col("_win_covers").list.contains(pl.col("ladder")).fill_null(False)
    table = table.with_columns(
        pl.when(candidate & (pl.col("key") == pl.col("_win_key"))).then(pl.lit("letter"))
        .when(candidate & (pl.col("ladder") == pl.col("_win_ladder"))).then(pl.lit("superseded"))
        .when(candidate & covered).then(pl.lit("covered"))
        .when(candidate).then(pl.lit("held"))
        .otherwise(pl.col("decision")).alias("decision"))
    # what a letter speaks for: the events it covers, named in the letter
    also = (table.filter(pl.col("decision") == "covered").group_by("pupil_id")
            .agg(pl.col("description").unique().sort().alias("_also")))
    table = table.join(also, on="pupil_id", how="left").with_columns(
        pl.when(pl.col("decision") == "letter").then(pl.col("_also").fill_null([])).otherwise(pl.lit([]))
        .cast(pl.List(pl.String)).alias("also"))
    record = pl.col("decision").is_in(list(RECORDED)) | (pl.lit(include_older) & (pl.col("decision") == "too-old"))
    table = table.with_columns(record.alias("record"), _reason().alias("reason"))
    keep = [c for c in events.columns] + list(_COLUMNS)
    return Decisions(table.select(keep).sort("pupil_id", "ladder", "stage", "rule_id"))


def _reason(when_fmt: str = "%d/%m/%Y") -> pl.Expr:
    """Why, in words, for the manifest and the list for staff."""
    d = pl.col("decision")
    date = lambda column: pl.col(column).dt.strftime(when_fmt)  # noqa: E731
    return (
        pl.when(d == "letter").then(pl.lit("letter written"))
        .when(d == "superseded").then(pl.lit("a higher stage of this ladder gets this run's letter"))
        .when(d == "covered").then(pl.lit("covered by this run's ") + pl.col("_win_letter") + pl.lit(" letter"))
        .when(d == "held").then(pl.lit("held for next run: this run's letter to the family is ")
                                + pl.col("_win_letter"))
        .when(d == "below-stage").then(pl.lit("case already at stage ") + pl.col("case_stage").cast(pl.String)
                                       + pl.lit(" this school year"))
        .when((d == "escalation") & pl.col("_limit")).then(pl.col("limit_then"))
        .when(d == "escalation").then(pl.when(pl.col("escalation").fill_null("") != "").then(pl.col("escalation"))
                                      .otherwise(pl.lit("the case is past its last letter: decide the next step")))
        .when(d == "awaiting").then(pl.lit("record the decision on the letter of ")
                                    + date("last_letter").fill_null("?") + pl.lit(" (")
                                    + pl.col("repeat_after").list.join(" or ") + pl.lit(")"))
        .when(d == "action").then(pl.col("description"))
        .when(d == "too-old").then(pl.lit("first met ") + date("first_met_on") + pl.lit(", more than ")
                                   + pl.col("within").cast(pl.String) + pl.lit(" school days ago"))
        .when(d == "on-hold").then(pl.lit("on hold") + pl.when(pl.col("_hold_until").is_not_null())
                                   .then(pl.lit(" until ") + date("_hold_until")).otherwise(pl.lit(""))
                                   + pl.when(pl.col("_hold_note").fill_null("") != "")
                                   .then(pl.lit(": ") + pl.col("_hold_note")).otherwise(pl.lit("")))
        .when(d == "adopted").then(pl.lit("recorded as handled when the ledger was adopted"))
        .otherwise(pl.lit("")))
