"""`requests`: absence and leave requests triaged by the policy; decisions recorded; decision letters.

    found = requests(RequestsOptions(settings, files=[Path("requests.csv")]), data)
    found.table          # one row per request: route, counts, attendance now and after, review flag
    recorded = decide_requests(found, [Choice("R1", "grant", "A family wedding abroad", today)])
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attendance_cli.errors import ConfigError

if TYPE_CHECKING:
    import polars as pl

    from attendance_cli.dataset import Dataset
    from attendance_cli.ledger.requests import DecisionsRecorded
    from attendance_cli.requests.decisions import Choice
    from attendance_cli.requests.read import RequestsRead
    from attendance_cli.requests.triage import Calendar
    from attendance_cli.rules.triggers import PolicySettings


@dataclass(frozen=True)
class RequestsOptions:
    settings: PolicySettings  # the policy (its [requests]), calendar file, ledger, code table
    files: tuple[Path, ...]  # the requests files
    as_of: dt.date | None = None  # requests counted up to this day (default: today)
    maps: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None


@dataclass
class RequestsFound:
    """The requests read and triaged, with what was needed to work it out (for decisions and letters)."""

    options: RequestsOptions
    read: RequestsRead
    table: pl.DataFrame  # requests.triage.COLUMNS
    days: pl.DataFrame  # the school days each request covers (triage.request_days)
    calendar: Calendar
    as_of: dt.date
    lessons: bool
    data: Dataset | None
    notes: list[str]

    @property
    def stamp(self) -> dict[str, object]:
        """The day requests are counted up to, as a column of the output (outputs.write_frame)."""
        return {"as_of": self.as_of}


def requests(options: RequestsOptions, data: Dataset | None = None) -> RequestsFound:
    import polars as pl

    from attendance_cli.requests.read import read_requests
    from attendance_cli.requests.triage import request_days, triage

    policy = options.settings.policy
    if policy.requests is None:
        raise ConfigError(f"The policy {policy.name} says nothing about absence requests.",
                          fix="Add a [requests] table with a [[requests.route]] for each type (illness, appointment, "
                              "exceptional, religious, other), as the README's 'Absence and leave requests' shows, or "
                              "use a policy that has one (dfe-national, primary-academy, university).")
    from attendance_cli.codes import load_code_table
    from attendance_cli.rules.policy import check_codes

    check_codes(policy, load_code_table(options.settings.codes), policy.name)
    read = read_requests(list(options.files), options.maps, options.encoding)
    notes = list(read.notes)
    lessons = data.lessons if data is not None else policy.register_type == "lesson"
    calendar, last = _calendar(data, options.settings.calendar_file)
    as_of = options.as_of or dt.date.today()  # requests are counted up to today; attendance up to the registers' end
    days = request_days(read.table, calendar, lessons)
    attendance = pupils = None
    if data is not None:
        from attendance_cli.calendar import Window, school_year_start
        from attendance_cli.statistics import pupil_statistics

        end = min(as_of, last) if last is not None else as_of
        stats = pupil_statistics(data.tally(Window(school_year_start(as_of), end, "school year to date"),
                                            attributes=["surname", "forename", "year_group", "form"]))
        attendance = stats.select("pupil_id", pl.col("possible_sessions").alias("possible"),
                                  pl.col("attended_sessions").alias("attended"))
        pupils = stats.select("pupil_id", "surname", "forename", "form")
        unknown = read.table.join(stats.select("pupil_id"), on="pupil_id", how="anti")
        if unknown.height:
            notes.append(f"{unknown['pupil_id'].n_unique()} pupil id(s) in the requests are not in the registers this "
                         f"school year (first: {unknown['pupil_id'][0]}, {unknown['file'][0]} line {unknown['line'][0]}): "
                         "their attendance is blank.")
    else:
        notes.append("No registers given (--exports): attendance now and after are blank, and days are counted "
                     + ("from the calendar file." if options.settings.calendar_file else "as weekdays."))
    if lessons:
        notes.append("Lesson registers: a day asked for is not a known number of lessons, so the sessions asked are "
                     "counted in school days and attendance_after is left blank.")
    undated = read.table.filter(pl.col("received").is_null())
    if undated.height:
        notes.append(f"{undated.height} request(s) have no received date (first: {undated['request_id'][0]}): they are "
                     "counted by their first day in requests_this_year and requests_recent.")
    table = triage(read.table, policy.requests, calendar, as_of, lessons=lessons, attendance=attendance,
                   pupils=pupils, decided=_decided(options.settings.ledger))
    return RequestsFound(options, read, table, days, calendar, as_of, lessons, data, notes)


def _calendar(data: Dataset | None, calendar_file: Path | None) -> tuple[Calendar, dt.date | None]:
    from attendance_cli.requests.triage import Calendar

    if data is not None:
        school, last = data.calendar(calendar_file)
    elif calendar_file is not None:
        from attendance_cli.calendar.school import load_calendar

        school, last = load_calendar(calendar_file), None
    else:
        return Calendar(), None
    return Calendar(tuple(school.school_days), last, tuple((h.start, h.end) for h in school.half_terms)), last


def _decided(ledger: Path) -> pl.DataFrame:
    import polars as pl

    from attendance_cli.ledger import DECISION_SCHEMA, Ledger

    if not ledger.exists():
        return pl.DataFrame(schema=DECISION_SCHEMA)
    with Ledger(ledger, create=False) as opened:
        return opened.decisions()


def decide_requests(found: RequestsFound, choices: list[Choice], wait: float = 30.0,
                    origin: str = "the command line") -> tuple[DecisionsRecorded, pl.DataFrame]:
    """Record decisions on requests in the ledger, all or none. Returns what was recorded and the
    decisions (with the sessions granted and the codes to enter)."""
    from attendance_cli.ledger import Ledger
    from attendance_cli.requests.decisions import decide

    policy = found.options.settings.policy
    assert policy.requests is not None
    from attendance_cli.codes import load_code_table

    table = load_code_table(found.options.settings.codes)
    frame = decide(choices, found.read.table, found.days, policy.requests, found.lessons, origin, table)
    with Ledger(found.options.settings.ledger, wait=wait) as ledger:
        return ledger.record_decisions(frame), frame


def letters_due(found: RequestsFound, letter_date: dt.date, fmt: str, contacts, school: dict[str, Any],
                pupils_file: Path | None = None) -> list:
    """The letters on the decisions recorded for these requests that have not been written yet."""
    import polars as pl

    from attendance_cli.ledger import Ledger
    from attendance_cli.requests.decisions import decision_letters

    ledger_path = found.options.settings.ledger
    if not ledger_path.exists() or found.data is None:
        return []
    with Ledger(ledger_path, create=False) as ledger:
        decisions, written = ledger.decisions(), ledger.decision_letters()
    decisions = decisions.filter(pl.col("request_id").is_in(found.read.table["request_id"].implode())
                                 & ~pl.col("request_id").is_in(written["request_id"].implode()))
    _same_requests(decisions, found.read.table)
    meanings = {code.code: code.meaning for code in found.data.export.slots.codes.codes}
    return decision_letters(decisions, found.options.settings.policy, found.data, letter_date, fmt, contacts, school,
                            meanings, pupils_file)


def _same_requests(decisions: pl.DataFrame, requests: pl.DataFrame) -> None:
    """A decision is for the request it was made on: an id the requests file now uses for another
    request (another pupil, other dates) is an error, never a letter to the wrong family."""
    from attendance_cli.ledger.requests import FACTS, first_unlike, request_words

    both = decisions.join(requests.select("request_id", *FACTS, "file", "line"), on="request_id", suffix="_file")
    row = first_unlike(both, FACTS, "_file")
    if row is not None:
        raise ConfigError(
            f"{row['file']}, line {row['line']}: request {row['request_id']} is {request_words(row, '_file')}, but "
            f"the decision recorded under that id is for {request_words(row)}; nothing was written.",
            fix="Correct the request in the file (or give the file the decision was made on): a request's id is "
                "never used for another request.")
