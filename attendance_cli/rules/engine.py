"""Evaluate a policy's rules over the marks, as of a date, remembering what was recorded before.

Input: the accepted marks (one row per pupil and session or lesson), the school calendar, the
as-of date and what the ledger already holds. Output: one row per pupil and rule met (count and
run rules: one per run of evidence), with the sessions behind it.

Two families of rules:
- *evidence* rules (count, run, age) are made of particular sessions. Sessions already used as the
  evidence of a recorded event of the same rule, or of the same or a later stage of its ladder, are not
  counted again, so the same absences never trigger the same letter twice and a lower stage is not
  sent after a higher one for the same absences.
- *state* rules (attendance, will-cross, cannot-reach, decline) describe where the pupil is. An
  event is new when the pupil enters the state with no open event recorded; it stays "recorded"
  while they remain in it; when they leave it the open event is closed (on --record), so entering
  it again makes a new event.

All arithmetic on thresholds is exact (integers and fractions), never floating point.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import polars as pl

from attendance_cli.calendar import SchoolCalendar, school_year_start
from attendance_cli.figures import ABSENT, SESSIONS_PER_DAY, pct_down_expr
from attendance_cli.rules.marks import Marks
from attendance_cli.rules.policy import (
    AgeRule, AttendanceRule, CannotReachRule, CountRule, DeclineRule, Policy, Rule, RunRule, Threshold,
    WillCrossRule,
)

DAY = dt.timedelta(days=1)

ACTIONS_EMPTY = pl.DataFrame(schema={"pupil_id": pl.String, "ladder": pl.String, "action": pl.String,
                                    "date": pl.Date, "until": pl.Date, "note": pl.String})


HELD_EMPTY = pl.DataFrame(schema={"pupil_id": pl.String, "rule_id": pl.String, "first_met_on": pl.Date,
                                 "held_on": pl.Date})


@dataclass(frozen=True)
class LedgerState:
    """What the ledger already holds for this policy (empty frames when there is no ledger)."""

    events: pl.DataFrame  # event_id, rule_id, ladder, stage, kind, pupil_id, value, threshold, measure, ..., as_of, left_on
    evidence: pl.DataFrame  # event_id, rule_id, ladder, stage, pupil_id, date, session, code
    actions: pl.DataFrame = None  # type: ignore[assignment]  # pupil_id, ladder, action, date, until, note
    held: pl.DataFrame = None  # type: ignore[assignment]  # pupil_id, rule_id, first_met_on, held_on

    def __post_init__(self) -> None:
        if self.actions is None:
            object.__setattr__(self, "actions", ACTIONS_EMPTY)
        if self.held is None:
            object.__setattr__(self, "held", HELD_EMPTY)

    @staticmethod
    def empty() -> LedgerState:
        events = pl.DataFrame(schema={
            "event_id": pl.Int64, "rule_id": pl.String, "ladder": pl.String, "stage": pl.Int64, "kind": pl.String,
            "pupil_id": pl.String, "value": pl.String, "threshold": pl.String, "measure": pl.String,
            "window_start": pl.Date, "window_end": pl.Date, "first_met_on": pl.Date, "as_of": pl.Date,
            "letter": pl.String, "left_on": pl.Date, "decision": pl.String})
        evidence = pl.DataFrame(schema={
            "event_id": pl.Int64, "rule_id": pl.String, "ladder": pl.String, "stage": pl.Int64, "pupil_id": pl.String,
            "date": pl.Date, "session": pl.String, "code": pl.String})
        return LedgerState(events, evidence)

    def by_pupil(self) -> LedgerState:
        """The same tables, each sorted by pupil id (for `of_pupils`)."""
        return LedgerState(*(frame.sort("pupil_id", maintain_order=True) for frame in self._tables()))

    def of_pupils(self, first: str, last: str) -> LedgerState:
        """What it holds for the pupils with ids from `first` to `last` (the tables sorted by pupil id:
        a slice of each, found by binary search)."""
        def part(frame: pl.DataFrame) -> pl.DataFrame:
            ids = frame["pupil_id"]
            start = int(ids.search_sorted(first, side="left"))
            return frame.slice(start, int(ids.search_sorted(last, side="right")) - start)

        return LedgerState(*(part(frame) for frame in self._tables()))

    def _tables(self) -> tuple[pl.DataFrame, ...]:
        return self.events, self.evidence, self.actions, self.held


@dataclass(frozen=True)
class Evaluation:
    """The result of evaluating a policy as of a date."""

    policy: Policy
    as_of: dt.date
    events: pl.DataFrame  # key, pupil_id, rule_id, stage, ladder, status, value, threshold, measure, window_start,
    #                       window_end, first_met_on, kind ("count"/"state"), letter, description, evidence_sessions, evidence
    evidence: pl.DataFrame  # key, date, session, code: the sessions behind each event
    left: pl.DataFrame  # rule_id, pupil_id: open state events whose pupil no longer meets the rule
    stale: pl.DataFrame  # recorded events whose evidence marks have since changed: event_id, rule_id, pupil_id, changes


# -- windows ----------------------------------------------------------------------------------------


def window_of(rule: Rule, calendar: SchoolCalendar, as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The dates a rule looks at (inclusive), ending on the as-of date. `since-stage` and `all` start
    at the beginning of the data (since-stage is narrowed per pupil)."""
    name = rule.window
    if name in ("all", "since-stage"):
        return dt.date.min, as_of
    if name == "rolling-weeks":
        return as_of - dt.timedelta(days=7 * rule.weeks - 1), as_of  # type: ignore[operator]
    if name == "rolling-school-weeks":
        weeks = calendar.school_weeks(end=as_of)[-rule.weeks:]  # type: ignore[index,operator]
        return (weeks[0] if weeks else as_of), as_of
    if name == "year":
        return school_year_start(as_of), as_of
    window = calendar.window(name, as_of)
    return window.start or dt.date.min, min(window.end or as_of, as_of)


