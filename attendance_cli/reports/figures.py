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

from attendance_cli.calendar import SchoolCalendar, school_year_start
from attendance_cli.calendar.bank_holidays import bank_holiday_between
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

    possible = _Possible(marks)
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


class _Possible:
    """The possible marks, counted by what each figure needs and by slot, then given their code,
    category and lateness: the millions of marks are grouped by small integers, and only the few
    thousand counts carry codes (`sessions` and `minutes_late` are the weights)."""

    def __init__(self, marks: Marks) -> None:
        self.marks = marks
        self.lookup = marks.lookup.filter(pl.col("category").is_in(POSSIBLE)).select("slot", "code", "category", "late")

    def rows(self, pupils: pl.DataFrame) -> pl.DataFrame:
        """The possible marks of these pupils, with their category."""
        return (self.marks.frame.lazy().filter(pl.col("slot").is_in(self.lookup["slot"].implode()))
                .join(pupils.lazy(), on="pupil", how="semi").join(self.lookup.lazy(), on="slot").collect())

    def counted(self, keys: list[str | pl.Expr], dates: pl.Expr | None = None) -> pl.DataFrame:
        """Possible marks counted by `keys` and code (sessions, minutes_late), with code, category, late."""
        minutes = [pl.col("minutes_late").sum().cast(pl.Int64)] if "minutes_late" in self.marks.frame.columns else []
        frame = self.marks.frame.lazy().filter(pl.col("slot").is_in(self.lookup["slot"].implode()))
        if dates is not None:
            frame = frame.filter(dates)
        # streamed: an in-memory group-by of millions of marks by pupil and slot would take gigabytes
        grouped = frame.group_by(*keys, "slot").agg(pl.len().cast(pl.Int64).alias("sessions"), *minutes)
        return grouped.collect(engine="streaming").join(self.lookup, on="slot", how="inner").drop("slot")

    def per_pupil(self, dates: pl.Expr) -> pl.DataFrame:
        """pupil, possible, absent: for the pupils with a possible mark on the dates."""
        return self.per_pupil_in({"": dates}).filter(pl.col("possible") > 0)

    def per_pupil_in(self, spans: dict[str, pl.Expr]) -> pl.DataFrame:
        """pupil, then possible{name} and absent{name} for each span of dates, in one pass: for the
        pupils with a possible mark in any of them."""
        frame = self.marks.frame.lazy().filter(pl.col("slot").is_in(self.lookup["slot"].implode()))
        frame = frame.filter(pl.any_horizontal(*spans.values()))
        grouped = (frame.group_by("pupil", "slot").agg(*[dates.sum().cast(pl.Int64).alias(f"_n{name}")
                                                          for name, dates in spans.items()])
                   .collect(engine="streaming").join(self.lookup, on="slot", how="inner"))
        return grouped.group_by("pupil").agg(*[
            expr for name in spans for expr in (possible_expr(f"_n{name}").alias(f"possible{name}"),
                                                absences_expr(f"_n{name}").alias(f"absent{name}"))])

    def pupils_with(self, slots: pl.Series, dates: pl.Expr) -> pl.Series:
        """The pupil of each mark in `slots` on the dates (one per mark)."""
        return (self.marks.frame.lazy().filter(pl.col("slot").is_in(slots.implode()) & dates).select("pupil")
                .collect()["pupil"])

    @property
    def first_date(self) -> dt.date | None:
        return (self.marks.frame.lazy().filter(pl.col("slot").is_in(self.lookup["slot"].implode()))
                .select(pl.col("date").min()).collect().item())


def _series(possible: _Possible, window: Window, export: Export) -> tuple[pl.DataFrame, list[list[float | None]], pl.DataFrame]:
    """Attendance and minutes late per school week; attendance by weekday and session; absence by code."""
    frame = possible.counted(["date", "session"], _in(window))  # a few thousand rows
    minutes = pl.col("minutes_late").filter(pl.col("late").is_not_null()).sum() if "minutes_late" in frame.columns else pl.lit(0)
    weekly = (frame.group_by(pl.col("date").dt.truncate("1w").alias("week")).agg(
        possible_expr("sessions").alias("possible"), attended_expr("sessions").alias("attended"),
        minutes.cast(pl.Int64).alias("minutes_late"))
        .with_columns(pct_expr(pl.col("attended"), pl.col("possible")).alias("attendance_pct")).sort("week"))
    heat_frame = frame.group_by(pl.col("date").dt.weekday().alias("day"), pl.col("session").cast(pl.String)).agg(
        possible_expr("sessions").alias("possible"), attended_expr("sessions").alias("attended"))
    cells = {(r["day"], r["session"]): pct(r["attended"], r["possible"]) for r in heat_frame.iter_rows(named=True)}
    heat = [[cells.get((day, session)) for session in ("AM", "PM")] for day in range(1, 6)]
    meanings = {}
    for code in export.options.codes.codes:
        meanings.setdefault(code.code, code.meaning)
    reasons = (frame.filter(pl.col("category").is_in(list(ABSENT))).group_by("code", "category")
               .agg(pl.col("sessions").sum().cast(pl.UInt32))
               .with_columns(pl.col("code").replace_strict(meanings, default="", return_dtype=pl.String).alias("meaning"))
               .sort("sessions", "code", descending=[True, False]))
    return weekly, heat, reasons


