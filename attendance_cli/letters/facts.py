"""What each letter says: the new trigger events that name a letter, the figures behind them, and
who receives them. One `Letter` per event and guardian.

The figures come from the same places as everywhere else: the attendance % and days missed from
`statistics.pupil_statistics` over the school year to the as-of date (exactly what `attendance
summary --window ytd` prints), the sessions from the trigger's evidence, and the arithmetic
(rounding, days missed, the band) from `attendance_cli.figures`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import polars as pl

from attendance_cli.calendar import school_year_label, school_year_start
from attendance_cli.dataset import Dataset
from attendance_cli.figures import (
    ABSENT, absences_expr, absences_of, band_of, days_missed, pct_down, possible_expr, unauthorised_expr,
)
from attendance_cli.calendar import Window
from attendance_cli.ingest import Export
from attendance_cli.letters.model import Letter
from attendance_cli.rules import Policy
from attendance_cli.statistics import pupil_statistics

NO_CONTACT = "Parent or Carer"


def safe_name(text: str) -> str:
    """A file-name part from an id or a letter type: letters, digits and - only (never a raw name). A
    name Windows keeps for devices (CON, PRN, AUX, NUL, COM1, LPT1, ...: a file `CON.pdf` cannot be
    made there) gets a short hash of the id, as a name two ids clean to does (`reports.naming`)."""
    from pathvalidate import is_valid_filename

    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-")[:40] or "x"
    if not is_valid_filename(cleaned, platform="windows"):
        import hashlib

        cleaned = f"{cleaned}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}"
    return cleaned


def gather(found, export: Export, policy: Policy, events: pl.DataFrame, letter_date: dt.date, fmt: str,
           contacts: pl.DataFrame | None, earlier_letters: pl.DataFrame, school: dict[str, Any],
           pupils_file=None) -> list[Letter]:
    """The letters for `events` (the plan's letters: one event per pupil), in pupil order, addressed to
    the recipients the event's ladder names. A pupil with no name is an error, never a blank letter."""
    if events.height == 0:
        return []
    as_of = found.evaluation.as_of
    pupil_ids = events["pupil_id"].unique()
    pupils = _named(found.tally.pupils, pupil_ids, pupils_file)
    year = Window(school_year_start(as_of), as_of, f"school year {school_year_label(school_year_start(as_of))} to date")
    data = found.data if found.data is not None else Dataset(export)
    ytd = pupil_statistics(data.tally(year, attributes=["surname", "forename", "year_group", "form"]))
    ytd = ytd.filter(pl.col("pupil_id").is_in(pupil_ids.implode()))
    compact = data.marks  # the accepted marks the rules saw, between admission and leaving dates
    marks = (compact.frame.filter(pl.col("date").le(as_of))
             .join(compact.pupils.filter(pl.col("pupil_id").is_in(pupil_ids.implode())), on="pupil")
             .join(compact.lookup, on="slot")
             .select("pupil_id", "date", pl.col("session").cast(pl.String), "code", "category", "late",
                     pl.col("minutes_late").cast(pl.Int32))
             .sort("pupil_id", "date", "session"))
    windows = _window_figures(events, marks, policy, found.calendar)
    sessions = _sessions(found.evaluation.evidence, events, marks, _meanings(export))
    earlier = _earlier(events, policy, earlier_letters, school_year_start(as_of))
    since = _since(events, earlier, marks, policy)
    recipients = _recipients(events.select("pupil_id", "ladder").unique(), contacts, fmt, policy, pupils)

    # one letter of a type per pupil per run, even when two rules name it (e.g. a school's own
    # penalty warning and the national one): the first event's letter; both events are recorded
    events = events.unique(["pupil_id", "letter"], keep="first", maintain_order=True)
    rows = (events.join(pupils.drop("email"), on="pupil_id", how="left").join(ytd.drop("surname", "forename", "year_group", "form"),
                                                                  on="pupil_id", how="left")
            .join(windows, on="key", how="left").join(sessions, on="key", how="left").join(earlier, on="key", how="left")
            .join(since, on="key", how="left")
            .join(recipients, on=["pupil_id", "ladder"], how="left").sort("pupil_id", "ladder", "stage", "rule_id", "guardian"))
    out = []
    used: set[str] = set()
    for row in rows.iter_rows(named=True):  # one per letter (hundreds), not per mark
        context = _context(row, found, policy, letter_date, school, year)
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


def selected(policy: Policy) -> pl.Expr:
    """Whether a mark (code, category, late) is one its event's rule counts (rules without a selection:
    absences). Per row, by the row's rule_id."""
    from attendance_cli.rules.marks import selection

    expr = pl.col("category").is_in(list(ABSENT))
    for rule in policy.rules:  # a few rules: one when/then each, evaluated over all marks at once
        codes, categories = getattr(rule, "codes", ()) or (), getattr(rule, "categories", ()) or ()
        late = bool(getattr(rule, "late", False))
        if codes or categories or late:
            expr = pl.when(pl.col("rule_id") == rule.id).then(selection(codes, categories, late)).otherwise(expr)
    return expr


def _window_figures(events: pl.DataFrame, marks: pl.DataFrame, policy: Policy, calendar) -> pl.DataFrame:
    """Per event: sessions possible and missed, lates and minutes lost within the rule's window, the
    marks of the kind the rule counts (`w_counted`), and the window's first school day (a rolling
    window may start in a holiday: a letter says the day the school next met)."""
    inside = events.select("key", "pupil_id", "rule_id", "window_start", "window_end").join(marks, on="pupil_id").filter(
        pl.col("date").is_between(pl.col("window_start"), pl.col("window_end")))
    figures = inside.group_by("key").agg(
        possible_expr().cast(pl.Int64).alias("w_possible"),
        absences_expr().cast(pl.Int64).alias("w_absences"),
        unauthorised_expr().cast(pl.Int64).alias("w_unauthorised"),
        pl.col("late").is_not_null().sum().cast(pl.Int64).alias("w_lates"),
        pl.col("minutes_late").filter(pl.col("late").is_not_null()).sum().cast(pl.Int64).alias("w_minutes_late"),
        selected(policy).sum().cast(pl.Int64).alias("w_counted"),
    )
    days = pl.DataFrame({"w_first_day": sorted(calendar.school_days)}, schema={"w_first_day": pl.Date})
    starts = (events.select("key", "window_start", "window_end").sort("window_start")
              .join_asof(days, left_on="window_start", right_on="w_first_day", strategy="forward")
              .with_columns(pl.when(pl.col("w_first_day") <= pl.col("window_end")).then(pl.col("w_first_day"))
                            .alias("w_first_day")))
    return starts.select("key", "w_first_day").join(figures, on="key", how="left")


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


def _earlier(events: pl.DataFrame, policy: Policy, letters: pl.DataFrame, year_start: dt.date) -> pl.DataFrame:
    """Per event: the latest letter already written this school year on its ladder (any stage: a case
    only goes forward, so that is the letter the family last had about it), or for the rule it follows."""
    follows = {r.id: r.follows for r in policy.rules}
    wanted = events.select("key", "pupil_id", "ladder", "stage", "rule_id").with_columns(
        pl.col("rule_id").replace_strict(follows, default=None, return_dtype=pl.String).alias("_follows"))
    sent = letters.select("pupil_id", pl.col("ladder").alias("_ladder"), pl.col("stage").alias("_stage"),
                          pl.col("rule_id").alias("_rule"), pl.col("letter").alias("earlier_letter"),
                          pl.col("letter_date").alias("earlier_date"))
    matched = wanted.join(sent, on="pupil_id").filter(
        ((pl.col("_rule") == pl.col("_follows")).fill_null(False) | (pl.col("_ladder") == pl.col("ladder")))
        & (pl.col("earlier_date") >= year_start))
    return matched.sort("earlier_date").group_by("key").agg(pl.col("earlier_letter", "earlier_date").last())


def _since(events: pl.DataFrame, earlier: pl.DataFrame, marks: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """Per event with an earlier letter: what happened from that letter's date to the as-of date (the
    marks the letter says were missed "since that letter"): absences, unauthorised, lates, and the
    marks of the kind the rule counts."""
    after = (events.select("key", "pupil_id", "rule_id").join(earlier.select("key", "earlier_date"), on="key")
             .join(marks, on="pupil_id").filter(pl.col("date") >= pl.col("earlier_date")))
    return after.group_by("key").agg(
        absences_expr().cast(pl.Int64).alias("s_absences"),
        unauthorised_expr().cast(pl.Int64).alias("s_unauthorised"),
        pl.col("late").is_not_null().sum().cast(pl.Int64).alias("s_lates"),
        selected(policy).sum().cast(pl.Int64).alias("s_counted"))


def _named(pupils: pl.DataFrame, ids: pl.Series, pupils_file) -> pl.DataFrame:
    """The pupils' names (and e-mail, for letters to students), from the exports, filled in from the
    --pupils file. A pupil left without a forename or surname stops the run: a letter never says
    "Dear ," or "'s attendance"."""
    from attendance_cli.errors import ConfigError

    pupils = pupils.filter(pl.col("pupil_id").is_in(ids.implode()))
    for column in ("surname", "forename", "year_group", "form", "email"):
        if column not in pupils.columns:
            pupils = pupils.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    if pupils_file is not None:
        extra = read_pupils(pupils_file)
        pupils = pupils.join(extra, on="pupil_id", how="left", suffix="_file").with_columns(
            [pl.coalesce(pl.col(c).replace("", None), pl.col(f"{c}_file")).alias(c)
             for c in ("surname", "forename", "email")]).drop("surname_file", "forename_file", "email_file")
    blank = pupils.filter(pl.col("forename").fill_null("").str.strip_chars().eq("")
                          | pl.col("surname").fill_null("").str.strip_chars().eq(""))
    if blank.height:
        missing = "forename" if blank["forename"].fill_null("").str.strip_chars().eq("").any() else "surname"
        shown = ", ".join(blank["pupil_id"].head(5).to_list()) + (f" and {blank.height - 5} more" if blank.height > 5 else "")
        where = f"the exports or {pupils_file}" if pupils_file is not None else "the exports"
        raise ConfigError(f"No {missing} for pupil {shown} in {where}: a letter cannot go out with a blank name; "
                          "nothing was written or recorded.",
                          fix="Give the names with --pupils FILE (a CSV of pupil_id, forename, surname, and email "
                              "for letters to students), or export the name columns from the MIS.")
    return pupils


def read_pupils(path) -> pl.DataFrame:
    """pupil_id, forename, surname, email from a pupils CSV (headers in any case; Student ID, Learner
    ID, First Name, Legal Forename, ... as the exports name them)."""
    from attendance_cli.errors import ConfigError
    from attendance_cli.ingest.encoding import open_text
    from attendance_cli.ingest.headers import is_pupil_id

    decoded = open_text(path)
    try:
        table = pl.read_csv(decoded.data, infer_schema=False, raise_if_empty=False, truncate_ragged_lines=True)
    except pl.exceptions.ComputeError:
        raise ConfigError(f"{path}: not a CSV file this program can read.",
                          fix="Save it again as CSV (comma-separated) from the program it came from.") from None
    key = {h: re.sub(r"[^a-z]", "", h.lower()) for h in table.columns}
    ids = [h for h in table.columns if is_pupil_id(h)]
    names = {"forename": ("forename", "firstname", "legalforename", "preferredforename", "givenname"),
             "surname": ("surname", "lastname", "legalsurname", "familyname"),
             "email": ("email", "emailaddress", "studentemail", "learneremail")}
    if not ids:
        raise ConfigError(f"{path}: no pupil id column (headers seen: {', '.join(table.columns)}).",
                          fix="Name the column pupil_id (or Student ID, Learner ID).")
    chosen = {field: next((h for h in table.columns if key[h] in aliases), None) for field, aliases in names.items()}
    frame = table.with_row_index("line", offset=2).select(
        pl.col("line").cast(pl.Int64), pl.col(ids[0]).str.strip_chars().alias("pupil_id"),
        *[(pl.col(h).str.strip_chars() if h else pl.lit(None, dtype=pl.String)).alias(field)
          for field, h in chosen.items()])
    from attendance_cli.errors import InputError, Problem
    from attendance_cli.letters.contacts import _ADDRESS

    bad = frame.filter(pl.col("email").fill_null("").ne("") & ~pl.col("email").fill_null("").str.contains(_ADDRESS))
    if bad.height:  # checked here, not when the e-mail is built: the run stops before anything is written
        raise InputError(f"{path}: the pupils file has problems; no letter was written.",
                         [Problem(str(path), "not an e-mail address", bad["line"].to_list(), chosen["email"],
                                  bad["email"][0], "one address such as name@example.org", count=bad.height)])
    return frame.drop("line").unique("pupil_id", keep="first")


def _recipients(cases: pl.DataFrame, contacts: pl.DataFrame | None, fmt: str, policy: Policy,
                pupils: pl.DataFrame) -> pl.DataFrame:
    """Per pupil and ladder, who the letter goes to, as the ladder says: `guardians` (every contact with
    parental responsibility who is not an agent), `agent` (a contact whose relationship is an
    education agent), `student` (the pupil, at their own e-mail address). A pupil with none of them
    on file gets one letter for print, addressed to the parent or carer (or to the student)."""
    schema = {"pupil_id": pl.String, "guardian": pl.Int64, "guardian_name": pl.String, "relationship": pl.String,
              "salutation": pl.String, "email": pl.String, "address": pl.List(pl.String)}
    found = (contacts.select(list(schema)).join(cases, on="pupil_id", how="semi") if contacts is not None
             else pl.DataFrame(schema=schema))
    agent = pl.col("relationship").fill_null("").str.to_lowercase().str.contains("agent")
    settings = pl.DataFrame([{"ladder": name, "guardians": "guardians" in policy.ladder_of(name).recipients,
                              "agent": "agent" in policy.ladder_of(name).recipients,
                              "student": "student" in policy.ladder_of(name).recipients,
                              "by_email": policy.ladder_of(name).channel == "email"}
                             for name in cases["ladder"].unique().to_list()],
                            schema={"ladder": pl.String, "guardians": pl.Boolean, "agent": pl.Boolean,
                                    "student": pl.Boolean, "by_email": pl.Boolean})
    cases = cases.join(settings, on="ladder", how="left")
    contacts_for = cases.join(found, on="pupil_id").filter((pl.col("guardians") & ~agent) | (pl.col("agent") & agent))
    student = cases.filter(pl.col("student")).join(pupils.select("pupil_id", "forename", "surname", "email"),
                                                   on="pupil_id", how="left").select(
        "pupil_id", "ladder", "guardians", "agent", "student", "by_email",
        pl.lit(-1, dtype=pl.Int64).alias("guardian"),
        pl.concat_str("forename", "surname", separator=" ").alias("guardian_name"),
        pl.lit("Student").alias("relationship"), pl.col("forename").alias("salutation"), pl.col("email").replace("", None),
        pl.lit([], dtype=pl.List(pl.String)).alias("address"))
    named = pl.concat([contacts_for.select(student.columns), student])
    missing = cases.join(named, on=["pupil_id", "ladder"], how="anti").with_columns(
        pl.lit(0, dtype=pl.Int64).alias("guardian"), *[pl.lit(None, dtype=schema[c]).alias(c) for c in list(schema)[2:]])
    both = pl.concat([named, missing.select(named.columns)])
    email = (pl.lit(fmt == "eml") | pl.col("by_email")) & pl.col("email").is_not_null()
    return both.with_columns(
        pl.when(pl.col("guardian") == -1).then(0).otherwise(pl.col("guardian")).alias("guardian"),
        pl.when(email).then(pl.lit("email")).otherwise(pl.lit("post")).alias("channel"),
        (pl.col("guardian") == -1).alias("to_student")).drop("guardians", "agent", "student", "by_email")


def _band(attended: int, possible: int, policy: Policy) -> dict[str, str] | None:
    """The policy's band for the attendance (figures.band_of: exact), or None (no bands, no possible session)."""
    band = band_of(attended, possible, policy.bands)
    return None if band is None else {"name": band.name, "explanation": band.explanation}


def _context(row: dict[str, Any], found, policy: Policy, letter_date: dt.date, school: dict[str, Any],
             year: Window) -> dict[str, Any]:
    """The names a letter template may use (listed by `attendance templates show --names`)."""
    possible = row["possible_sessions"] or 0
    attended = row["attended_sessions"] or 0
    absences = absences_of(row["authorised_absences"], row["unauthorised_absences"])
    lessons = found.tally.export.shape == "lessons"
    percent = pct_down(attended, possible)
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
                      "on_file": bool(row["guardian"]) or bool(row["to_student"]), "student": bool(row["to_student"])},
        "attendance": {"percent": percent, "possible": possible, "attended": attended, "absences": absences,
                       "authorised": row["authorised_absences"] or 0, "unauthorised": row["unauthorised_absences"] or 0,
                       "days_missed": days_missed(absences, lessons), "lessons": lessons,
                       "lates": (row["late_before_close"] or 0) + (row["late_after_close"] or 0),
                       "minutes_late": row["minutes_late"] or 0, "from": year.start, "to": year.end,
                       "persistent_absence": bool(row["persistent_absence"]), "severe_absence": bool(row["severe_absence"]),
                       "band": _band(attended, possible, policy)},
        "event": {"rule_id": row["rule_id"], "letter": row["letter"], "ladder": row["ladder"], "stage": row["stage"],
                  "description": row["description"], "value": row["value"], "threshold": row["threshold"],
                  "measure": row["measure"], "window_start": _real(row["window_start"]), "window_end": row["window_end"],
                  "first_met_on": row["first_met_on"], "sessions": row["sessions"] or [],
                  "count": len(row["sessions"] or [])},
        "window": {"from": row["w_first_day"], "to": row["window_end"], "possible": row["w_possible"] or 0,
                   "counted": row["w_counted"] or 0,
                   "absences": row["w_absences"] or 0, "unauthorised": row["w_unauthorised"] or 0,
                   "days_missed": days_missed(row["w_absences"] or 0, lessons),
                   "lates": row["w_lates"] or 0, "minutes_late": row["w_minutes_late"] or 0},
        # the other events of this run this letter covers (the ladder's `covers`), as the policy describes them
        "also": list(row.get("also") or []),
        "earlier": ({"letter": row["earlier_letter"], "date": row["earlier_date"]} if row.get("earlier_letter") else None),
        # from the earlier letter's date to the as-of date (None without an earlier letter)
        "since": ({"date": row["earlier_date"], "absences": row["s_absences"] or 0,
                   "unauthorised": row["s_unauthorised"] or 0, "lates": row["s_lates"] or 0,
                   "counted": row["s_counted"] or 0,
                   "days_missed": days_missed(row["s_absences"] or 0, lessons)}
                  if row.get("earlier_letter") else None),
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
