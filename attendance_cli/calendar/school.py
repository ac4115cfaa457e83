"""The school calendar: school days, school weeks, half terms, terms, and named windows.

Inferred from the data (a day is a school day if at least one pupil has a mark on it that is not
a closure code such as `#`; a full Monday–Friday week without school days separates half terms),
or read from a calendar file the school provides. Terms follow the DfE census convention by
date: autumn from August to December, spring from January to Easter Sunday, summer after.
"""

from __future__ import annotations

import csv
import io
import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path

from attendance_cli.errors import ConfigError, UsageError
from attendance_cli.ingest.dates import format_date, parse_date
from attendance_cli.calendar.windows import WINDOWS, Window

TERMS = ("autumn", "spring", "summer")


@dataclass(frozen=True)
class HalfTerm:
    name: str  # "Autumn 1"
    term: str  # "autumn"
    school_year: str  # "2025/26"
    start: dt.date
    end: dt.date

    def describe(self) -> str:
        return f"{self.name} {self.school_year} ({format_date(self.start)} to {format_date(self.end)})"


@dataclass(frozen=True)
class SchoolCalendar:
    """Half terms plus the days on which the school met."""

    half_terms: tuple[HalfTerm, ...]
    school_days: tuple[dt.date, ...]
    source: str  # "inferred from the data" or the calendar file's path

    def school_weeks(self, start: dt.date | None = None, end: dt.date | None = None) -> list[dt.date]:
        """Mondays of the weeks (Monday–Sunday) in which the school met at least once."""
        mondays = sorted({d - dt.timedelta(days=d.weekday()) for d in self.school_days})
        return [m for m in mondays if (start is None or m + dt.timedelta(days=6) >= start) and (end is None or m <= end)]

    def half_term_at(self, day: dt.date) -> HalfTerm | None:
        """The half term containing `day`, or during a holiday the one that ended last."""
        before = [h for h in self.half_terms if h.start <= day]
        return before[-1] if before else None

    def window(self, name: str, as_of: dt.date) -> Window:
        """A named window, current as of `as_of` (windows never extend past it, except `year`).

        week: Monday of as-of's week to as-of. last-week: the latest school week whose Friday is on
        or before as-of. half-term, term: the one containing as-of (in a holiday, the one just
        ended), up to as-of. ytd: 1 August to as-of. year: the whole school year, August to July.
        """
        if name == "week":
            monday = as_of - dt.timedelta(days=as_of.weekday())
            return Window(monday, as_of, f"week of {format_date(monday)}")
        if name == "last-week":
            # the latest complete school week: its Friday is on or before the as-of date, so a
            # Monday run on data up to Friday reports the week just finished
            done = [m for m in self.school_weeks() if m + dt.timedelta(days=4) <= as_of]
            if not done:
                raise UsageError(f"There is no complete school week on or before {format_date(as_of)} in the data.")
            monday = done[-1]
            return Window(monday, monday + dt.timedelta(days=6), f"school week of {format_date(monday)}")
        if name in ("half-term", "term"):
            half = self.half_term_at(as_of)
            if half is None:
                raise UsageError(f"No half term starts on or before {format_date(as_of)}.",
                                 fix="Check --as-of, or give the school's calendar with --calendar FILE.")
            # a calendar file that stops long before the as-of date (it holds only Autumn 1): refused, not
            # taken to mean that half term (dates past the data's own end are refused where they are used)
            if self.source != "inferred from the data" and (as_of - half.end).days > LONGEST_HOLIDAY_DAYS:
                where = "the calendar file " + self.source
                raise UsageError(f"The last half term in {where} is {half.name} {half.school_year}, which ended on "
                                 f"{format_date(half.end)}: {format_date(as_of)} is long after it, so there is no "
                                 f"{name} as of that date.",
                                 fix="Give a calendar file with the school year's half terms (--calendar), or an "
                                     "--as-of inside them.")
            if name == "half-term":
                return Window(half.start, min(half.end, as_of), f"half term {half.name} {half.school_year}")
            same = [h for h in self.half_terms if h.term == half.term and h.school_year == half.school_year]
            return Window(same[0].start, min(same[-1].end, as_of), f"{half.term} term {half.school_year}")
        if name in ("ytd", "year"):
            first = school_year_start(as_of)
            label = school_year_label(first)
            if name == "ytd":
                return Window(first, as_of, f"school year {label} to date")
            return Window(first, dt.date(first.year + 1, 7, 31), f"school year {label}")
        raise UsageError(f"Unknown window {name!r}.", fix=f"Use one of: {', '.join(WINDOWS)}.")


#: The summer holiday, the longest gap between half terms, is at most about seven weeks.
LONGEST_HOLIDAY_DAYS = 50