def _patterns(marks: Marks, possible: _Possible, window: Window, calendar: SchoolCalendar, pupils: pl.DataFrame,
              within: int, lessons: bool) -> dict[str, Any]:
    """Absence next to breaks and bank holidays, term-time holidays (G), runs of absence, pupils newly
    persistently or severely absent in the window, and pupils within `within` sessions of it."""
    inside = _in(window)
    # days next to a break: the last school day before and the first after a gap of more than a weekend,
    # or next to a bank holiday
    days = sorted(set(calendar.school_days))
    edges = set()
    for before, after in zip(days, days[1:]):
        if (after - before).days > 3 or bank_holiday_between(before, after):
            edges.update((before, after))
    by_day = possible.counted(["date"], inside).group_by("date").agg(
        possible_expr("sessions").alias("possible"), absences_expr("sessions").alias("absent"))
    near = by_day.filter(pl.col("date").is_in(sorted(edges)))
    rest = by_day.filter(~pl.col("date").is_in(sorted(edges)))
    rate = (lambda part: pct(int(part["absent"].sum()), int(part["possible"].sum())) if part.height else None)
    holidays = possible.pupils_with(marks.slots(codes=("G",)), inside)
    # newly PA/SA: persistently absent over the school year to the window's end, not to the day before it began
    start, end = window.start or dt.date.min, window.end or dt.date.max
    year_start = school_year_start(end) if window.end else dt.date.min
    # only pupils with a possible session in the window: a leaver's year-to-date figures would list
    # them (nameless: names come from the window's pupils) as at risk in a window they were not in
    both = possible.per_pupil_in({"": pl.col("date").is_between(year_start, end),
                                  "_before": pl.col("date").is_between(year_start, start - dt.timedelta(days=1)),
                                  "_window": inside}).filter((pl.col("possible_window") > 0) & (pl.col("possible") > 0))
    both = both.drop("possible_window", "absent_window")
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
        "holiday_sessions": holidays.len(), "holiday_pupils": holidays.n_unique(),
        "runs": _runs(marks, window, 5) if not lessons else [],
        "new_pa": listing("new_pa"), "new_sa": listing("new_sa"), "at_risk": listing("at_risk"),
        "at_risk_within": within,
    }


def _runs(marks: Marks, window: Window, days: int) -> dict[str, int]:
    """Pupils with a run of at least `days` school days absent all day (consecutive days the pupil
    had marks), a batch of pupils at a time (a pupil's runs are all in their batch)."""
    from attendance_cli.rules.engine import BATCH_MARKS

    pupils = runs = longest = 0
    for batch in marks.batches(BATCH_MARKS):
        found = batch.day_runs(batch.absent_slots, window.start, window.end)
        long = found.filter(pl.col("length") >= days)
        pupils, runs = pupils + long["pupil"].n_unique(), runs + long.height
        longest = max(longest, int(found["length"].max() or 0))
    return {"days": days, "pupils": pupils, "runs": runs, "longest": longest}


#: How much later than a year before the exports may begin and still cover last year's window:
#: school years do not start on the same weekday, nor always in the same week.
LAST_YEAR_SLACK = dt.timedelta(days=14)


def _last_year(possible: _Possible, window: Window, calendar: SchoolCalendar) -> dict[str, Any] | None:
    """The same window a year earlier (52 weeks, so weekdays line up), when the data covers it.

    Covered means the data begins by the window's first school day, a year back (with a fortnight's
    slack): a year-to-date window starts on 1 August, in the holiday, so the data never begins near
    its first date, and its comparison would never be shown."""
    if window.start is None or window.end is None:
        return None
    start, end = window.start - dt.timedelta(weeks=52), window.end - dt.timedelta(weeks=52)
    first_day = next((day for day in calendar.school_days if window.start <= day <= window.end), window.start)
    first = possible.first_date
    if first is None or first > first_day - dt.timedelta(weeks=52) + LAST_YEAR_SLACK:
        return None
    per = possible.per_pupil(pl.col("date").is_between(start, end))
    if per.height == 0:
        return None
    possible, absences = int(per["possible"].sum()), int(per["absent"].sum())
    # the share of pupils persistently absent as the mean of their flags × 100: the same double as
    # always (k × 100 / n can differ from it in the last bit, and so round the other way at a tie)
    return {"start": start, "end": end, "attendance_pct": pct(possible - absences, possible),
            "overall_absence_pct": pct(absences, possible),
            "persistent_absence_pct": float(per.select(persistent_expr(pl.col("absent"), pl.col("possible")))
                                            .to_series().mean() * 100.0)}


def _interventions(marks: Marks, possible: _Possible, ledger_path, policy: str | None, weeks: int
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
    frame = possible.rows(sent.select("pupil").unique()).select("pupil", "date", "category")
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
