"""The half-termly report's figures: headline, breakdowns, series for the charts, patterns and the
effect of letters. Everything is computed here; the templates only lay it out.

The headline and breakdowns come from `statistics` on the same tally `attendance summary` uses,
so they are the summary's figures exactly. The series and patterns come from the same accepted
marks (the compact `Marks` the rules use).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from attendance_cli.calendar import SchoolCalendar, easter_sunday, school_year_start
from attendance_cli.errors import UsageError
from attendance_cli.figures import (
    ABSENT, POSSIBLE, absences_expr, attended_expr, pct, pct_expr, persistent_expr, possible_expr, severe_expr,
)
from attendance_cli.calendar import Window
from attendance_cli.ingest import Export
from attendance_cli.rules.marks import Marks
from attendance_cli.statistics import METHOD, group_statistics, overall_statistics, pupil_statistics

if TYPE_CHECKING:
    from attendance_cli.dataset import Dataset

#: Pupil attributes broken down when the exports (or a pupil file) have them.
ATTRIBUTES = ("sen", "fsm", "pupil_premium", "gender", "ethnicity", "eal")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
#: National figures (reference/rules.md): DfE "Pupil attendance in schools", daily data.
BENCHMARKS = {
    "primary": {"overall": 5.28, "authorised": 3.73, "unauthorised": 1.55, "pa": 13.77},
    "secondary": {"overall": 8.49, "authorised": 5.22, "unauthorised": 3.27, "pa": 23.77},
    "all": {"overall": 6.88, "authorised": 4.52, "unauthorised": 2.36, "pa": 18.78},
}
BENCHMARK_SOURCE = ("DfE, Pupil attendance in schools (daily data), 2025/26 to 10 July 2026, state-funded "
                    "schools in England; they cover pupils of compulsory school age (Year 1 to Year 11), where this "
                    "report counts every pupil ('attendance summary --cohort dfe' gives the school's figures on the "
                    "national basis)")


@dataclass
class Report:
    title: str
    window: Window
    phase: str
    headline: dict[str, Any]
    last_year: dict[str, Any] | None
    benchmark: dict[str, float]
    breakdowns: list[tuple[str, list[dict[str, Any]]]]
    weekly: pl.DataFrame  # week, possible, attended, attendance_pct, minutes_late
    heatmap: list[list[float | None]]
    reasons: pl.DataFrame  # code, meaning, category, sessions
    patterns: dict[str, Any]
    interventions: list[dict[str, Any]]
    method: dict[str, Any]
    suppress_below: int


def read_pupil_file(path) -> pl.DataFrame:
    """Pupil attributes for breakdowns: a pupil id column (named as in the exports), then one column
    per attribute, named in lower case with underscores (`Pupil Premium` -> pupil_premium)."""
    from attendance_cli.errors import ConfigError
    from attendance_cli.ingest.encoding import open_text
    from attendance_cli.ingest.headers import is_pupil_id

    table = pl.read_csv(open_text(path).data, infer_schema=False)
    ids = [c for c in table.columns if is_pupil_id(c)]
    if not ids:
        raise ConfigError(f"{path}: no pupil id column (headers: {', '.join(table.columns)}).",
                          fix="Name the first column pupil_id (or Student ID), as in the register exports.")
    table = table.rename({c: "pupil_id" if c == ids[0] else "_".join(c.strip().lower().split()) for c in table.columns})
    table = table.with_columns(pl.col("pupil_id").str.strip_chars())  # as the exports' ids are read
    repeated = table.filter(pl.col("pupil_id").is_duplicated())["pupil_id"]
    if repeated.len():
        raise ConfigError(f"{path}: pupil {repeated[0]} is listed twice.", fix="Give one row per pupil.")
    return table


def require_possible(statistics: pl.DataFrame, window: Window) -> None:
    """Refuse a window in which no pupil has a possible session (every mark in it X, another code
    that is not counted, or blank), as a window with no school day is refused: its report would be
    blank percentages for "0 pupils", and slips or digests of nobody read as "nothing to report".
    `statistics`: `pupil_statistics` for the window, which keeps only pupils with a possible session."""
    if statistics.height == 0:
        raise UsageError(f"The window {window.describe()} holds no possible session: every mark in it is a code that "
                         "is not counted (such as X) or is unmarked, so there is no attendance to report.",
                         fix="Check --as-of, --from and --to (dates are day first), or choose a window with attendance "
                             "marks; 'attendance ingest' lists the codes the exports hold.")


def phase_of(year_groups: list[str]) -> str:
    """primary (Reception to Year 6), secondary (Year 7 and up), or all (both, or unknown)."""
    numbers = []
    for text in year_groups:
        lowered = (text or "").lower()
        if lowered.startswith(("reception", "nursery")):
            numbers.append(0)
            continue
        digits = "".join(ch for ch in lowered if ch.isdigit())
        if digits:
            numbers.append(int(digits))
    if not numbers:
        return "all"
    if max(numbers) <= 6:
        return "primary"
    if min(numbers) >= 7:
        return "secondary"
    return "all"


def _rates(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in (
        "pupils", "possible_sessions", "attended_sessions", "authorised_absences", "unauthorised_absences",
        "attendance_pct", "overall_absence_pct", "authorised_absence_pct", "unauthorised_absence_pct",
        "persistent_absence_pupils", "persistent_absence_pct", "severe_absence_pupils", "severe_absence_pct",
        "days_missed", "late_before_close", "late_after_close", "minutes_late")}


def build(data: Dataset, window: Window, calendar: SchoolCalendar, *, title: str, suppress_below: int = 5,
          pupil_file: pl.DataFrame | None = None, ledger_path=None, policy_name: str | None = None,
          at_risk_within: int = 4, weeks_around_letters: int = 4) -> Report:
    export = data.export
    lessons = data.lessons
    marks = data.marks  # read first: the window's counts then come from the marks, not another read
    counted = data.tally(window)
    pupils = pupil_statistics(counted, keys=[a for a in ATTRIBUTES if a in counted.pupils.columns])
    require_possible(pupils, window)
    if pupil_file is not None:
        extra = [c for c in pupil_file.columns if c != "pupil_id" and c not in pupils.columns]
        pupils = pupils.join(pupil_file.select("pupil_id", *extra), on="pupil_id", how="left")
    overall = overall_statistics(pupils, lessons)
    headline = _rates(overall.row(0, named=True)) if overall.height else {}
    phase = phase_of(pupils["year_group"].drop_nulls().unique().to_list()) if "year_group" in pupils.columns else "all"

    breakdowns = []
    for column in ("year_group", "form", *[c for c in pupils.columns if c in ATTRIBUTES or (
            pupil_file is not None and c in pupil_file.columns and c != "pupil_id")]):
        if column not in pupils.columns or pupils[column].null_count() == pupils.height:
            continue
        table = group_statistics(pupils, [column], lessons)
        rows = []
        for row in table.iter_rows(named=True):  # a few dozen groups
            shown = {"group": row[column] if row[column] is not None else "(not recorded)", **_rates(row)}
            shown["suppressed"] = row["pupils"] < suppress_below
            rows.append(shown)
        breakdowns.append((column, rows))

    possible = _possible(marks)  # every possible mark with its code and category, once
    weekly, heat, reasons = _series(possible, window, export)
    patterns = _patterns(marks, possible, window, calendar, pupils, at_risk_within, lessons)
    last_year = _last_year(possible, window, calendar)
    interventions = _interventions(marks, possible, ledger_path, policy_name, weeks_around_letters) if ledger_path else []
    report = counted.report
    method = {
        "text": METHOD, "codes": export.options.codes.name, "window": window.describe(),
        "calendar": calendar.source, "first": report.first_date, "last": report.last_date,
        "unmarked": report.unmarked_in_window, "unit": "lessons" if lessons else "sessions",
        "half_terms": [h.describe() for h in calendar.half_terms if h.start <= (window.end or dt.date.max)
                       and h.end >= (window.start or dt.date.min)],
    }
    return Report(title, window, phase, headline, last_year, BENCHMARKS[phase], breakdowns, weekly, heat, reasons,
                  patterns, interventions, method, suppress_below)


def _in(window: Window) -> pl.Expr:
    return pl.col("date").is_between(window.start or dt.date.min, window.end or dt.date.max)


def _possible(marks: Marks) -> pl.DataFrame:
    """The possible marks (pupil, date, session) with their code, category and lateness."""
    # categoricals: three short strings on every one of millions of marks would cost gigabytes
    lookup = marks.lookup.filter(pl.col("category").is_in(POSSIBLE)).select(
        "slot", pl.col("code", "category", "late").cast(pl.Categorical))
    return marks.frame.join(lookup, on="slot", how="inner")


def _series(possible: pl.DataFrame, window: Window, export: Export) -> tuple[pl.DataFrame, list[list[float | None]], pl.DataFrame]:
    """Attendance and minutes late per school week; attendance by weekday and session; absence by code."""
    frame = possible.filter(_in(window))
    weekly = (frame.group_by(pl.col("date").dt.truncate("1w").alias("week")).agg(
        possible_expr(only_possible=True).alias("possible"), attended_expr().alias("attended"),
        pl.col("minutes_late").filter(pl.col("late").is_not_null()).sum().cast(pl.Int64).alias("minutes_late"))
        .with_columns(pct_expr(pl.col("attended"), pl.col("possible")).alias("attendance_pct")).sort("week"))
    heat_frame = frame.group_by(pl.col("date").dt.weekday().alias("day"), pl.col("session").cast(pl.String)).agg(
        possible_expr(only_possible=True).alias("possible"), attended_expr().alias("attended"))
    cells = {(r["day"], r["session"]): pct(r["attended"], r["possible"]) for r in heat_frame.iter_rows(named=True)}
    heat = [[cells.get((day, session)) for session in ("AM", "PM")] for day in range(1, 6)]
    meanings = {}
    for code in export.options.codes.codes:
        meanings.setdefault(code.code, code.meaning)
    reasons = (frame.filter(pl.col("category").is_in(list(ABSENT))).group_by("code", "category").agg(pl.len().alias("sessions"))
               .with_columns(pl.col("code", "category").cast(pl.String))
               .with_columns(pl.col("code").replace_strict(meanings, default="", return_dtype=pl.String).alias("meaning"))
               .sort("sessions", "code", descending=[True, False]))
    return weekly, heat, reasons


def _per_pupil(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.group_by("pupil").agg(possible_expr(only_possible=True).alias("possible"), absences_expr().alias("absent"))


def _patterns(marks: Marks, possible: pl.DataFrame, window: Window, calendar: SchoolCalendar, pupils: pl.DataFrame,
              within: int, lessons: bool) -> dict[str, Any]:
    """Absence next to breaks and bank holidays, term-time holidays (G), runs of absence, pupils newly
    persistently or severely absent in the window, and pupils within `within` sessions of it."""
    frame = possible
    inside = frame.filter(_in(window))
    # days next to a break: the last school day before and the first after a gap of more than a weekend,
    # or next to a bank holiday
    days = sorted(set(calendar.school_days))
    edges = set()
    for before, after in zip(days, days[1:]):
        if (after - before).days > 3 or _bank_holiday_between(before, after):
            edges.update((before, after))
    by_day = inside.group_by("date").agg(possible_expr(only_possible=True).alias("possible"), absences_expr().alias("absent"))
    near = by_day.filter(pl.col("date").is_in(sorted(edges)))
    rest = by_day.filter(~pl.col("date").is_in(sorted(edges)))
    rate = (lambda part: pct(int(part["absent"].sum()), int(part["possible"].sum())) if part.height else None)
    holidays = inside.filter(pl.col("code") == "G")
    # newly PA/SA: persistently absent over the school year to the window's end, not to the day before it began
    start, end = window.start or dt.date.min, window.end or dt.date.max
    year_start = school_year_start(end) if window.end else dt.date.min
    to_end = _per_pupil(frame.filter(pl.col("date").is_between(year_start, end)))
    before = _per_pupil(frame.filter(pl.col("date").is_between(year_start, start - dt.timedelta(days=1))))
    # only pupils with a possible session in the window: a leaver's year-to-date figures would list
    # them (nameless: names come from the window's pupils) as at risk in a window they were not in
    present = inside.select(pl.col("pupil").unique())
    both = (to_end.join(present, on="pupil", how="semi")
            .join(before, on="pupil", how="left", suffix="_before").fill_null(0))
    pa = persistent_expr(pl.col("absent"), pl.col("possible"))
    pa_before = persistent_expr(pl.col("absent_before"), pl.col("possible_before"))
    sa = severe_expr(pl.col("absent"), pl.col("possible"))
    sa_before = severe_expr(pl.col("absent_before"), pl.col("possible_before"))
    # at risk: not PA yet, but `within` more absences out of as many more sessions would make them PA
    at_risk = ~pa & persistent_expr(pl.col("absent") + within, pl.col("possible") + within)
    flagged = both.with_columns(pa.alias("pa"), (pa & ~pa_before).alias("new_pa"), (sa & ~sa_before).alias("new_sa"),
                                at_risk.alias("at_risk"))
    flagged = marks.with_ids(flagged)
    names = pupils.select("pupil_id", *[c for c in ("surname", "forename", "year_group", "form") if c in pupils.columns])
    listing = (lambda column: flagged.filter(pl.col(column)).join(names, on="pupil_id", how="left")
               .with_columns(pct_expr(pl.col("possible") - pl.col("absent"), pl.col("possible")).alias("attendance_pct"))
               .sort("pupil_id").to_dicts())
    return {
        "edge_days": len([d for d in edges if start <= d <= end]),
        "edge_absence_pct": rate(near), "other_absence_pct": rate(rest),
        "holiday_sessions": holidays.height, "holiday_pupils": holidays["pupil"].n_unique(),
        "runs": _runs(inside, 5) if not lessons else [],
        "new_pa": listing("new_pa"), "new_sa": listing("new_sa"), "at_risk": listing("at_risk"),
        "at_risk_within": within,
    }


def _runs(inside: pl.DataFrame, days: int) -> dict[str, int]:
    """Pupils with a run of at least `days` school days absent all day (consecutive days the pupil had marks)."""
    per_day = inside.group_by("pupil", "date").agg(
        pl.col("category").is_in(list(ABSENT)).all().alias("absent")).sort("pupil", "date")
    per_day = per_day.with_columns(pl.int_range(pl.len()).over("pupil").alias("n"))
    runs = (per_day.filter(pl.col("absent"))
            .with_columns((pl.col("n") - pl.int_range(pl.len()).over("pupil")).alias("run"))
            .group_by("pupil", "run").agg(pl.len().alias("length")))
    long = runs.filter(pl.col("length") >= days)
    return {"days": days, "pupils": long["pupil"].n_unique(), "runs": long.height,
            "longest": int(runs["length"].max() or 0) if runs.height else 0}


def _bank_holiday_between(a: dt.date, b: dt.date) -> bool:
    holidays = bank_holidays(a.year) | bank_holidays(b.year)
    return any(a < h < b for h in holidays)


def bank_holidays(year: int) -> set[dt.date]:
    """England and Wales bank holidays falling on weekdays (substitute days for Christmas and New Year not needed:
    schools are closed then anyway)."""
    easter = easter_sunday(year)

    def first_monday(month: int) -> dt.date:
        day = dt.date(year, month, 1)
        return day + dt.timedelta(days=(7 - day.weekday()) % 7)

    def last_monday(month: int) -> dt.date:
        day = dt.date(year, month + 1, 1) - dt.timedelta(days=1)
        return day - dt.timedelta(days=day.weekday())

    return {easter - dt.timedelta(days=2), easter + dt.timedelta(days=1), first_monday(5), last_monday(5),
            last_monday(8)}


#: How much later than a year before the exports may begin and still cover last year's window:
#: school years do not start on the same weekday, nor always in the same week.
LAST_YEAR_SLACK = dt.timedelta(days=14)


def _last_year(possible: pl.DataFrame, window: Window, calendar: SchoolCalendar) -> dict[str, Any] | None:
    """The same window a year earlier (52 weeks, so weekdays line up), when the data covers it.

    Covered means the data begins by the window's first school day, a year back (with a fortnight's
    slack): a year-to-date window starts on 1 August, in the holiday, so the data never begins near
    its first date, and its comparison would never be shown."""
    if window.start is None or window.end is None:
        return None
    start, end = window.start - dt.timedelta(weeks=52), window.end - dt.timedelta(weeks=52)
    first_day = next((day for day in calendar.school_days if window.start <= day <= window.end), window.start)
    first = possible["date"].min()
    if first is None or first > first_day - dt.timedelta(weeks=52) + LAST_YEAR_SLACK:
        return None
    frame = possible.filter(pl.col("date").is_between(start, end))
    if frame.height == 0:
        return None
    per = _per_pupil(frame)
    possible, absences = int(per["possible"].sum()), int(per["absent"].sum())
    # the share of pupils persistently absent as the mean of their flags × 100: the same double as
    # always (k × 100 / n can differ from it in the last bit, and so round the other way at a tie)
    return {"start": start, "end": end, "attendance_pct": pct(possible - absences, possible),
            "overall_absence_pct": pct(absences, possible),
            "persistent_absence_pct": float(per.select(persistent_expr(pl.col("absent"), pl.col("possible")))
                                            .to_series().mean() * 100.0)}


def _interventions(marks: Marks, possible: pl.DataFrame, ledger_path, policy: str | None, weeks: int
                   ) -> list[dict[str, Any]]:
    """For each letter type sent: attendance of its pupils over `weeks` weeks before and after the letter.

    Both sides are exactly `weeks` × 7 days: before, the days up to the day before the letter; after,
    the letter's day and the days after it, so neither side has a day more to count."""
    from attendance_cli.letters.facts import read_letters

    letters = read_letters(ledger_path, policy) if policy else pl.DataFrame()
    if letters.is_empty():
        return []
    sent = marks.numbered(letters.select("pupil_id", "letter", "letter_date").unique())
    if sent.is_empty():
        return []
    frame = possible.select("pupil", "date", "category")
    span = dt.timedelta(weeks=weeks)
    joined = sent.join(frame, on="pupil").with_columns(
        pl.when(pl.col("date").is_between(pl.col("letter_date") - span, pl.col("letter_date") - dt.timedelta(days=1)))
        .then(pl.lit("before")).when(pl.col("date").is_between(pl.col("letter_date"),
                                                              pl.col("letter_date") + span - dt.timedelta(days=1)))
        .then(pl.lit("after")).alias("side")).filter(pl.col("side").is_not_null())
    table = joined.group_by("letter", "side").agg(
        possible_expr(only_possible=True).alias("possible"), attended_expr().alias("attended"),
        pl.col("pupil").n_unique().alias("pupils"))
    out = []
    for letter in sorted(table["letter"].unique().to_list()):
        rows = {r["side"]: r for r in table.filter(pl.col("letter") == letter).iter_rows(named=True)}
        if "before" not in rows or "after" not in rows:
            continue
        before = pct(rows["before"]["attended"], rows["before"]["possible"])
        after = pct(rows["after"]["attended"], rows["after"]["possible"])
        out.append({"letter": letter, "pupils": rows["before"]["pupils"], "before": before, "after": after,
                    "change": after - before})
    return out