def school_year_start(day: dt.date) -> dt.date:
    """1 August of the school year containing `day` (the DfE census year runs August to July)."""
    return dt.date(day.year if day.month >= 8 else day.year - 1, 8, 1)


def school_year_label(start: dt.date) -> str:
    return f"{start.year}/{(start.year + 1) % 100:02d}"


def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month = (h + el - 7 * m + 114) // 31
    day = (h + el - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day)


def term_of(day: dt.date) -> str:
    """autumn (Aug–Dec), spring (Jan to Easter Sunday), summer (after Easter Sunday)."""
    if day.month >= 8:
        return "autumn"
    return "spring" if day <= easter_sunday(day.year) else "summer"


def infer_calendar(school_days: list[dt.date]) -> SchoolCalendar:
    """Half terms from the days the school met: a whole Monday–Friday week with no school day
    between two school days ends a half term. Each is named by its dates (`half_term_number`), so an
    export that starts in the second half of a term still calls it the second."""
    days = sorted(set(school_days))
    segments: list[list[dt.date]] = []
    for day in days:
        if segments and not _whole_week_between(segments[-1][-1], day):
            segments[-1].append(day)
        else:
            segments.append([day])
    keys = [(school_year_label(school_year_start(s[0])), term_of(s[0])) for s in segments]
    numbers = [half_term_number(s[0]) for s in segments]
    for key in set(keys):  # a handful of terms
        at = [i for i, k in enumerate(keys) if k == key]
        if len({numbers[i] for i in at}) < len(at):
            # two of a term's half terms would share a name (a week's closure inside a half term,
            # or an export that starts late in the first half): named in order instead
            for order, i in enumerate(at, start=1):
                numbers[i] = order
    half_terms = tuple(HalfTerm(f"{term.title()} {number}", term, year, s[0], s[-1])
                       for s, (year, term), number in zip(segments, keys, numbers))
    return SchoolCalendar(half_terms, tuple(days), "inferred from the data")


#: (month, day) from which a half term inferred from the data is its term's second. English schools
#: return from the October half term in the last days of October or early November, from the
#: February one from mid-February, and from the May one (the week of the spring bank holiday, the
#: last Monday in May) at the end of May or in June; the first halves start by mid-September,
#: mid-January and early May (after the latest Easter) at the latest.
SECOND_HALF_FROM = {"autumn": (10, 15), "spring": (2, 1), "summer": (5, 15)}


def half_term_number(start: dt.date) -> int:
    """1 or 2: which half of its term a half term starting on `start` is, by date alone."""
    month, day = SECOND_HALF_FROM[term_of(start)]
    # autumn runs from August: its cut-off is in the same calendar year as any autumn start
    return 2 if (start.month, start.day) >= (month, day) else 1


def _whole_week_between(a: dt.date, b: dt.date) -> bool:
    next_monday = a + dt.timedelta(days=7 - a.weekday())
    return next_monday + dt.timedelta(days=4) < b