# -- evaluation ---------------------------------------------------------------------------------------


#: marks per batch of pupils the rules are evaluated in (ATTENDANCE_RULE_BATCH sets it, for tests):
#: the rules' working tables (days, runs, sums) are then a batch's, not a whole trust's, at once
BATCH_MARKS = max(1, int(os.environ.get("ATTENDANCE_RULE_BATCH") or 2_000_000))


class MarkSource(Protocol):
    """Marks the rules can be evaluated over in batches of whole pupils (`Marks`, or a checked store
    read one batch at a time)."""

    @property
    def first_date(self) -> dt.date | None: ...

    def batches(self, rows: int) -> Iterator[Marks]: ...


def evaluate(policy: Policy, marks: MarkSource, calendar: SchoolCalendar, as_of: dt.date,
             ledger: LedgerState | None = None) -> Evaluation:
    """Every rule of the policy, as of `as_of` (marks after it are ignored).

    Pupil by pupil, nothing a rule finds depends on another pupil's marks, so the marks are taken in
    batches of whole pupils (`BATCH_MARKS`), each with its pupils' part of the ledger, and the
    batches' events put together: the same events, whatever the batches."""
    ledger = ledger or LedgerState.empty()
    first_date = marks.first_date  # where an open window starts, for every batch alike
    if first_date is not None and first_date > as_of:
        first_date = None
    ledger = ledger.by_pupil()
    # (a comprehension: each batch, with its tables, is let go as the next is taken)
    parts = [_evaluate_batch(policy, batch, calendar, as_of, _ledger_of(ledger, batch), first_date)
             for batch in marks.batches(BATCH_MARKS)]
    return _combined(policy, as_of, parts)


def _ledger_of(ledger: LedgerState, batch: Marks) -> LedgerState:
    """The ledger's rows for a batch's pupils (the ledger sorted by pupil id)."""
    ids = batch.pupils["pupil_id"]
    return ledger.of_pupils(ids.min(), ids.max()) if ids.len() else ledger


def _combined(policy: Policy, as_of: dt.date, parts: list[Evaluation]) -> Evaluation:
    """The batches' evaluations as one. Each batch's events are in table order, numbered (`key`) 0,
    1, ... in that order, and the batches' pupils come in id order: put together, the events are in
    table order, and numbered so from the batches' offsets."""
    if len(parts) == 1:
        return parts[0]
    offsets = itertools.accumulate((p.events.height for p in parts[:-1]), initial=0)
    events, evidence = [], []
    for part, offset in zip(parts, offsets):
        events.append(part.events.with_columns(pl.col("key") + offset))
        evidence.append(part.evidence.with_columns(pl.col("key") + offset))
    stale = pl.concat([p.stale for p in parts], rechunk=False).sort("event_id", maintain_order=True)
    return Evaluation(policy, as_of, pl.concat(events, rechunk=False), pl.concat(evidence, rechunk=False),
                      pl.concat([p.left for p in parts], rechunk=False), stale)


def _evaluate_batch(policy: Policy, marks: Marks, calendar: SchoolCalendar, as_of: dt.date, ledger: LedgerState,
                    first_date: dt.date | None) -> Evaluation:
    """Every rule over one batch of pupils' marks, with their part of the ledger."""
    marks = marks.up_to(as_of)
    session_type = marks.frame.schema["session"]
    used = marks.numbered(ledger.evidence.with_columns(pl.col("session").cast(session_type, strict=False)))
    parts, left = [], []
    key_base = 0
    for rule in policy.rules:
        eligible = _eligible(rule, marks, ledger, calendar, as_of)
        applies = None if eligible is None else eligible.select("pupil", "applies_from")
        eligible = None if eligible is None else eligible.drop("applies_from")
        hits = _evaluate(rule, marks, calendar, as_of, _used_for(rule, used), eligible, _excused(rule, marks, ledger))
        if applies is not None:  # a follow-up is met no earlier than the day its conditions first held
            hits = hits.join(applies, on="pupil", how="left").with_columns(
                pl.max_horizontal("first_met_on", "applies_from").alias("first_met_on")).drop("applies_from")
        hits = hits.with_row_index("key", offset=key_base).with_columns(pl.col("key").cast(pl.Int64))
        key_base += hits.height
        if rule.records_evidence:
            hits = hits.with_columns(pl.lit("new").alias("status"))
        else:
            open_events = marks.numbered(ledger.events.filter((pl.col("rule_id") == rule.id) & pl.col("left_on").is_null())
                                         .select("pupil_id"))
            hits = hits.with_columns(pl.when(pl.col("pupil").is_in(open_events["pupil"].implode()))
                                     .then(pl.lit("recorded")).otherwise(pl.lit("new")).alias("status"))
            gone = open_events.filter(~pl.col("pupil").is_in(hits["pupil"].implode()))
            left.append(marks.with_ids(gone).select(pl.lit(rule.id).alias("rule_id"), "pupil_id"))
        window_start, window_end = window_of(rule, calendar, as_of)
        rows = hits.with_columns(
            pl.lit(rule.id).alias("rule_id"), pl.lit(rule.stage, dtype=pl.Int64).alias("stage"),
            pl.lit(rule.ladder_name).alias("ladder"),
            pl.lit("count" if rule.records_evidence else "state").alias("kind"),
            pl.lit(rule.letter, dtype=pl.String).alias("letter"),
            pl.lit(rule.description or rule.id).alias("description"),
        )
        if "window_start" not in rows.columns:
            # an open window starts where the data does
            first = window_start if window_start != dt.date.min else (first_date or as_of)
            rows = rows.with_columns(pl.lit(first, dtype=pl.Date).alias("window_start"))
        if "window_end" not in rows.columns:
            rows = rows.with_columns(pl.lit(window_end, dtype=pl.Date).alias("window_end"))
        parts.append(rows)
    events, evidence = _finish(parts, marks)
    left_frame = pl.concat(left) if left else pl.DataFrame(schema={"rule_id": pl.String, "pupil_id": pl.String})
    return Evaluation(policy, as_of, events, evidence, left_frame, _stale(marks, ledger))


