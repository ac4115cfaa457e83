"""A pupil's timeline: attendance per half term from the exports, and the events, letters and the school's
recorded actions (`attendance case record`) in the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from attendance_cli.figures import (
    POSSIBLE, attended_expr, authorised_expr, pct_down_expr, possible_expr, unauthorised_expr,
)

if TYPE_CHECKING:
    from attendance_cli.dataset import Dataset

TIMELINE = {"date": pl.Date, "entry": pl.String, "policy": pl.String, "rule_id": pl.String, "stage": pl.Int64,
            "value": pl.String, "threshold": pl.String, "detail": pl.String}


@dataclass(frozen=True)
class History:
    timeline: pl.DataFrame  # TIMELINE columns, in date order
    name: str  # ": Surname, Forename (Year 3, 3A)" when the exports give it
    note: str


def pupil_history(pupil_id: str, data: Dataset | None, calendar_file: Path | None, ledger_path: Path,
                  policy: str | None) -> History:
    parts = [pl.DataFrame(schema=TIMELINE)]
    name, note = "", "No exports given: attendance per half term not shown."
    if data is not None:
        attendance, name = _attendance(pupil_id, data, calendar_file)
        parts.append(attendance)
        note = "Attendance % per half term by the DfE method, rounded down."
    if ledger_path.exists():
        parts.append(_events(pupil_id, ledger_path, policy))
    timeline = pl.concat([p.select(list(TIMELINE)) for p in parts], how="vertical_relaxed")
    order = pl.col("entry").replace_strict({"attendance": 0, "event": 1, "letter": 2, "left": 3, "action": 4}, default=5,
                                           return_dtype=pl.Int8)
    return History(timeline.sort(pl.col("date"), order, "policy", "stage", "rule_id", nulls_last=True,
                                  maintain_order=True), name, note)


def _attendance(pupil_id: str, data: Dataset, calendar_file: Path | None) -> tuple[pl.DataFrame, str]:
    result = data.checked
    everyone = data.marks  # the same accepted marks the rules see; the calendar comes from them
    calendar, _ = data.calendar(calendar_file)
    marks = (everyone.frame.join(everyone.numbered(pl.DataFrame({"pupil_id": [pupil_id]})), on="pupil", how="semi")
             .join(everyone.lookup.select("slot", "category", "late"), on="slot")
             .filter(pl.col("category").is_in(POSSIBLE)).select("date", "category", "late"))
    name = ""
    who = result.pupils.filter(pl.col("pupil_id") == pupil_id)
    if who.height:
        row = who.row(0, named=True)
        parts = [p for p in (row.get("surname"), row.get("forename")) if p]
        group = ", ".join(p for p in (row.get("year_group"), row.get("form")) if p)
        name = ": " + ", ".join(parts) + (f" ({group})" if group else "")
    if marks.is_empty() or not calendar.half_terms:
        return pl.DataFrame(schema=TIMELINE), name
    halves = pl.DataFrame({"start": [h.start for h in calendar.half_terms],
                           "half_term": [f"{h.name} {h.school_year}" for h in calendar.half_terms]})
    marks = marks.sort("date").join_asof(halves.sort("start"), left_on="date", right_on="start", strategy="backward")
    per = marks.group_by("half_term", "start").agg(
        possible_expr(only_possible=True).alias("possible"), attended_expr().alias("attended"),
        authorised_expr().alias("authorised"), unauthorised_expr().alias("unauthorised"),
        pl.col("late").is_not_null().sum().alias("late"))
    unit = "contact points" if data.lessons else "sessions"
    out = per.select(
        pl.col("start").alias("date"), pl.lit("attendance").alias("entry"), pl.lit(None, dtype=pl.String).alias("policy"),
        pl.col("half_term").alias("rule_id"), pl.lit(None, dtype=pl.Int64).alias("stage"),
        pct_down_expr(pl.col("attended"), pl.col("possible")).alias("value"), pl.lit("attendance %").alias("threshold"),
        pl.format(f"{{}} possible {unit}, {{}} authorised and {{}} unauthorised absences, {{}} late",
                  "possible", "authorised", "unauthorised", "late").alias("detail"))
    return out, name


def _events(pupil_id: str, ledger_path: Path, policy: str | None) -> pl.DataFrame:
    from attendance_cli.ledger import Ledger

    with Ledger(ledger_path, create=False) as ledger:
        events = ledger.events(policy=policy, pupil_id=pupil_id)
        evidence = ledger.evidence(policy=policy, pupil_id=pupil_id)
        letters = ledger.letters(policy=policy, pupil_id=pupil_id)
        actions = ledger.actions(pupil_id=pupil_id)
    done = _actions(actions)
    if events.is_empty():
        return done
    text = (evidence.sort("date", "session").with_columns(
        pl.concat_str(pl.col("date").dt.strftime("%d/%m/%Y"), "session", "code", separator=" ").alias("_t"))
        .group_by("event_id").agg(pl.col("_t").str.join("; ").alias("sessions")))
    events = events.join(text, on="event_id", how="left")
    letter = pl.when(pl.col("letter").is_not_null()).then(pl.lit("letter ") + pl.col("letter") + pl.lit("; ")).otherwise(pl.lit(""))
    recorded = events.select(
        pl.col("as_of").alias("date"), pl.lit("event").alias("entry"), "policy", "rule_id", "stage", "value", "threshold",
        (letter + pl.lit("first met ") + pl.col("first_met_on").dt.strftime("%d/%m/%Y").fill_null("?")
         + pl.lit("; ") + pl.col("sessions").fill_null("no sessions recorded")).alias("detail"))
    left = events.filter(pl.col("left_on").is_not_null()).select(
        pl.col("left_on").alias("date"), pl.lit("left").alias("entry"), "policy", "rule_id", "stage",
        pl.lit(None, dtype=pl.String).alias("value"), "threshold",
        (pl.lit("no longer met (recorded ") + pl.col("as_of").dt.strftime("%d/%m/%Y") + pl.lit(")")).alias("detail"))
    sent = letters.select(
        pl.col("letter_date").alias("date"), pl.lit("letter").alias("entry"), "policy", "rule_id", "stage",
        pl.col("letter").alias("value"), pl.lit(None, dtype=pl.String).alias("threshold"),
        (pl.lit("to ") + pl.col("recipient") + pl.lit(" by ") + pl.col("channel") + pl.lit(": ") + pl.col("file")).alias("detail"))
    return pl.concat([recorded, left, sent, done], how="vertical_relaxed")


def _actions(actions: pl.DataFrame) -> pl.DataFrame:
    """What the school recorded it did (whichever policy, as actions are kept by case): entry `action`,
    the action as its value, and the case's ladder, the until date and the note in the detail."""
    until = (pl.when(pl.col("action") == "hold").then(pl.lit("; until "))
             .otherwise(pl.lit("; covering absences up to ")) + pl.col("until").dt.strftime("%d/%m/%Y"))
    note = pl.when(pl.col("note").fill_null("") != "").then(pl.lit("; note: ") + pl.col("note"))
    return actions.sort("date", "action_id").select(
        "date", pl.lit("action").alias("entry"), pl.lit(None, dtype=pl.String).alias("policy"),
        pl.lit(None, dtype=pl.String).alias("rule_id"), pl.lit(None, dtype=pl.Int64).alias("stage"),
        pl.col("action").alias("value"), pl.lit(None, dtype=pl.String).alias("threshold"),
        pl.concat_str(pl.col("ladder") + pl.lit(" case"), until.fill_null(""), note.otherwise(pl.lit("")))
        .alias("detail"))