def load_calendar(path: Path, school_days: list[dt.date] | None = None) -> SchoolCalendar:
    from attendance_cli.ingest.encoding import settings_text

    """A school's calendar file: TOML `[[half_term]]` tables, or a CSV, each with name, start, end.

    TOML:   [[half_term]]                      CSV:  name,start,end
            name = "Autumn 1"                        Autumn 1,03/09/2025,24/10/2025
            start = 2025-09-03
            end = 2025-10-24
    """
    if not path.exists():
        raise ConfigError(f"Calendar file {path} does not exist.")
    entries: list[tuple[str, object, object]] = []
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(settings_text(path, "Calendar"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"Calendar {path} is not valid TOML: {exc}") from None
        unknown = set(data) - {"half_term"}
        if unknown:
            raise ConfigError(f"Calendar {path}: unknown key(s) {', '.join(sorted(unknown))}.",
                              fix="The file holds [[half_term]] tables with name, start and end.")
        for number, item in enumerate(data.get("half_term", []), start=1):
            extra = set(item) - {"name", "start", "end"}
            if extra:
                raise ConfigError(f"Calendar {path}: half_term {number} has unknown key(s) {', '.join(sorted(extra))}.",
                                  fix="Allowed keys: name, start, end.")
            entries.append((str(item.get("name", "")), item.get("start"), item.get("end")))
    else:
        with io.StringIO(settings_text(path, "Calendar"), newline="") as handle:
            for row in csv.DictReader(handle):
                row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                entries.append((row.get("name", ""), row.get("start"), row.get("end")))
    half_terms = []
    for number, (name, start, end) in enumerate(entries, start=1):
        s, e = _as_date(start), _as_date(end)
        where = f"Calendar {path}: half term {number} ({name or 'unnamed'})"
        for key, value, day in (("start", start, s), ("end", end, e)):
            if value is None or value == "":
                raise ConfigError(f"{where} has no {key} date.", fix="Give each half term a name, a start and an end.")
            if day is None:
                from attendance_cli.ingest.dates import date_format, month_first

                first_month = month_first(value)
                what = ("is not a real date between 1990 and 2099" if date_format(str(value)) and not first_month
                        else "is not a day-first date")
                raise ConfigError(f"{where}: {key} {_shown(value)} {what}"
                                  + (f" (it reads as month first: {first_month})" if first_month else "") + ".",
                                  fix="Write dates day first, as dd/mm/yyyy in CSV (03/09/2025 for 3 September) or "
                                      "2025-09-03 in TOML.")
        if e < s:
            raise ConfigError(f"{where} ends ({_shown(end)}) before it starts ({_shown(start)}).",
                              fix="Check the two dates; dates are day first (03/09/2025 is 3 September).")
        if (e - s).days > 140:  # the longest half term in England is about 8 weeks; a term about 16
            raise ConfigError(f"{where} runs from {_shown(start)} to {_shown(end)}, {(e - s).days} days: longer than "
                              "any half term.", fix="Check the year of each date; list each half term on its own row.")
        term = name.split()[0].lower() if name and name.split()[0].lower() in TERMS else term_of(s)
        half_terms.append(HalfTerm(name or f"{term.title()}", term, school_year_label(school_year_start(s)), s, e))
    if not half_terms:
        raise ConfigError(f"Calendar {path} lists no half terms.")
    half_terms.sort(key=lambda h: h.start)
    for a, b in zip(half_terms, half_terms[1:]):
        if b.start <= a.end:
            raise ConfigError(f"Calendar {path}: {a.name} and {b.name} overlap.")
    return SchoolCalendar(tuple(half_terms), tuple(sorted(school_days or [])), str(path))


def _shown(value: object) -> str:
    """A start or end as the file gave it, for a message: a date (TOML) as dd/mm/yyyy, as every date
    is shown, never `datetime.date(2026, 10, 23)`; text quoted, as written; a missing one as such."""
    if isinstance(value, dt.date):
        return format_date(value)
    if value is None or value == "":
        return "nothing"
    return repr(value)


def _as_date(value: object) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    return parse_date(str(value)) if value else None


def school_days_in(rows, counted, open_day) -> tuple[list[dt.date], dt.date | None]:
    """School days and the last date with a mark, from `rows` (a frame with `date`): the one place a
    school day is defined. A date is a school day when a `counted` row on it is `open_day` (a mark
    that is not a closure code such as `#`, for any pupil); the last date is the last of any counted
    row (closures included)."""
    import polars as pl

    days = (rows.lazy().filter(counted).group_by("date").agg(open_day.any().alias("open"))
            .drop_nulls("date").collect(engine="streaming"))
    last = days["date"].max() if days.height else None
    return sorted(days.filter(pl.col("open"))["date"].to_list()), last


def dates_in_data(export) -> tuple[list[dt.date], dt.date | None]:
    """School days and the last date with a valid mark, straight from the exports (one pass over
    the date and slot columns; only commands with a named window and no marks in memory need it).
    """
    import polars as pl

    slots = export.slots
    lookup = slots.lookup.filter(pl.col("status") == "ok")
    open_slots = lookup.filter(~pl.col("closure"))["slot"].implode()
    # a row the pass will explain or reread (a mark padded with spaces: "/ ") is read by its text here,
    # so the calendar agrees with the figures; a row that is really wrong stops the pass anyway
    closures = lookup.filter(pl.col("closure"))["token"].unique().implode()
    problem_slot = slots.status("problem")
    # the rows grouped by date and slot first (and a problem row's text): a few thousand groups, on
    # which the rest is worked out, instead of on every row
    grouped = (export.rows.group_by("date", "slot", pl.when(pl.col("slot") == problem_slot).then(pl.col("mark"))
                                    .alias("_text")).agg(pl.len()).collect(engine="streaming"))
    text = pl.col("_text").str.strip_chars()
    problem = (pl.col("slot") == problem_slot) & text.is_not_null() & ~text.is_in(["", "-"])
    return school_days_in(grouped, pl.col("slot").is_in(lookup["slot"].implode()) | problem,
                          pl.col("slot").is_in(open_slots) | (problem & ~text.is_in(closures)))


def calendar_for(export, calendar_file: Path | None = None) -> tuple[SchoolCalendar, dt.date | None]:
    """The calendar (from a file, else inferred) and the last date in the data."""
    days, last = dates_in_data(export)
    return calendar_from(days, calendar_file), last


def calendar_from(school_days: list[dt.date], calendar_file: Path | None = None) -> SchoolCalendar:
    """The school's calendar file with these school days, or the calendar inferred from them."""
    return load_calendar(calendar_file, school_days) if calendar_file is not None else infer_calendar(school_days)