_EVENT_SCHEMA = {"key": pl.Int64, "pupil": pl.UInt32, "rule_id": pl.String, "stage": pl.Int64, "ladder": pl.String,
                 "status": pl.String, "value": pl.String, "threshold": pl.String, "measure": pl.String,
                 "window_start": pl.Date, "window_end": pl.Date, "first_met_on": pl.Date, "kind": pl.String,
                 "letter": pl.String, "description": pl.String}


def _finish(parts: list[pl.DataFrame], marks: Marks) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Events with pupil ids and their evidence as text ("03/11/2025 AM N; 04/11/2025 PM U"), and the
    evidence as rows (key, date, session, code) for the ledger."""
    evidence_schema = {"key": pl.Int64, "date": pl.Date, "session": pl.String, "code": pl.String}
    if not parts:
        events = pl.DataFrame(schema={**_EVENT_SCHEMA, "evidence_sessions": pl.Int64, "evidence": pl.String})
        return events.drop("pupil").insert_column(1, pl.Series("pupil_id", [], pl.String)), pl.DataFrame(schema=evidence_schema)
    events = pl.concat([p.select(*_EVENT_SCHEMA, "sessions") for p in parts], how="vertical_relaxed")
    flat = events.select("key", "sessions").explode("sessions").unnest("sessions").drop_nulls("date")
    flat = marks.with_codes(flat).select("key", "date", pl.col("session").cast(pl.String), "code")
    # each date written once (a few hundred), not once per session (millions)
    days = flat.select(pl.col("date").unique()).with_columns(pl.col("date").dt.strftime("%d/%m/%Y").alias("_day"))
    text = flat.join(days, on="date", how="left", maintain_order="left").select(
        "key", pl.concat_str("_day", "session", "code", separator=" ").alias("_text"))
    if text["key"].is_sorted():  # as the rules found them: grouping is then a scan
        text = text.with_columns(pl.col("key").set_sorted())
    text = text.group_by("key").agg(pl.len().cast(pl.Int64).alias("evidence_sessions"),
                                    pl.col("_text").str.join("; ").alias("evidence"))
    events = (events.drop("sessions").join(text, on="key", how="left")
              .with_columns(pl.col("evidence_sessions").fill_null(0)))
    events = marks.with_ids(events).select("key", "pupil_id", *[c for c in events.columns if c not in ("key", "pupil")])
    # in the order the table shows them (among events alike in all of these, the rules' order), and
    # numbered 0, 1, ... in that order, their evidence in the same order
    events = events.sort("pupil_id", "ladder", "stage", "rule_id", "first_met_on", maintain_order=True)
    keys = events.select(pl.col("key").alias("_old"), pl.int_range(pl.len(), dtype=pl.Int64).alias("_new"))
    flat = (flat.join(keys, left_on="key", right_on="_old", how="inner", maintain_order="left").sort("_new", maintain_order=True)
            .select(pl.col("_new").alias("key"), pl.exclude("key", "_new")))
    return events.with_columns(keys["_new"].alias("key")), flat


def _used_for(rule: Rule, used: pl.DataFrame) -> pl.DataFrame:
    """Sessions this rule may not count again: evidence of its own events and of the same or later stages
    of its ladder."""
    if not rule.records_evidence:
        return used.clear().select("pupil", "date", "session")
    mine = (pl.col("rule_id") == rule.id) | ((pl.col("ladder") == rule.ladder_name) & (pl.col("stage") >= rule.stage))
    return used.filter(mine).select("pupil", "date", "session").unique()


def _excused(rule: Rule, marks: Marks, ledger: LedgerState) -> pl.DataFrame | None:
    """pupil, until: marks on or before `until` are covered by evidence the school has received on the
    rule's case (an `evidence-received` action: until its `until`, else its date), so the rule does
    not count them again (no "we have not received evidence" after it was received)."""
    if not rule.records_evidence:
        return None
    mine = ledger.actions.filter((pl.col("action") == "evidence-received") & (pl.col("ladder") == rule.ladder_name))
    if not mine.height:
        return None
    return marks.numbered(mine.group_by("pupil_id").agg(pl.coalesce("until", "date").max().alias("until")))


def _eligible(rule: Rule, marks: Marks, ledger: LedgerState, calendar: SchoolCalendar,
              as_of: dt.date) -> pl.DataFrame | None:
    """For a rule that follows another: pupil and `since` (the earlier event's as-of date) of the pupils
    with a recorded event of the earlier rule, long enough ago, with the new marks `needs_new` asks for
    and the action `after_action` names since then (`since` is then the action's date), and
    `applies_from`: the first day all of that held (the day after `since`, the day of the last new mark
    needed, the Monday of the week the wait ends). None: every pupil."""
    if not rule.follows:
        return None
    earlier = marks.numbered(ledger.events.filter((pl.col("rule_id") == rule.follows) & (pl.col("as_of") <= as_of))
                             .group_by("pupil_id").agg(pl.col("as_of").max().alias("since")))
    if rule.after_action is not None and earlier.height:
        done = marks.numbered(ledger.actions.filter((pl.col("action") == rule.after_action)
                                                    & (pl.col("ladder") == rule.ladder_name) & (pl.col("date") <= as_of))
                              .select("pupil_id", pl.col("date").alias("_acted")))
        earlier = (earlier.join(done, on="pupil").filter(pl.col("_acted") >= pl.col("since"))
                   .group_by("pupil").agg(pl.col("_acted").max().alias("since")))
    earlier = earlier.with_columns((pl.col("since") + DAY).alias("applies_from"))
    if rule.needs_new is not None and earlier.height:
        new = rule.needs_new
        chosen = marks.frame.filter(pl.col("slot").is_in(marks.slots(new.codes, new.categories, new.late).implode())
                                    & (pl.col("date") <= as_of)).join(earlier, on="pupil")
        enough = (chosen.filter(pl.col("date") > pl.col("since")).group_by("pupil")
                  .agg(pl.len().alias("len"), pl.col("date").sort().get(new.at_least - 1, null_on_oob=True).alias("_nth"))
                  .filter(pl.col("len") >= new.at_least))
        earlier = earlier.join(enough.select("pupil", "_nth"), on="pupil").with_columns(
            pl.max_horizontal("applies_from", "_nth").alias("applies_from")).drop("_nth")
    if rule.wait_school_weeks and earlier.height:
        weeks = pl.Series(calendar.school_weeks(end=as_of), dtype=pl.Date)
        this_week = as_of - dt.timedelta(days=as_of.weekday())
        done = int((weeks <= this_week).sum())
        # school weeks after the earlier event's week, up to and including this one
        before = weeks.search_sorted(earlier["since"].dt.truncate("1w"), side="right").cast(pl.Int64)
        earlier = earlier.filter((done - before) >= rule.wait_school_weeks)
        if earlier.height:
            before = weeks.search_sorted(earlier["since"].dt.truncate("1w"), side="right").cast(pl.Int64)
            ends = weeks.gather((before + rule.wait_school_weeks - 1).clip(0, weeks.len() - 1))
            earlier = earlier.with_columns(pl.max_horizontal("applies_from", pl.Series(ends)).alias("applies_from"))
    return earlier


def _evaluate(rule: Rule, marks: Marks, calendar: SchoolCalendar, as_of: dt.date, used: pl.DataFrame,
              eligible: pl.DataFrame | None, excused: pl.DataFrame | None = None) -> pl.DataFrame:
    start, end = window_of(rule, calendar, as_of)
    in_window = pl.col("date").is_between(start, end)
    scope = _Scope(in_window, eligible, rule.window == "since-stage", used, excused)
    if isinstance(rule, CountRule):
        hits = _count(rule, marks, scope)
        if rule.only_when is not None and hits.height:
            s, e = window_of(rule.model_copy(update={"window": rule.only_when_window, "weeks": None}), calendar, as_of)
            when_scope = _Scope(pl.col("date").is_between(s, e), None, False, None)
            state = _attendance(rule.only_when, marks, when_scope).filter(pl.col("met"))
            hits = hits.join(state.select("pupil"), on="pupil", how="semi")
            # met only once both held: the count, and attendance under the threshold (continuously since)
            since = _first_met(rule.only_when, marks, when_scope, hits.select("pupil")).rename({"first_met_on": "_when"})
            hits = hits.join(since, on="pupil", how="left").with_columns(
                pl.max_horizontal("first_met_on", "_when").alias("first_met_on")).drop("_when")
        if rule.window == "since-stage" and eligible is not None:
            hits = hits.join(eligible, on="pupil").with_columns((pl.col("since") + DAY).alias("window_start")).drop("since")
        return hits
    if isinstance(rule, AttendanceRule):
        return _attendance_hits(rule, marks, scope)
    if isinstance(rule, WillCrossRule):
        return _will_cross(rule, marks, scope, as_of)
    if isinstance(rule, CannotReachRule):
        return _cannot_reach(rule, marks, scope, calendar, as_of)
    if isinstance(rule, DeclineRule):
        return _decline(rule, marks, scope, calendar, as_of)
    if isinstance(rule, RunRule):
        return _runs(rule, marks, scope, as_of)
    if isinstance(rule, AgeRule):
        return _age(rule, marks, scope, calendar, as_of)
    raise TypeError(rule)


@dataclass(frozen=True)
class _Scope:
    """Which marks a rule may look at: its window, the pupils a follow-up stage applies to (and from
    when), and the sessions already used by recorded events."""

    window: pl.Expr
    eligible: pl.DataFrame | None
    since_stage: bool
    used: pl.DataFrame | None
    excused: pl.DataFrame | None = None  # pupil, until: marks covered by evidence received

    def apply(self, frame: pl.DataFrame, exclude_used: bool = True) -> pl.DataFrame:
        frame = frame.filter(self.window)
        if exclude_used and self.excused is not None:
            frame = (frame.join(self.excused, on="pupil", how="left")
                     .filter(pl.col("until").is_null() | (pl.col("date") > pl.col("until"))).drop("until"))
        if self.eligible is not None:
            if self.since_stage:
                frame = frame.join(self.eligible, on="pupil").filter(pl.col("date") > pl.col("since")).drop("since")
            else:
                frame = frame.join(self.eligible, on="pupil", how="semi")
        if exclude_used and self.used is not None and self.used.height:
            keys = ["pupil", "date", "session"] if "session" in frame.columns else ["pupil", "date"]
            frame = frame.join(self.used.select(keys).unique(), on=keys, how="anti")
        return frame

    def used_days(self) -> pl.DataFrame | None:
        if self.used is None or not self.used.height:
            return None
        return self.used.select("pupil", "date").unique()


_SESSIONS = pl.struct("date", "session", "slot")


def _hits(frame: pl.DataFrame) -> pl.DataFrame:
    """Give every hit frame the same columns (value and threshold as text, evidence as a list)."""
    return frame.select("pupil", pl.col("value").cast(pl.String), pl.col("threshold").cast(pl.String), "measure",
                        *[c for c in ("window_start", "window_end") if c in frame.columns], "first_met_on", "sessions")


def _unit(marks: Marks) -> str:
    return "contact points" if marks.lessons else "sessions"


def _count(rule: CountRule, marks: Marks, scope: _Scope) -> pl.DataFrame:
    slots = marks.slots(rule.codes, rule.categories, rule.late).implode()
    chosen = scope.apply(marks.frame.filter(pl.col("slot").is_in(slots)))
    need = rule.minimum
    grouped = chosen.group_by("pupil").agg(
        pl.len().alias("value"), pl.col("date").sort().get(need - 1, null_on_oob=True).alias("first_met_on"),
        _SESSIONS.alias("sessions"))
    threshold = f"{rule.at_least} or more" if rule.at_least is not None else f"more than {rule.more_than}"
    return _hits(grouped.filter(pl.col("value") >= need).with_columns(
        pl.lit(threshold).alias("threshold"), pl.lit(f"{_unit(marks)}: {rule.describe()}").alias("measure")))


# -- attendance states ----------------------------------------------------------------------------


def _meets(threshold: Threshold, absent: pl.Expr, possible: pl.Expr) -> pl.Expr:
    """100 × absent ≥ T × possible (or > for 'attendance below'), in integers."""
    share, strict = threshold.absence_share
    left = absent.cast(pl.Int64) * (100 * share.denominator)
    right = possible.cast(pl.Int64) * share.numerator
    return (left > right) if strict else (left >= right)


def _attendance(threshold: Threshold, marks: Marks, scope: _Scope) -> pl.DataFrame:
    """Per pupil with possible sessions in scope: possible, absent and whether the threshold is met."""
    return _sums(marks, scope).with_columns(_meets(threshold, pl.col("absent"), pl.col("possible")).alias("met"))


def _sums(marks: Marks, scope: _Scope) -> pl.DataFrame:
    """Possible and absent sessions per pupil in scope; rules over the same window share them."""
    # only plain windows are shared: a follow-up stage's pupils and dates are its own
    key = str(scope.window) if scope.eligible is None else None
    if key is None or key not in marks.sums:
        daily = scope.apply(marks.daily, exclude_used=False)
        out = daily.group_by("pupil").agg(pl.col("possible").sum().cast(pl.Int64), pl.col("absent").sum().cast(pl.Int64))
        if key is None:
            return out.filter(pl.col("possible") > 0)
        marks.sums[key] = out.filter(pl.col("possible") > 0)
    return marks.sums[key]


def _absent_sessions(marks: Marks, scope: _Scope, pupils: pl.DataFrame) -> pl.DataFrame:
    """The absences in scope of these pupils: the evidence of a state."""
    absent = marks.frame.filter(pl.col("slot").is_in(marks.absent_slots.implode())).join(
        pupils.select("pupil"), on="pupil", how="semi")
    return scope.apply(absent, exclude_used=False).group_by("pupil").agg(_SESSIONS.alias("sessions"))


def _attendance_hits(rule: AttendanceRule, marks: Marks, scope: _Scope) -> pl.DataFrame:
    state = _attendance(rule, marks, scope).filter(pl.col("met") & (pl.col("possible") >= max(rule.min_possible, 1)))
    first = _first_met(rule, marks, scope, state, rule.min_possible)
    out = state.join(first, on="pupil", how="left").join(_absent_sessions(marks, scope, state), on="pupil", how="left")
    return _hits(out.with_columns(
        pct_down_expr(pl.col("possible") - pl.col("absent"), pl.col("possible")).alias("value"),
        pl.lit(rule.label()).alias("threshold"), pl.lit("attendance %").alias("measure")))


def _first_met(threshold: Threshold, marks: Marks, scope: _Scope, pupils: pl.DataFrame,
               min_possible: int = 0) -> pl.DataFrame:
    """The day from which the pupil has met the threshold continuously (cumulative over the window),
    with at least `min_possible` possible sessions (before that the rule is not met at all).

    The days are sorted by pupil and date, so each pupil's running totals are the running totals over
    all rows less those before the pupil's first row: no per-group cumulative sum is needed."""
    daily = scope.apply(marks.daily, exclude_used=False).join(pupils.select("pupil"), on="pupil", how="semi")
    cp, ca = pl.col("possible").cast(pl.Int64).cum_sum(), pl.col("absent").cast(pl.Int64).cum_sum()
    first = (pl.col("pupil") != pl.col("pupil").shift(1)).fill_null(True)
    daily = daily.select("pupil", "date", cp.alias("cp"), ca.alias("ca"),
                         # the running totals just before the pupil's first day, carried down their rows
                         pl.when(first).then(cp - pl.col("possible")).forward_fill().alias("p0"),
                         pl.when(first).then(ca - pl.col("absent")).forward_fill().alias("a0"))
    daily = daily.with_columns((_meets(threshold, pl.col("ca") - pl.col("a0"), pl.col("cp") - pl.col("p0"))
                                & ((pl.col("cp") - pl.col("p0")) >= min_possible)).alias("ok"))
    last_miss = pl.col("date").filter(~pl.col("ok")).max().fill_null(dt.date.min)
    return daily.group_by("pupil").agg(pl.col("date").filter(pl.col("ok") & (pl.col("date") > last_miss)).min()
                                       .alias("first_met_on"))


def _will_cross(rule: WillCrossRule, marks: Marks, scope: _Scope, as_of: dt.date) -> pl.DataFrame:
    share, strict = rule.absence_share
    state = _attendance(rule, marks, scope).filter(~pl.col("met") & (pl.col("possible") >= max(rule.min_possible, 1)))
    # smallest k ≥ 1 with 100(a+k) ≥ T(p+k), i.e. k(100−T) ≥ Tp − 100a (strict: >); T = num/den
    num, den = share.numerator, share.denominator
    gap = pl.col("possible") * num - pl.col("absent") * 100 * den
    step = 100 * den - num
    to_go = (gap // step + 1) if strict else (-((-gap) // step))
    state = state.with_columns(pl.max_horizontal(to_go, pl.lit(1)).alias("value")).filter(pl.col("value") <= rule.within)
    state = state.join(_absent_sessions(marks, scope, state), on="pupil", how="left")
    return _hits(state.with_columns(
        pl.lit(f"{rule.label()} within {rule.within} {_unit(marks)}").alias("threshold"),
        pl.lit(f"{_unit(marks)} of absence until {rule.label()}").alias("measure"),
        pl.lit(as_of).alias("first_met_on")))


def remaining_school_days(calendar: SchoolCalendar, as_of: dt.date, days_per_year: int) -> int:
    """School days left in the school year after `as_of`: from the calendar file when it reaches the end of
    the year (weekdays in its half terms), otherwise the year's length less the school days so far."""
    year_start = school_year_start(as_of)
    year_end = dt.date(year_start.year + 1, 7, 31)
    in_year = [h for h in calendar.half_terms if year_start <= h.start <= year_end]
    if calendar.source != "inferred from the data" and in_year and in_year[-1].end >= dt.date(year_end.year, 7, 1):
        days = 0
        for half in in_year:
            day = max(half.start, as_of + DAY)
            while day <= half.end:
                days += day.weekday() < 5
                day += DAY
        return days
    so_far = sum(1 for d in calendar.school_days if year_start <= d <= as_of)
    return max(0, days_per_year - so_far)


def _cannot_reach(rule: CannotReachRule, marks: Marks, scope: _Scope, calendar: SchoolCalendar,
                  as_of: dt.date) -> pl.DataFrame:
    days_left = remaining_school_days(calendar, as_of, rule.sessions_per_year // SESSIONS_PER_DAY)
    threshold = Threshold(attendance_below=rule.attendance)
    state = _attendance(threshold, marks, scope)
    if marks.lessons:
        # contact points left: the pupil's own timetable so far, carried on for the days that remain
        so_far = max(1, sum(1 for d in calendar.school_days if school_year_start(as_of) <= d <= as_of))
        remaining = (pl.col("possible") * days_left) // so_far
    else:
        remaining = pl.lit(SESSIONS_PER_DAY * days_left, dtype=pl.Int64)
    best_possible = pl.col("possible") + pl.col("remaining")
    state = state.with_columns(remaining.alias("remaining")).filter(_meets(threshold, pl.col("absent"), best_possible))
    state = state.join(_absent_sessions(marks, scope, state), on="pupil", how="left")
    return _hits(state.with_columns(
        pct_down_expr(best_possible - pl.col("absent"), best_possible).alias("value"),
        pl.lit(f"{rule.attendance:g}% by the end of the school year").alias("threshold"),
        pl.lit(f"best attendance % still possible this year ({days_left} school days left)").alias("measure"),
        pl.lit(as_of).alias("first_met_on")))


def _decline(rule: DeclineRule, marks: Marks, scope: _Scope, calendar: SchoolCalendar, as_of: dt.date) -> pl.DataFrame:
    weeks = calendar.school_weeks(end=as_of)
    if len(weeks) < 2 * rule.weeks:
        return _hits(_empty_hits(marks))
    earlier_start, later_start = weeks[-2 * rule.weeks], weeks[-rule.weeks]
    daily = scope.apply(marks.daily, exclude_used=False).filter(pl.col("date") >= earlier_start)
    later = pl.col("date") >= later_start
    attended = (pl.col("possible") - pl.col("absent")).cast(pl.Int64)
    per = daily.group_by("pupil").agg(
        pl.col("possible").filter(~later).sum().cast(pl.Int64).alias("p1"), attended.filter(~later).sum().alias("t1"),
        pl.col("possible").filter(later).sum().cast(pl.Int64).alias("p2"), attended.filter(later).sum().alias("t2"))
    by = Fraction(str(rule.by))
    # t2/p2 < t1/p1 − by/100  ⇔  100·den·t2·p1 < (100·den·t1 − num·p1)·p2
    d, n = by.denominator, by.numerator
    declined = (100 * d * pl.col("t2") * pl.col("p1")) < (100 * d * pl.col("t1") - n * pl.col("p1")) * pl.col("p2")
    enough = (pl.col("p1") >= rule.min_sessions) & (pl.col("p2") >= rule.min_sessions)
    out = per.filter(enough & declined)
    if rule.below is not None:  # 100·t2 < below·p2, exactly
        below = Fraction(str(rule.below))
        out = out.filter(100 * below.denominator * pl.col("t2") < below.numerator * pl.col("p2"))
    later_scope = _Scope(pl.col("date").is_between(later_start, as_of), None, False, None)
    out = out.join(_absent_sessions(marks, later_scope, out), on="pupil", how="left")
    return _hits(out.with_columns(
        pct_down_expr(pl.col("t2"), pl.col("p2")).alias("value"),
        (pl.lit("below ") + pct_down_expr(pl.col("t1"), pl.col("p1"))
         + pl.lit(f" (the {rule.weeks} school weeks before)" + (f" by more than {rule.by:g} points" if rule.by else ""))
         ).alias("threshold"),
        pl.lit(f"attendance % over the last {rule.weeks} school weeks").alias("measure"),
        pl.lit(later_start).alias("window_start"), pl.lit(as_of).alias("first_met_on")))


def _empty_hits(marks: Marks) -> pl.DataFrame:
    return pl.DataFrame(schema={"pupil": pl.UInt32, "value": pl.String, "threshold": pl.String, "measure": pl.String,
                                "first_met_on": pl.Date, "sessions": pl.List(pl.Struct(
                                    {"date": pl.Date, "session": marks.frame.schema["session"], "slot": pl.UInt16}))})


# -- runs and ages ---------------------------------------------------------------------------------


def _islands(frame: pl.DataFrame, index: str) -> pl.Expr:
    """A run number that changes whenever the pupil changes or `index` is not the previous one + 1
    (the frame sorted by pupil and index)."""
    starts = (pl.col("pupil") != pl.col("pupil").shift(1)) | (pl.col(index) != pl.col(index).shift(1) + 1)
    return starts.fill_null(True).cum_sum()


def _runs(rule: RunRule, marks: Marks, scope: _Scope, as_of: dt.date) -> pl.DataFrame:
    """Continuous runs of possible sessions, school days or weeks, every one in the selection.

    Only the pupil's possible sessions count: days and weeks with none (holidays, closures, codes that
    are not counted) neither count nor break a run. A day or week holding a session already used by a
    recorded event of this rule breaks it."""
    selected = (rule.codes, rule.categories, rule.late)
    if rule.unit in ("sessions", "contact-points"):
        units = scope.apply(marks.possible.filter(pl.col("slot").is_in(marks.slots(*selected).implode())))
        units = units.with_columns(pl.col("idx").alias("unit_idx"), pl.col("date").alias("unit_end"))
        table, index = marks.possible, "idx"
    else:
        table = marks.daily if rule.unit == "school-days" else marks.weekly(as_of)
        index = "day_idx" if rule.unit == "school-days" else "week_idx"
        # every possible mark of the day (week) is in the selection (filtered before anything else is done)
        units = scope.apply(marks.all_in(table, marks.slots(*selected)), exclude_used=False)
        used_days = scope.used_days()
        if used_days is not None:
            if index == "week_idx":
                used_days = used_days.with_columns(pl.col("date").dt.truncate("1w")).unique()
            units = units.join(used_days, on=["pupil", "date"], how="anti")
        units = units.with_columns(pl.col(index).alias("unit_idx"))
    units = units.sort("pupil", "unit_idx").with_columns(_islands(units, "unit_idx").alias("run"))
    runs = units.group_by("run").agg(
        pl.col("pupil").first(), pl.len().alias("value"), pl.col("unit_idx").first().cast(pl.Int64).alias("first_idx"),
        pl.col("date").first().alias("window_start"), pl.col("unit_end").last().alias("window_end"),
        pl.col("unit_end").get(rule.length - 1, null_on_oob=True).alias("first_met_on"))
    runs = runs.filter(pl.col("value") >= rule.length)
    if rule.after:
        # the session (or the last session of the day or week) just before the run: still on leave
        before = runs.select("run", "pupil", (pl.col("first_idx") - 1).alias("_i")).join(
            table.select(pl.col("pupil"), pl.col(index).cast(pl.Int64).alias("_i"),
                         pl.col("idx" if index == "idx" else "last").alias("_last")), on=["pupil", "_i"], how="inner")
        after_slots = marks.slots(codes=rule.after)
        leave = before.filter(marks.possible["slot"].gather(before["_last"]).is_in(after_slots.implode()))
        runs = runs.join(leave.select("run"), on="run", how="semi")
    runs = runs.join(_run_sessions(marks, units, runs, rule.unit), on="run", how="left")
    unit_name = {"school-days": "school days", "sessions": "sessions", "contact-points": "contact points",
                 "weeks": "weeks"}[rule.unit]
    extra = f", straight after {', '.join(rule.after)}" if rule.after else ""
    return _hits(runs.with_columns(
        pl.lit(f"{rule.length} or more").alias("threshold"),
        pl.lit(f"continuous {unit_name}: {rule.describe()}{extra}").alias("measure")))


def _run_sessions(marks: Marks, units: pl.DataFrame, runs: pl.DataFrame, unit: str) -> pl.DataFrame:
    """The sessions of each run (run, sessions)."""
    if unit in ("sessions", "contact-points"):
        mine = units.join(runs.select("run"), on="run", how="semi")
        return mine.group_by("run").agg(_SESSIONS.alias("sessions"))
    spans = runs.select("run", "pupil", pl.col("window_start").dt.truncate("1w") if unit == "weeks" else "window_start",
                        "window_end")
    rows = (marks.possible.join(spans, on="pupil", how="inner")
            .filter(pl.col("date").is_between(pl.col("window_start"), pl.col("window_end"))))
    return rows.group_by("run").agg(_SESSIONS.alias("sessions"))


def _age(rule: AgeRule, marks: Marks, scope: _Scope, calendar: SchoolCalendar, as_of: dt.date) -> pl.DataFrame:
    days = pl.Series("days", sorted(d for d in calendar.school_days if d <= as_of), dtype=pl.Date)
    chosen = scope.apply(marks.frame.filter(pl.col("slot").is_in(marks.slots(codes=rule.codes).implode())))
    total = len(days)
    position = days.search_sorted(chosen["date"], side="right").cast(pl.Int64)  # school days up to the mark's date
    chosen = chosen.with_columns((total - position).alias("age"), position.alias("_pos"))
    old = chosen.filter(pl.col("age") > rule.older_than_school_days)
    # it became overdue on the school day `older_than + 1` days after the mark
    if total:
        old = old.with_columns(days.gather((old["_pos"] + rule.older_than_school_days).clip(0, total - 1)).alias("_due"))
    else:
        old = old.with_columns(pl.lit(None, dtype=pl.Date).alias("_due"))
    grouped = old.group_by("pupil").agg(pl.len().alias("value"), pl.col("_due").min().alias("first_met_on"),
                                        _SESSIONS.alias("sessions"))
    return _hits(grouped.with_columns(
        pl.lit(f"older than {rule.older_than_school_days} school days").alias("threshold"),
        pl.lit(f"{_unit(marks)} still coded {', '.join(rule.codes)}").alias("measure")))



# -- stale events -----------------------------------------------------------------------------------


def _stale(marks: Marks, ledger: LedgerState) -> pl.DataFrame:
    """Recorded events with an evidence session whose mark has changed since (a missing session is not
    a change: the exports given may simply not cover it)."""
    schema = {"event_id": pl.Int64, "rule_id": pl.String, "pupil_id": pl.String, "changes": pl.String}
    if not ledger.evidence.height:
        return pl.DataFrame(schema=schema)
    evidence = marks.numbered(ledger.evidence.with_columns(
        pl.col("session").cast(marks.frame.schema["session"], strict=False)))
    keys = ["pupil", "date", "session"]
    now = marks.with_codes(marks.frame.join(evidence.select(keys).unique(), on=keys, how="semi"))
    # a count event is stale when a session behind it has another code now; a state (attendance) event
    # when an absence behind it is no longer an absence (N amended to I still is)
    kinds = ledger.events.select("event_id", "kind")
    now = now.join(marks.lookup.select("slot", pl.col("category").is_in(ABSENT).alias("absent")), on="slot", how="left")
    changed = (evidence.join(kinds, on="event_id", how="left")
               .join(now.select(*keys, pl.col("code").alias("now"), "absent"), on=keys, how="inner")
               .filter(pl.when(pl.col("kind") == "state").then(~pl.col("absent")).otherwise(pl.col("code") != pl.col("now"))))
    changed = marks.with_ids(changed)
    if not changed.height:
        return pl.DataFrame(schema=schema)
    text = pl.concat_str(pl.col("date").dt.strftime("%d/%m/%Y"), pl.col("session").cast(pl.String),
                         pl.col("code") + pl.lit(" → ") + pl.col("now"), separator=" ")
    return (changed.sort("date", "session").group_by("event_id", "rule_id", "pupil_id", maintain_order=True)
            .agg(text.str.join("; ").alias("changes")).sort("event_id").cast(schema))

