"""What each letter says: the new trigger events that name a letter, the figures behind them, and
who receives them. One `Letter` per event and guardian.

The figures come from the same places as everywhere else: the attendance % and days missed from
`statistics.pupil_statistics` over the school year to the as-of date (exactly what `attendance
summary --window ytd` prints), the sessions from the trigger's evidence.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import polars as pl

from attendance_cli.codes import POSSIBLE
from attendance_cli.calendar import school_year_label, school_year_start
from attendance_cli.ingest import Export, Window, tally
from attendance_cli.letters.model import Letter
from attendance_cli.rules import Policy
from attendance_cli.rules.marks import ABSENT
from attendance_cli.statistics import pupil_statistics

NO_CONTACT = "Parent or Carer"


def safe_name(text: str) -> str:
    """A file-name part from an id or a letter type: letters, digits and - only (never a raw name)."""
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-")
    return cleaned[:40] or "x"


def pct_text(attended: int, possible: int) -> str | None:
    """Attendance % rounded down to two decimals, as `attendance summary` shows it (never 90.00 for 89.999)."""
    if not possible:
        return None
    hundredths = attended * 10000 // possible
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def new_letter_events(events: pl.DataFrame, only: Sequence[str] = (), exclude: Sequence[str] = ()) -> pl.DataFrame:
    """New events whose rule names a letter, with --only/--exclude applied."""
    chosen = events.filter((pl.col("status") == "new") & pl.col("letter").is_not_null())
    if only:
        chosen = chosen.filter(pl.col("pupil_id").is_in(list(only)))
    if exclude:
        chosen = chosen.filter(~pl.col("pupil_id").is_in(list(exclude)))
    return chosen.sort("pupil_id", "ladder", "stage", "rule_id")


def split_superseded(events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(events that get a letter, events superseded): per pupil and ladder, only the highest stage
    newly met in this run gets a letter.

    A pupil can cross several stages of one ladder in a week (3, 5 and 10 lates; the unauthorised
    letter, the meeting and the penalty warning): the family should get the letter for where the
    pupil is now, not three letters of rising firmness in one envelope. The lower stages are still
    recorded with the run, as handled, so their sessions are used up and they do not come up (and
    send their letter) next week."""
    top = pl.col("stage") == pl.col("stage").max().over("pupil_id", "ladder")
    return events.filter(top), events.filter(~top)


def gather(found, export: Export, policy: Policy, events: pl.DataFrame, letter_date: dt.date, fmt: str,
           contacts: pl.DataFrame | None, earlier_letters: pl.DataFrame, school: dict[str, Any]) -> list[Letter]:
    """The letters for `events` (from `new_letter_events`), in pupil order."""
    if events.height == 0:
        return []
    as_of = found.evaluation.as_of
    pupil_ids = events["pupil_id"].unique()
    year = Window(school_year_start(as_of), as_of, f"school year {school_year_label(school_year_start(as_of))} to date")
    ytd = pupil_statistics(tally(export, year, attributes=["surname", "forename", "year_group", "form"]))
    ytd = ytd.filter(pl.col("pupil_id").is_in(pupil_ids.implode()))
    marks = (found.tally.marks().filter(pl.col("pupil_id").is_in(pupil_ids.implode()) & pl.col("date").le(as_of))
             .select("pupil_id", "date", pl.col("session").cast(pl.String), "code", "category", "late", "minutes_late",
                     *(["enrolled"] if "enrolled" in found.tally.marks().collect_schema().names() else []))
             .collect())
    if "enrolled" in marks.columns:
        marks = marks.filter(pl.col("enrolled")).drop("enrolled")
    windows = _window_figures(events, marks)
    sessions = _sessions(found.evaluation.evidence, events, marks, _meanings(export))
    earlier = _earlier(events, policy, earlier_letters)
    pupils = found.tally.pupils
    recipients = _recipients(events.select("pupil_id").unique(), contacts, fmt)

    # one letter of a type per pupil per run, even when two rules name it (e.g. a school's own
    # penalty warning and the national one): the first event's letter; both events are recorded
    events = events.unique(["pupil_id", "letter"], keep="first", maintain_order=True)
    rows = (events.join(pupils, on="pupil_id", how="left").join(ytd.drop("surname", "forename", "year_group", "form"),
                                                                  on="pupil_id", how="left")
            .join(windows, on="key", how="left").join(sessions, on="key", how="left").join(earlier, on="key", how="left")
            .join(recipients, on="pupil_id", how="left").sort("pupil_id", "ladder", "stage", "rule_id", "guardian"))
    bands = policy.band_of()
    out = []
    used: set[str] = set()
    for row in rows.iter_rows(named=True):  # one per letter (hundreds), not per mark
        context = _context(row, found, policy, letter_date, school, bands, year)
        base = f"{as_of:%Y-%m-%d}_{safe_name(row['pupil_id'])}_{safe_name(row['letter'])}"
        stem = base + (f"_g{row['guardian']}" if row["guardian"] else "")
        number = 2
        while stem in used:
            stem = f"{base}_g{row['guardian']}-{number}"
            number += 1
        used.add(stem)
        out.append(Letter(row["key"], row["pupil_id"], row["letter"], row["rule_id"], row["stage"], row["guardian"],
                          context["recipient"]["name"], row["channel"], row["email"], tuple(row["address"] or ()),
                          stem, context))
    return out


