"""Decisions on requests: made one at a time (`requests decide`) or read from a decisions file, with
the sessions granted worked out from the school's days, and the letters that tell the family.

A grant covers every session asked for; a partial grant the days a person chose (`--from/--to`
inside the request, or its first `--days N` school days); a decline none. The codes the school
should enter are the policy's: `code` for the sessions granted, `declined_code` for the rest,
should the pupil be away anyway. Both are in the letter and in the manifest.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import polars as pl

from attendance_cli.errors import InputError, Problem
from attendance_cli.ledger.requests import DECISION_SCHEMA
from attendance_cli.rules.policy import Ladder, Policy, Requests

#: How a decision may be written in a decisions file or on the command line.
DECISION_WORDS = {"grant": "grant", "granted": "grant", "authorise": "grant", "authorised": "grant",
                  "authorize": "grant", "authorized": "grant", "yes": "grant",
                  "partial": "partial", "partly": "partial", "partlygranted": "partial", "partiallygranted": "partial",
                  "decline": "decline", "declined": "decline", "refuse": "decline", "refused": "decline",
                  "no": "decline", "notauthorised": "decline", "notauthorized": "decline"}


@dataclass(frozen=True)
class Choice:
    """What a person decided about one request."""

    request_id: str
    decision: str  # grant, partial or decline
    reason: str
    decided_on: dt.date
    decided_by: str = ""
    granted_from: dt.date | None = None  # partial: the days granted
    granted_to: dt.date | None = None
    days: float | None = None  # partial: the first N school days of the request
    source: str = "command"
    line: int | None = None  # the decisions file's line
    declined_code: str | None = None  # instead of the policy's (O for a funeral the policy's G would call a holiday)


def decide(choices: list[Choice], requests: pl.DataFrame, days: pl.DataFrame, policy: Requests, lessons: bool,
           origin: str = "the command line", table=None, today: dt.date | None = None) -> pl.DataFrame:
    """The decisions to record (`DECISION_SCHEMA`), checked against the requests they decide.
    `days`: `triage.request_days` of the requests; `table`: the code table (a declined code must be
    one of its unauthorised codes). Every problem is reported at once.

    A decision keeps the sessions it decided, each with the code the school will enter (`days`, JSON),
    so its letter says exactly what was decided even if the requests file or the calendar changes."""
    problems: list[Problem] = []
    rows = []
    today = today or dt.date.today()
    chosen = requests.filter(pl.col("request_id").is_in([c.request_id for c in choices]))
    known = {r["request_id"]: r for r in chosen.iter_rows(named=True)}  # the requests decided (a few)
    for choice in choices:  # decisions are made by people: tens, not thousands
        request = known.get(choice.request_id)
        lines = [choice.line] if choice.line is not None else []

        def problem(reason: str, column: str | None, value: str | None, expected: str, fix: str | None = None) -> None:
            problems.append(Problem(origin, reason, lines, column, value, expected, fix))

        if request is None:
            problem("no request with this id in the requests files", "request_id", choice.request_id,
                    "the id `attendance requests` lists for the request")
            continue
        mine = days.filter(pl.col("request_id") == choice.request_id).sort("date")
        if not mine["known"].all():
            guessed = mine.filter(~pl.col("known"))["date"]
            problem(f"the school days of {choice.request_id} from {guessed.min():%d/%m/%Y} are not known (no calendar "
                    "covers them)", "request_id", choice.request_id, "a request whose school days are known",
                    "Give the school's calendar with --calendar (or the registers with --exports), so holidays are "
                    "not counted as days granted or declined.")
            continue
        if choice.decided_on > today:
            problem("decided on a day still to come", "decided_on", f"{choice.decided_on:%d/%m/%Y}",
                    "today or a day before")
            continue
        if request["received"] is not None and choice.decided_on < request["received"]:
            problem(f"decided before the request was received ({request['received']:%d/%m/%Y})", "decided_on",
                    f"{choice.decided_on:%d/%m/%Y}", "a day on or after the request came in")
            continue
        asked = int(mine["n"].sum())
        school_days = mine["date"].unique().sort()
        granted_from, granted_to = choice.granted_from, choice.granted_to
        if choice.decision == "grant":
            granted_from, granted_to = request["date_from"], request["date_to"]
        elif choice.decision == "decline":
            granted_from = granted_to = None
        else:
            if choice.days is not None:
                whole = choice.days == int(choice.days)
                if not whole or not 1 <= choice.days < school_days.len():
                    problem(f"--days {choice.days:g}: {choice.request_id} covers {school_days.len()} school "
                            f"day{'s' if school_days.len() != 1 else ''}", "days", f"{choice.days:g}",
                            f"a whole number of school days from 1 to {school_days.len() - 1}, the first days of the "
                            "request granted")
                    continue
                granted_from, granted_to = request["date_from"], school_days[int(choice.days) - 1]
            if granted_from is None or granted_to is None:
                problem("a partial grant needs the days granted", "decision", "partial",
                        "the first and last day granted (--from and --to, or a decisions file's from and to columns) "
                        "or how many school days from the start (--days, or a days column)")
                continue
            if granted_from < request["date_from"] or granted_to > request["date_to"] or granted_to < granted_from:
                problem(f"days granted {granted_from:%d/%m/%Y}–{granted_to:%d/%m/%Y} are not inside the request "
                        f"({request['date_from']:%d/%m/%Y}–{request['date_to']:%d/%m/%Y})", "from", None,
                        "days inside the request")
                continue
        inside = (pl.col("date").is_between(granted_from, granted_to) if granted_from is not None
                  else pl.lit(False))
        granted = int(mine.filter(inside)["n"].sum())
        if choice.decision == "partial" and (granted == 0 or granted >= asked):
            problem(f"a partial grant of {granted} of {asked} sessions: "
                    + ("none granted (decline it)" if granted == 0 else "all granted (grant it)"), "decision",
                    "partial", "some but not all of the sessions asked for")
            continue
        if not choice.reason.strip():
            problem("no reason given for the decision", "reason", None, "the reason, as the letter will give it")
            continue
        route = policy.route_of(request["type"])
        declined_code = choice.declined_code or route.declined_code
        if table is not None and choice.declined_code is not None:
            code = table.any_code_for(choice.declined_code)
            if code is None or code.category != "unauthorised":
                what = "not a code of the table" if code is None else f"a {code.category} code ({code.meaning})"
                problem(f"--declined-code {choice.declined_code}: {what}", "declined_code", choice.declined_code,
                        "an unauthorised absence code such as O or G, entered if the pupil is away anyway")
                continue
        coded = mine.with_columns(pl.when(inside).then(pl.lit(route.code)).otherwise(pl.lit(declined_code))
                                  .alias("code"))
        rows.append({
            "request_id": request["request_id"], "pupil_id": request["pupil_id"], "type": request["type"],
            "date_from": request["date_from"], "date_to": request["date_to"], "sessions": request["sessions"],
            "decision": choice.decision, "asked_sessions": asked, "granted_sessions": granted,
            "granted_from": granted_from, "granted_to": granted_to, "code": route.code,
            "declined_code": declined_code, "reason": choice.reason.strip(),
            "decided_by": choice.decided_by or route.decided_by, "decided_on": choice.decided_on,
            "source": choice.source, "days": _days_json(coded, request["sessions"], lessons)})
    ids = [c.request_id for c in choices]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    for request_id in twice:
        lines = [c.line for c in choices if c.request_id == request_id and c.line is not None]
        problems.append(Problem(origin, "request decided twice", lines, "request_id", request_id,
                                "one decision per request"))
    if problems:
        raise InputError("The decisions cannot be recorded as they stand; nothing was recorded.", problems)
    return pl.DataFrame(rows, schema=DECISION_SCHEMA, orient="row")


def _days_json(coded: pl.DataFrame, sessions: str, lessons: bool) -> str:
    """The sessions a decision covers, each with its code: [["2026-12-14", "AM", "C"], ...] (for lesson
    registers, the day with the lessons asked for)."""
    import json

    out = []
    for day, code in zip(coded["date"].to_list(), coded["code"].to_list()):  # the days of one request
        parts = [sessions or "all lessons"] if lessons else (["AM", "PM"] if sessions == "all" else [sessions])
        out += [[day.isoformat(), part, code] for part in parts]
    return json.dumps(out)


def read_decisions(path: Path, default_date: dt.date) -> list[Choice]:
    """A decisions CSV: request_id, decision (grant, partial, decline), reason, and for a partial grant
    from and to (or days); optional decided_by and decided_on (default: today)."""
    from attendance_cli.errors import ConfigError
    from attendance_cli.ingest.dates import parse_date
    from attendance_cli.ingest.encoding import open_text
    from attendance_cli.ingest.headers import normalise

    decoded = open_text(path)
    table = pl.read_csv(decoded.data, infer_schema=False, raise_if_empty=False, separator=decoded.separator)
    names = {"requestid": "request_id", "request": "request_id", "reference": "request_id", "ref": "request_id",
             "decision": "decision", "outcome": "decision", "reason": "reason", "note": "reason", "from": "from",
             "grantedfrom": "from", "to": "to", "grantedto": "to", "days": "days", "decidedby": "decided_by",
             "by": "decided_by", "decidedon": "decided_on", "date": "decided_on", "declinedcode": "declined_code",
             "code": "declined_code"}
    columns = {names[normalise(h)]: h for h in table.columns if normalise(h) in names}
    missing = [f for f in ("request_id", "decision", "reason") if f not in columns]
    if missing:
        raise ConfigError(f"{path}: no {', '.join(missing)} column (headers seen: {', '.join(table.columns)}).",
                          fix="A decisions file has the columns request_id, decision, reason, and for a partial "
                              "grant from and to (or days); decided_by and decided_on are optional.")
    choices, problems = [], []
    for line, row in enumerate(table.iter_rows(named=True), start=2):  # a person's decisions: tens of rows
        value = {f: (row[h] or "").strip() for f, h in columns.items()}
        if not any(value.values()):
            continue
        decision = DECISION_WORDS.get(normalise(value["decision"]).replace("/", ""))
        if decision is None:
            problems.append(Problem(str(path), "not a decision", [line], columns["decision"], value["decision"],
                                    "grant, partial or decline"))
            continue
        dates = {}
        for key in ("from", "to", "decided_on"):
            text = value.get(key, "")
            dates[key] = parse_date(text) if text else None
            if text and dates[key] is None:
                problems.append(Problem(str(path), "not a day-first date", [line], columns[key], text,
                                        "a date such as 14/01/2027"))
        days = None
        if value.get("days"):
            try:
                days = float(value["days"])
            except ValueError:
                problems.append(Problem(str(path), "not a number of days", [line], columns["days"], value["days"],
                                        "a number such as 2 or 1.5"))
        choices.append(Choice(value["request_id"], decision, value["reason"], dates["decided_on"] or default_date,
                              value.get("decided_by", ""), dates["from"], dates["to"], days, str(path), line,
                              value.get("declined_code") or None))
    if problems:
        raise InputError(f"{path}: the decisions file has problems; nothing was recorded.", problems)
    return choices


# -- letters ------------------------------------------------------------------------------------------


def letter_of(decision: str, route) -> str | None:
    return {"grant": route.grant_letter, "partial": route.partial_letter, "decline": route.decline_letter}[decision]


def decision_letters(decisions: pl.DataFrame, policy: Policy, data, letter_date: dt.date,
                     fmt: str, contacts: pl.DataFrame | None, school: dict[str, Any], meanings: dict[str, str],
                     pupils_file=None) -> list:
    """One `Letter` per decision whose type names a letter, and recipient, in pupil order. The figures
    (attendance to date) are those every letter gives (`statistics.pupil_statistics`, school year to
    the registers' last date)."""
    from attendance_cli.calendar import Window, school_year_label, school_year_start
    from attendance_cli.letters.facts import _named, _recipients, safe_name
    from attendance_cli.letters.model import Letter
    from attendance_cli.statistics import pupil_statistics

    requests = policy.requests
    assert requests is not None
    letters = pl.DataFrame([{"type": r.type, "decision": d, "letter": letter_of(d, r)} for r in requests.route
                            for d in ("grant", "partial", "decline")],
                           schema={"type": pl.String, "decision": pl.String, "letter": pl.String})
    named = decisions.join(letters, on=["type", "decision"], how="left").filter(pl.col("letter").is_not_null())
    if named.height == 0:
        return []
    _, last = data.calendar()
    as_of = last or letter_date
    year = Window(school_year_start(as_of), as_of, f"school year {school_year_label(school_year_start(as_of))} to date")
    ids = named["pupil_id"].unique()
    pupils = _named(data.checked.pupils, ids, pupils_file)
    missing = sorted(set(ids.to_list()) - set(pupils["pupil_id"].to_list()))
    if missing:  # a letter never goes out with a blank name
        from attendance_cli.errors import ConfigError

        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ConfigError(f"Pupil {shown}, whose request was decided, is not in the registers given (--exports) "
                          f"{'or the pupils file ' if pupils_file else ''}: a letter cannot go out without the "
                          "pupil's name; nothing was written or recorded.",
                          fix="Give the registers that hold the pupil (or their names with --pupils FILE), or "
                              "correct the pupil id in the requests file.")
    ytd = pupil_statistics(data.tally(year, attributes=["surname", "forename", "year_group", "form"]))
    ytd = ytd.filter(pl.col("pupil_id").is_in(ids.implode()))
    ladder = Ladder(name="requests", recipients=tuple(r for r in requests.recipients),
                    channel=requests.channel)
    recipients = _recipients(named.select("pupil_id", pl.lit("requests").alias("ladder")).unique(), contacts, fmt,
                             SimpleNamespace(ladder_of=lambda name: ladder), pupils)
    rows = (named.with_row_index("key").join(pupils.drop("email"), on="pupil_id", how="left")
            .join(ytd.drop("surname", "forename", "year_group", "form"), on="pupil_id", how="left")
            .join(recipients.drop("ladder"), on="pupil_id", how="left")
            .sort("pupil_id", "date_from", "request_id", "guardian"))
    sessions = _sessions(named, meanings)
    out = []
    for row in rows.iter_rows(named=True):  # one per letter (tens), not per mark
        context = _context(row, sessions.get(row["request_id"], []), policy, requests, letter_date, as_of, school,
                           year, data.lessons, meanings)
        stem = (f"{letter_date:%Y-%m-%d}_{safe_name(row['pupil_id'])}_{safe_name(row['letter'])}_"
                f"{safe_name(row['request_id'])}" + (f"_g{row['guardian']}" if row["guardian"] else ""))
        out.append(Letter(int(row["key"]), row["pupil_id"], row["letter"], "request", 1, row["guardian"],
                          context["recipient"]["name"], row["channel"], row["email"], tuple(row["address"] or ()),
                          stem, context))
    return out


def _sessions(decisions: pl.DataFrame, meanings: dict[str, str]) -> dict[str, list]:
    """Per request: each session decided, with the code the school will enter for it, as recorded."""
    import json

    out: dict[str, list] = {}
    for request_id, days in zip(decisions["request_id"].to_list(), decisions["days"].to_list()):  # tens of decisions
        out[request_id] = [{"date": dt.date.fromisoformat(day), "session": part, "code": code,
                            "meaning": meanings.get(code, ""), "minutes_late": None}
                           for day, part, code in json.loads(days or "[]")]
    return out


TYPE_TEXT = {"illness": "illness", "appointment": "a medical or dental appointment",
             "exceptional": "exceptional circumstances", "religious": "religious observance", "other": "another reason"}


def _context(row: dict[str, Any], sessions: list, policy: Policy, requests: Requests, letter_date: dt.date,
             as_of: dt.date, school: dict[str, Any], year, lessons: bool, meanings: dict[str, str]) -> dict[str, Any]:
    from attendance_cli.figures import absences_of, days_missed, pct_down
    from attendance_cli.letters.facts import NO_CONTACT, _band

    possible, attended = row["possible_sessions"] or 0, row["attended_sessions"] or 0
    absences = absences_of(row["authorised_absences"], row["unauthorised_absences"])
    forename, surname = row.get("forename") or "", row.get("surname") or ""
    full = " ".join(p for p in (forename, surname) if p) or row["pupil_id"]
    name = row["guardian_name"]
    per_day = 1 if lessons else 2
    route = requests.route_of(row["type"])
    return {
        "school": school,
        "policy": {"name": policy.name, "title": policy.title or policy.name},
        "date": letter_date,
        "as_of": as_of,
        "pupil": {"id": row["pupil_id"], "forename": forename, "surname": surname, "name": full,
                  "year_group": row.get("year_group") or "", "form": row.get("form") or ""},
        "recipient": {"name": name or f"The {NO_CONTACT} of {full}", "salutation": row["salutation"] or name or NO_CONTACT,
                      "relationship": row["relationship"] or "", "address": list(row["address"] or []),
                      "email": row["email"] or "", "channel": row["channel"],
                      "on_file": bool(row["guardian"]) or bool(row["to_student"]), "student": bool(row["to_student"])},
        "attendance": {"percent": pct_down(attended, possible), "possible": possible, "attended": attended,
                       "absences": absences, "authorised": row["authorised_absences"] or 0,
                       "unauthorised": row["unauthorised_absences"] or 0, "days_missed": days_missed(absences, lessons),
                       "lessons": lessons, "lates": (row["late_before_close"] or 0) + (row["late_after_close"] or 0),
                       "minutes_late": row["minutes_late"] or 0, "from": year.start, "to": year.end,
                       "persistent_absence": bool(row["persistent_absence"]),
                       "severe_absence": bool(row["severe_absence"]), "band": _band(attended, possible, policy)},
        "event": {"rule_id": "request", "letter": row["letter"], "ladder": "requests", "stage": 1,
                  "description": f"Request {row['request_id']}", "value": "", "threshold": "", "measure": "",
                  "window_start": row["date_from"], "window_end": row["date_to"], "first_met_on": row["decided_on"],
                  "sessions": sessions, "count": len(sessions)},
        "window": {"from": row["date_from"], "to": row["date_to"], "possible": 0, "counted": 0, "absences": 0,
                   "unauthorised": 0, "days_missed": None, "lates": 0, "minutes_late": 0},
        "also": [], "earlier": None, "since": None,
        "request": {"id": row["request_id"], "type": row["type"], "type_text": TYPE_TEXT[row["type"]],
                    "from": row["date_from"], "to": row["date_to"], "decision": row["decision"],
                    "asked_sessions": row["asked_sessions"], "asked_days": row["asked_sessions"] / per_day,
                    "granted_sessions": row["granted_sessions"], "granted_days": row["granted_sessions"] / per_day,
                    "declined_days": (row["asked_sessions"] - row["granted_sessions"]) / per_day,
                    "granted_from": row["granted_from"], "granted_to": row["granted_to"],
                    "code": row["code"], "code_meaning": meanings.get(row["code"], ""),
                    "declined_code": row["declined_code"], "declined_meaning": meanings.get(row["declined_code"], ""),
                    "reason": row["reason"], "decided_on": row["decided_on"], "decided_by": row["decided_by"],
                    "evidence": route.evidence, "lessons": lessons},
    }

