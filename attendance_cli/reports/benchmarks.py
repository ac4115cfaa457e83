"""National (or an authority's own) figures to compare a report with, chosen for its window.

The figures ship with the tool in `national.csv` (the DfE's published rates, each row with its
publication, address and date); `report --benchmark FILE` reads an authority's own file with the
same columns instead. A row gives one phase's rates for one period of one school year:

    school_year     2024/25
    period          full-year, autumn, spring, summer or autumn-spring (the census releases)
    phase           primary, secondary, special or all (all state-funded schools)
    overall_absence_pct, authorised_absence_pct, unauthorised_absence_pct,
    persistent_absence_pct, severe_absence_pct   a percentage, or blank when not published
    source          the publication (who, what, which release)
    url             where it is published
    published       the date it was published (yyyy-mm-dd), or blank when not recorded
    (authorised + unauthorised must equal overall absence, give or take 0.1 for rounding)
    note            what the figures cover (optional)

A window is compared with the figures of its own period: a half term or a term with its term's,
the school year to date with the census period it reaches (autumn, autumn and spring, the full
year), anything else with the full year. Where the file has no figure for the period, the nearest
period that holds it is used (a spring half term: the autumn and spring terms, then the full year)
and the report says so; so is it where the period's latest figure is more than RECENT_YEARS school
years older than the window. Persistent and severe absence depend on the length of the window (a pupil
misses 10% of three weeks far more easily than of a year), so a window's are compared only when it
spans the whole period, with that period's figures; the school year to date's are compared with the
period it has reached, or the full year.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from attendance_cli.errors import ConfigError, MissingFileError

COLUMNS = ("school_year", "period", "phase", "overall_absence_pct", "authorised_absence_pct",
           "unauthorised_absence_pct", "persistent_absence_pct", "severe_absence_pct", "source", "url",
           "published", "note")
REQUIRED = COLUMNS[:-1]  # note may be left out
PERIODS = ("full-year", "autumn", "spring", "summer", "autumn-spring")
PHASES = ("primary", "secondary", "special", "all")
#: How far authorised + unauthorised absence may be from overall absence in a row: rounding only
#: (the DfE's one-decimal figures: 4.7 + 2.5 for 7.1; 4.2 + 1.6 for 5.9, primary 2022/23). Every shipped
#: row is within it; three independently rounded one-decimal figures could in theory differ by 0.15,
#: but no published row needs it.
ADDS_UP = 0.1
#: The report's measures, by the column each comes from.
MEASURES = {"overall": "overall_absence_pct", "authorised": "authorised_absence_pct",
            "unauthorised": "unauthorised_absence_pct", "pa": "persistent_absence_pct", "sa": "severe_absence_pct"}
#: Measures that depend on the window's length: compared only with the same period.
LENGTH_BOUND = ("pa", "sa")
PERIOD_NAMES = {"full-year": "full year", "autumn": "autumn term", "spring": "spring term", "summer": "summer term",
                "autumn-spring": "autumn and spring terms"}
#: How many school years old (before the window's) a figure may be and still be preferred for being of
#: the window's own period: absence has moved by a point or more from one year to the next since 2020,
#: so a summer term's figure from three years before is less like this summer than last year's full year.
RECENT_YEARS = 2
MEASURE_NAMES = {"overall": "attendance and overall absence", "authorised": "authorised absence",
                 "unauthorised": "unauthorised absence", "pa": "persistent absence", "sa": "severe absence"}


def shipped() -> Path:
    """The national figures that ship with the tool."""
    return Path(__file__).with_name("national.csv")


@dataclass(frozen=True)
class Row:
    line: int
    school_year: str
    period: str
    phase: str
    figures: dict[str, float | None]  # by MEASURES key
    source: str
    url: str
    published: dt.date | None
    note: str

    @property
    def year(self) -> int:
        return int(self.school_year[:4])

    def describe(self, shipped_file: bool) -> str:
        """"national secondary, autumn term 2024/25 (DfE, ..., <url>, published 07/08/2025)"."""
        who = "national" if shipped_file else "benchmark"
        when = f"published {self.published:%d/%m/%Y}" if self.published else "publication date not recorded"
        note = f"; {self.note}" if self.note else ""
        return (f"{who} {self.phase}, {PERIOD_NAMES[self.period]} {self.school_year} ({self.source}, {self.url}, "
                f"{when}{note})")


@dataclass(frozen=True)
class Benchmarks:
    path: Path
    rows: tuple[Row, ...]

    @property
    def shipped(self) -> bool:
        return self.path == shipped()


def read_benchmarks(path: Path | None = None) -> Benchmarks:
    """The shipped figures, or an authority's file with the same columns. Every problem names the
    file and line."""
    import csv

    path = path or shipped()
    if not path.is_file():
        raise MissingFileError(f"There is no benchmark file at {path}.",
                               fix="Give --benchmark a CSV file with the columns " + ", ".join(COLUMNS) + ".")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error}).", fix="Save the file as CSV UTF-8.") from error
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    fix = ("Columns: " + ", ".join(COLUMNS) + " (note optional); percentages such as 7.1 or blank; periods: "
           + ", ".join(PERIODS) + "; phases: " + ", ".join(PHASES) + "; school years such as 2024/25; "
           "published as yyyy-mm-dd or blank. The shipped file is a model: " + str(shipped()))
    if not header:
        raise ConfigError(f"{path}: the file is empty.", fix=fix)
    header = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if missing or unknown:
        parts = ([f"no column {', '.join(missing)}"] if missing else []) + (
            [f"unknown column {', '.join(unknown)}"] if unknown else [])
        raise ConfigError(f"{path}, line 1: {'; '.join(parts)}.", fix=fix)
    rows, seen, problems = [], {}, []
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            problems.append(f"line {number}: {len(values)} fields where the header has {len(header)}")
            continue
        item = {name: value.strip() for name, value in zip(header, values)}
        row, problem = _row(number, item)
        if problem:
            problems.append(f"line {number}: {problem}")
            continue
        key = (row.school_year, row.period, row.phase, row.source)
        if key in seen:
            problems.append(f"line {number}: the same school year, period, phase and source as line {seen[key]}")
            continue
        seen[key] = number
        rows.append(row)
    if problems:
        shown = problems[:10] + ([f"and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise ConfigError(f"{path}, " + "; ".join(shown) + ".", fix=fix)
    if not rows:
        raise ConfigError(f"{path}: no figures (only the header).", fix=fix)
    return Benchmarks(path, tuple(rows))


def _row(number: int, item: dict[str, str]) -> tuple[Row, str | None]:
    year = item["school_year"]
    match = re.fullmatch(r"(\d{4})/(\d{2})", year)
    if not match or (int(match[1]) + 1) % 100 != int(match[2]):
        return None, f"school_year {year!r} is not a school year such as 2024/25"  # type: ignore[return-value]
    if item["period"] not in PERIODS:
        return None, f"period {item['period']!r} is not one of {', '.join(PERIODS)}"  # type: ignore[return-value]
    if item["phase"] not in PHASES:
        return None, f"phase {item['phase']!r} is not one of {', '.join(PHASES)}"  # type: ignore[return-value]
    figures: dict[str, float | None] = {}
    for key, column in MEASURES.items():
        text = item[column]
        if not text:
            figures[key] = None
            continue
        try:
            value = float(text.rstrip("%"))
        except ValueError:
            return None, f"{column} {text!r} is not a percentage"  # type: ignore[return-value]
        if not 0 <= value <= 100:
            return None, f"{column} {text!r} is not between 0 and 100"  # type: ignore[return-value]
        figures[key] = value
    if all(v is None for v in figures.values()):
        return None, "no figure (every percentage is blank)"  # type: ignore[return-value]
    parts = [figures[k] for k in ("overall", "authorised", "unauthorised")]
    if None not in parts and abs(parts[1] + parts[2] - parts[0]) > ADDS_UP + 1e-9:  # type: ignore[operator]
        return None, (f"authorised_absence_pct {item['authorised_absence_pct']} + unauthorised_absence_pct "  # type: ignore[return-value]
                      f"{item['unauthorised_absence_pct']} = {parts[1] + parts[2]:.2f}, not overall_absence_pct "  # type: ignore[operator]
                      f"{item['overall_absence_pct']} (they may differ by rounding, by {ADDS_UP} at most)")
    if not item["source"]:
        return None, "no source: say which publication the figures come from"  # type: ignore[return-value]
    published = None
    if item["published"]:
        try:
            published = dt.date.fromisoformat(item["published"])
        except ValueError:
            return None, f"published {item['published']!r} is not a date yyyy-mm-dd"  # type: ignore[return-value]
    return Row(number, year, item["period"], item["phase"], figures, item["source"], item["url"], published,
               item.get("note", "")), None


def period_of(start: dt.date, end: dt.date, year_to_date: bool) -> str:
    """The census period a window is compared with. Census terms: autumn 1 August to 31 December,
    spring 1 January to Easter Sunday, summer to 31 July (reference/rules.md). The school year to
    date: the period it reaches (autumn, autumn-spring, full-year); a window inside one term: that
    term; anything else: the full year."""
    from attendance_cli.calendar import easter_sunday, school_year_start

    def term(day: dt.date) -> str:
        if day.month >= 8:
            return "autumn"
        return "spring" if day <= easter_sunday(day.year) else "summer"

    if year_to_date:
        return {"autumn": "autumn", "spring": "autumn-spring", "summer": "full-year"}[term(end)]
    if school_year_start(start) == school_year_start(end) and term(start) == term(end):
        return term(start)
    return "full-year"


#: Where a window's own period has no figure, the nearest published periods, nearest first (each
#: holds the period): a spring half term is compared with the autumn and spring terms before the
#: full year. Persistent and severe absence fall back only to the full year, and only for the
#: school year to date.
NEAREST = {"autumn": ("autumn", "autumn-spring", "full-year"), "spring": ("spring", "autumn-spring", "full-year"),
           "summer": ("summer", "full-year"), "autumn-spring": ("autumn-spring", "full-year"),
           "full-year": ("full-year",)}


def covers(start: dt.date, end: dt.date, period: str) -> bool:
    """Whether a window spans the whole of its census period, so that its persistent and severe
    absence can be set beside the period's: it starts by the term's second week (14 September,
    10 January, or 16 days after Easter Sunday, as the Easter holiday may begin after it) and ends
    in its last weeks (15 December, 21 days before Easter Sunday, 15 July). A half term or a few
    weeks do not: a pupil misses 10% of three weeks far more easily than 10% of a term."""
    from attendance_cli.calendar import easter_sunday, school_year_start

    year = school_year_start(start).year  # the school year's first calendar year
    easter = easter_sunday(year + 1)
    opening = {"autumn": dt.date(year, 9, 14), "autumn-spring": dt.date(year, 9, 14), "full-year": dt.date(year, 9, 14),
               "spring": dt.date(year + 1, 1, 10), "summer": easter + dt.timedelta(days=16)}[period]
    closing = {"autumn": dt.date(year, 12, 15), "spring": easter - dt.timedelta(days=21),
               "autumn-spring": easter - dt.timedelta(days=21), "summer": dt.date(year + 1, 7, 15),
               "full-year": dt.date(year + 1, 7, 15)}[period]
    return start <= opening and end >= closing


@dataclass(frozen=True)
class Choice:
    """The figure a measure is compared with, and why that one."""

    value: float | None
    row: Row | None
    why: str


def choose(benchmarks: Benchmarks, phase: str, period: str, school_year: int, measure: str,
           fallback: bool = False, whole: bool = True, span: str = "") -> Choice:
    """The figure for one measure: the window's own period first (the same school year, else the
    latest before it, else the earliest after), then the nearest published period that holds it
    (NEAREST), except for persistent and severe absence: those only for a window spanning the whole
    period (`whole`), and with no fallback unless `fallback` (the school year to date, which falls
    back to the full year). Ties: the file's order. `span`: the window's dates, for the reason a
    short window's persistent or severe absence is not compared."""
    wanted = PERIOD_NAMES[period]
    missing = "in the shipped national figures" if benchmarks.shipped else "in the benchmark file"
    if measure in LENGTH_BOUND and not whole and not fallback:
        return Choice(None, None, f"this window{' (' + span + ')' if span else ''} is shorter than the {wanted}, and "
                                  f"published figures are for whole terms or years: a pupil misses 10% or 50% of a "
                                  f"few weeks far more easily than of a term")
    periods = (NEAREST[period] if measure not in LENGTH_BOUND
               else (period, "full-year") if fallback else (period,))
    ranked = []
    for index, row in enumerate(benchmarks.rows):
        if row.phase != phase or row.figures[measure] is None or row.period not in periods:
            continue
        distance = school_year - row.year
        ranked.append(((distance > RECENT_YEARS, periods.index(row.period), 0 if distance == 0 else 1 if distance > 0
                        else 2, abs(distance), index), row))
    if not ranked:
        tried = " or ".join(f"the {PERIOD_NAMES[p]}" for p in periods)
        return Choice(None, None, f"no {phase} {MEASURE_NAMES[measure]} figure for {tried} is {missing}")
    (stale, rank, *_), row = min(ranked, key=lambda item: item[0])
    own_stale = [r for key, r in ranked if key[1] == 0 and key[0]]
    if rank == 0:
        own = ("the period the school year to date has reached" if fallback and period != "full-year"
               else "the period of this window" if whole else "the term this window is part of")
        why = ("the full year" if period == "full-year" else f"the {wanted}, {own}")
        why += ("" if row.year == school_year else "; the latest published" if row.year < school_year
                else "; none is published for an earlier year")
        if stale:
            why += f" (more than {RECENT_YEARS} school years before this window's, but no more recent figure is {missing})"
    else:
        nearest = PERIOD_NAMES[row.period]
        none = (f"the latest {wanted} figure {missing} is for {max(r.year for r in own_stale)}/"
                f"{(max(r.year for r in own_stale) + 1) % 100:02d}, more than {RECENT_YEARS} school years before this "
                f"window's" if own_stale else f"no {wanted} figure is {missing}")
        why = (f"{none}, so the nearest published period: the {nearest}, which "
               f"{'includes' if nearest == 'full year' else 'include'} the {wanted}")
    return Choice(row.figures[measure], row, why)