def _window_figures(events: pl.DataFrame, marks: pl.DataFrame) -> pl.DataFrame:
    """Per event: sessions possible and missed, lates and minutes lost within the rule's window."""
    inside = events.select("key", "pupil_id", "window_start", "window_end").join(marks, on="pupil_id").filter(
        pl.col("date").is_between(pl.col("window_start"), pl.col("window_end")))
    absent = pl.col("category").is_in(list(ABSENT))
    return inside.group_by("key").agg(
        pl.col("category").is_in(list(POSSIBLE)).sum().cast(pl.Int64).alias("w_possible"),
        absent.sum().cast(pl.Int64).alias("w_absences"),
        (pl.col("category") == "unauthorised").sum().cast(pl.Int64).alias("w_unauthorised"),
        pl.col("late").is_not_null().sum().cast(pl.Int64).alias("w_lates"),
        pl.col("minutes_late").filter(pl.col("late").is_not_null()).sum().cast(pl.Int64).alias("w_minutes_late"),
    )


def _meanings(export: Export) -> dict[str, str]:
    meanings: dict[str, str] = {}
    for code in export.slots.codes.codes:
        meanings.setdefault(code.code, code.meaning)
    return meanings


def _sessions(evidence: pl.DataFrame, events: pl.DataFrame, marks: pl.DataFrame, meanings: dict[str, str]) -> pl.DataFrame:
    """Per event: the sessions behind it (date, session, code, meaning, minutes late), in date order."""
    rows = (evidence.join(events.select("key", "pupil_id"), on="key")
            .with_columns(pl.col("session").cast(pl.String))
            .join(marks.select("pupil_id", "date", "session", "minutes_late", "late"), on=["pupil_id", "date", "session"],
                  how="left")
            .with_columns(pl.col("code").replace_strict(meanings, default="", return_dtype=pl.String).alias("meaning"),
                          pl.when(pl.col("late").is_not_null()).then(pl.col("minutes_late")).alias("minutes_late"))
            .sort("key", "date", "session"))
    return rows.group_by("key").agg(
        pl.struct("date", "session", "code", "meaning", "minutes_late").alias("sessions"))


def _earlier(events: pl.DataFrame, policy: Policy, letters: pl.DataFrame) -> pl.DataFrame:
    """Per event at a later stage: the latest letter already written for an earlier stage of its ladder
    (or for the rule it follows)."""
    follows = {r.id: r.follows for r in policy.rules}
    wanted = events.select("key", "pupil_id", "ladder", "stage", "rule_id").with_columns(
        pl.col("rule_id").replace_strict(follows, default=None, return_dtype=pl.String).alias("_follows"))
    sent = letters.select("pupil_id", pl.col("ladder").alias("_ladder"), pl.col("stage").alias("_stage"),
                          pl.col("rule_id").alias("_rule"), pl.col("letter").alias("earlier_letter"),
                          pl.col("letter_date").alias("earlier_date"))
    matched = wanted.join(sent, on="pupil_id").filter(
        (pl.col("_rule") == pl.col("_follows")).fill_null(False)
        | ((pl.col("_ladder") == pl.col("ladder")) & (pl.col("_stage") < pl.col("stage"))))
    return matched.sort("earlier_date").group_by("key").agg(pl.col("earlier_letter", "earlier_date").last())


def _recipients(pupils: pl.DataFrame, contacts: pl.DataFrame | None, fmt: str) -> pl.DataFrame:
    """Every guardian with parental responsibility; a pupil with none gets one letter for print."""
    schema = {"pupil_id": pl.String, "guardian": pl.Int64, "guardian_name": pl.String, "relationship": pl.String,
              "salutation": pl.String, "email": pl.String, "address": pl.List(pl.String)}
    found = (contacts.select(list(schema)).join(pupils, on="pupil_id", how="semi") if contacts is not None
             else pl.DataFrame(schema=schema))
    missing = pupils.join(found, on="pupil_id", how="anti").with_columns(
        pl.lit(0, dtype=pl.Int64).alias("guardian"), *[pl.lit(None, dtype=schema[c]).alias(c) for c in list(schema)[2:]])
    both = pl.concat([found, missing.select(list(schema))])
    email = pl.lit(fmt == "eml") & pl.col("email").is_not_null()
    return both.with_columns(pl.when(email).then(pl.lit("email")).otherwise(pl.lit("post")).alias("channel"))


def _band(pct: str | None, bands: list[tuple[str, float, float | None]], policy: Policy) -> dict[str, str] | None:
    if pct is None or not bands:
        return None
    value = float(pct)
    explanations = {b.name: b.explanation for b in policy.bands}
    for name, low, high in bands:
        if value >= low and (high is None or value < high):
            return {"name": name, "explanation": explanations[name]}
    return None


def _context(row: dict[str, Any], found, policy: Policy, letter_date: dt.date, school: dict[str, Any],
             bands: list[tuple[str, float, float | None]], year: Window) -> dict[str, Any]:
    """The names a letter template may use (listed by `attendance templates show --names`)."""
    possible = row["possible_sessions"] or 0
    attended = row["attended_sessions"] or 0
    absences = (row["authorised_absences"] or 0) + (row["unauthorised_absences"] or 0)
    lessons = found.tally.export.shape == "lessons"
    percent = pct_text(attended, possible)
    forename, surname = row.get("forename") or "", row.get("surname") or ""
    name = row["guardian_name"]
    salutation = row["salutation"] or name or NO_CONTACT
    return {
        "school": school,
        "policy": {"name": policy.name, "title": policy.title or policy.name},
        "date": letter_date,
        "as_of": found.evaluation.as_of,
        "pupil": {"id": row["pupil_id"], "forename": forename, "surname": surname,
                  "name": " ".join(p for p in (forename, surname) if p) or row["pupil_id"],
                  "year_group": row.get("year_group") or "", "form": row.get("form") or ""},
        "recipient": {"name": name or f"The {NO_CONTACT} of " + (" ".join(p for p in (forename, surname) if p) or row["pupil_id"]),
                      "salutation": salutation, "relationship": row["relationship"] or "",
                      "address": list(row["address"] or []), "email": row["email"] or "", "channel": row["channel"],
                      "on_file": bool(row["guardian"])},
        "attendance": {"percent": percent, "possible": possible, "attended": attended, "absences": absences,
                       "authorised": row["authorised_absences"] or 0, "unauthorised": row["unauthorised_absences"] or 0,
                       "days_missed": None if lessons else absences / 2, "lessons": lessons,
                       "lates": (row["late_before_close"] or 0) + (row["late_after_close"] or 0),
                       "minutes_late": row["minutes_late"] or 0, "from": year.start, "to": year.end,
                       "persistent_absence": bool(row["persistent_absence"]), "severe_absence": bool(row["severe_absence"]),
                       "band": _band(percent, bands, policy)},
        "event": {"rule_id": row["rule_id"], "letter": row["letter"], "ladder": row["ladder"], "stage": row["stage"],
                  "description": row["description"], "value": row["value"], "threshold": row["threshold"],
                  "measure": row["measure"], "window_start": _real(row["window_start"]), "window_end": row["window_end"],
                  "first_met_on": row["first_met_on"], "sessions": row["sessions"] or [],
                  "count": len(row["sessions"] or [])},
        "window": {"from": _real(row["window_start"]), "to": row["window_end"], "possible": row["w_possible"] or 0,
                   "absences": row["w_absences"] or 0, "unauthorised": row["w_unauthorised"] or 0,
                   "days_missed": None if lessons else (row["w_absences"] or 0) / 2,
                   "lates": row["w_lates"] or 0, "minutes_late": row["w_minutes_late"] or 0},
        "earlier": ({"letter": row["earlier_letter"], "date": row["earlier_date"]} if row.get("earlier_letter") else None),
    }


def _real(day: dt.date | None) -> dt.date | None:
    """Windows open at the start ('all', 'since-stage') carry date.min: no date for a letter."""
    return None if day is None or day.year < 1900 else day


def read_letters(ledger_path, policy: str) -> pl.DataFrame:
    """Letters already written under this policy (empty when there is no ledger yet)."""
    from attendance_cli.ledger import LETTER_SCHEMA, Ledger

    if ledger_path is None or not ledger_path.exists():
        return pl.DataFrame(schema=LETTER_SCHEMA)
    with Ledger(ledger_path, create=False) as ledger:
        return ledger.letters(policy=policy)
