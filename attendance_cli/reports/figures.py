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
from attendance_cli.reports.benchmarks import Benchmarks, read_benchmarks
from attendance_cli.statistics import METHOD, group_statistics, overall_statistics, pupil_statistics

if TYPE_CHECKING:
    from attendance_cli.dataset import Dataset

#: Pupil attributes broken down when the exports (or a pupil file) have them.
ATTRIBUTES = ("sen", "fsm", "pupil_premium", "gender", "ethnicity", "eal")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
@dataclass
class Report:
    title: str
    window: Window
    phase: str
    headline: dict[str, Any]
    last_year: dict[str, Any] | None
    benchmark: dict[str, float]
    breakdowns: list[tuple[str, list[dict[str, Any]]]]
    weekly: pl.DataFrame  # week, possible, attended, minutes_late, lates, attendance_pct
    heatmap: list[list[float | None]]
    reasons: pl.DataFrame  # code, meaning, category, sessions
    patterns: dict[str, Any]
    interventions: list[dict[str, Any]]
    method: dict[str, Any]
    suppress_below: int
    #: what the figures are compared with (reports.benchmarks): the window's period, each measure's
    #: choice, and the school year to date's persistent and severe absence beside the window's
    comparison: dict[str, Any] | None = None
    #: the (year group, form) pairs the pupils are in: forms are hidden within their year groups
    links: list[tuple[Any, Any]] | None = None
    #: what the letters table's note says: whether a policy was given, letters left out (too few
    #: school days after them) by name, the registers' last day (figures._interventions)
    letters: dict[str, Any] | None = None


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
          at_risk_within: int = 4, weeks_around_letters: int = 4, phase: str | None = None,
          benchmarks: Benchmarks | None = None, policy: Any = None) -> Report:
    export = data.export
    lessons = data.lessons
    # the marks of the window (and of the weeks around its letters) only, not the whole year's: the
    # window's figures are counted from them, and the longer windows' (the year to date, last year,
    # the patterns' school year) in one more pass over the rows the check wrote aside (Dataset.slot_counts)
    around = dt.timedelta(weeks=weeks_around_letters) if ledger_path else dt.timedelta(0)
    marks = data.marks_between(window.start and window.start - around, window.end and window.end + around)
    ytd, earlier, year = _ytd_window(data, window, calendar), _last_year_window(window, calendar), _year_of(window)
    windows = [w for w in (window, ytd, earlier) if w is not None]
    data.slot_counts([*windows, year])
    data.prepare(windows)
    counted = data.tally(window)
    pupils = pupil_statistics(counted, keys=[a for a in ATTRIBUTES if a in counted.pupils.columns])
    require_possible(pupils, window)
    if pupil_file is not None:
        extra = [c for c in pupil_file.columns if c != "pupil_id" and c not in pupils.columns]
        pupils = pupils.join(pupil_file.select("pupil_id", *extra), on="pupil_id", how="left")
    overall = overall_statistics(pupils, lessons)
    headline = _rates(overall.row(0, named=True)) if overall.height else {}
    if phase is None:
        phase = phase_of(pupils["year_group"].drop_nulls().unique().to_list()) if "year_group" in pupils.columns else "all"
    comparison = _comparison(data, window, calendar, benchmarks or read_benchmarks(), phase, lessons)

    breakdowns = []
    for column in ("year_group", "form", *[c for c in pupils.columns if c in ATTRIBUTES or (
            pupil_file is not None and c in pupil_file.columns and c != "pupil_id")]):
        if column not in pupils.columns or pupils[column].null_count() == pupils.height:
            continue
        table = group_statistics(pupils, [column], lessons)
        rows = []
        for row in table.iter_rows(named=True):  # a few dozen
            shown = {"group": row[column] if row[column] is not None else "(not recorded)", "key": row[column],
                     **_rates(row)}
            rows.append(shown)
        breakdowns.append((column, rows))
    nested = [c for c, _ in breakdowns if c in ("year_group", "form")]
    links = pupils.select(nested).unique().rows() if len(nested) == 2 else []  # which forms are in which year groups

    possible = _Possible(marks, pupils["pupil_id"] if window.dfe_cohort else None)
    marks = possible.marks  # with --cohort dfe, the cohort's pupils only
    weekly, heat, reasons = _series(possible, window, export)
    per_pupil = _per_pupil(data, possible, window)
    patterns = _patterns(marks, possible, window, calendar, pupils, at_risk_within, lessons, per_pupil)
    last_year = _last_year(data, window, calendar, lessons)
    interventions, letters = (_interventions(marks, possible, ledger_path, policy_name, weeks_around_letters, window,
                                             policy, calendar.school_days) if ledger_path else ([], {}))
    letters["policy"] = policy_name is not None
    report = counted.report
    method = {
        "text": METHOD, "codes": export.options.codes.name, "window": window.describe(),
        "calendar": calendar.source, "first": report.first_date, "last": report.last_date,
        "unmarked": report.unmarked_in_window, "unit": "lessons" if lessons else "sessions",
        "half_terms": [h.describe() for h in calendar.half_terms if h.start <= (window.end or dt.date.max)
                       and h.end >= (window.start or dt.date.min)],
    }
    benchmark = {measure: choice.value for measure, choice in comparison["window"].items()}
    report = Report(title, window, phase, headline, last_year, benchmark, breakdowns, weekly, heat, reasons,
                    patterns, interventions, method, suppress_below, comparison, links, letters)
    hide(report, anonymous=False)
    return report


def _comparison(data: Dataset, window: Window, calendar: SchoolCalendar, benchmarks: Benchmarks, phase: str,
                lessons: bool) -> dict[str, Any]:
    """Which published figure each measure is compared with (reports.benchmarks), and, for a window
    shorter than the school year to date, the school's persistent and severe absence over the year to
    date (as `summary --window ytd` gives them), compared with the national figures for the period it
    has reached: a pupil misses 10% of three weeks far more easily than 10% of a year, so a window's
    own persistent and severe absence are compared only when it spans its whole term.

    The year to date is the school year from its start: a window counts as it when it starts by the
    school year's first school day (or by 14 September when the exports begin later in the year), and
    its figures are given only when the exports reach back to the school year's start."""
    from attendance_cli.calendar import school_year_label
    from attendance_cli.reports.benchmarks import MEASURES, Choice, choose, covers, period_of

    end, year_start, opening, first_day, year_to_date = _school_year(data, window, calendar)
    period = period_of(window.start or year_start, end, year_to_date)
    year = year_start.year
    whole = year_to_date or covers(window.start or year_start, end, period)
    span = f"{window.start:%d/%m/%Y} to {end:%d/%m/%Y}" if window.start else ""
    choices = {m: choose(benchmarks, phase, period, year, m, fallback=year_to_date, whole=whole, span=span)
               for m in MEASURES}
    # authorised and unauthorised absence from the row overall absence comes from, so the three add up
    overall = choices["overall"]
    for measure in ("authorised", "unauthorised"):
        if overall.row is None:
            break
        value = overall.row.figures[measure]
        choices[measure] = Choice(value, overall.row, overall.why) if value is not None else Choice(
            None, None, "the figure overall absence is compared with does not give it")
    ytd = None
    ytd_missing = None  # the exports begin after the school year did: no year to date to show
    if not year_to_date and first_day > opening:
        ytd_missing = first_day
    elif not year_to_date:
        ytd_window = _ytd_window(data, window, calendar)
        whole_year = overall_statistics(pupil_statistics(data.tally(ytd_window)), lessons)
        row = whole_year.row(0, named=True) if whole_year.height else {}
        ytd_period = period_of(year_start, end, True)
        ytd = {"window": ytd_window, "period": ytd_period, **{k: row.get(k) for k in (
            "persistent_absence_pct", "persistent_absence_pupils", "severe_absence_pct", "severe_absence_pupils")},
               "choices": {m: choose(benchmarks, phase, ytd_period, year, m, fallback=True) for m in ("pa", "sa")}}
    return {"period": period, "school_year": school_year_label(year_start), "phase": phase, "window": choices,
            "ytd": ytd, "ytd_missing": ytd_missing, "shipped": benchmarks.shipped, "file": benchmarks.path,
            "cohort": window.dfe_cohort}


def _school_year(data: Dataset, window: Window, calendar: SchoolCalendar) -> tuple[dt.date, dt.date, dt.date, dt.date, bool]:
    """The window's end (or the data's), its school year's start, 14 September of it, its first school
    day, and whether the window counts as the year to date (_comparison)."""
    end = window.end or data.dates[1] or dt.date.today()
    year_start = school_year_start(end)
    opening = dt.date(year_start.year, 9, 14)  # the school year has begun by then (benchmarks.covers)
    first_day = min((d for d in calendar.school_days if d >= year_start), default=year_start)
    year_to_date = window.start is None or window.start <= min(first_day, opening)
    return end, year_start, opening, first_day, year_to_date


def _ytd_window(data: Dataset, window: Window, calendar: SchoolCalendar) -> Window | None:
    """The school year to date _comparison sets beside a shorter window (None: the window is the year
    to date, or the exports begin after the school year did)."""
    from attendance_cli.calendar import school_year_label

    end, year_start, opening, first_day, year_to_date = _school_year(data, window, calendar)
    if year_to_date or first_day > opening:
        return None
    return Window(year_start, end, f"school year {school_year_label(year_start)} to date", dfe_cohort=window.dfe_cohort)


def _year_of(window: Window) -> Window:
    """The school year to the window's end (all dates up to it when the window has no end)."""
    end = window.end or dt.date.max
    return Window(school_year_start(end) if window.end else dt.date.min, end)


def _per_pupil(data: Dataset, possible: _Possible, window: Window) -> pl.DataFrame:
    """Each pupil's possible sessions and absences over the school year to the window's end (possible,
    absent), that year before the window (possible_before, absent_before) and the window
    (possible_window, absent_window): for the pupils with a possible mark in any of them."""
    year = _year_of(window)
    inside = Window(window.start or dt.date.min, window.end or dt.date.max)
    counts = data.slot_counts([year, inside])
    if counts is None:  # (nothing holds the marks: every one read into memory)
        data.marks
        counts = data.slot_counts([year, inside])
    both = possible.per_pupil_in({"": counts[0], "_window": counts[1]})
    # the year before the window is the year less the window, when the window starts in it (else none)
    split = inside.start >= year.start
    before = [(pl.col(m) - pl.col(f"{m}_window") if split else pl.lit(0, dtype=pl.Int64)).alias(f"{m}_before")
              for m in ("possible", "absent")]
    return both.with_columns(before).select("pupil_id", "possible", "absent", "possible_before", "absent_before",
                                            "possible_window", "absent_window")


def hide(report: Report, anonymous: bool) -> set[str]:
    """Hide the figures of the breakdowns' groups (statistics.suppression) that are small or from
    which a small one could be worked out, setting each row's "suppressed" (the whole group), "small"
    and "hidden" (the figures hidden); returns the headline's counts hidden. Every table of the report
    is taken together: year groups and forms both add up to the headline, and each form to its year
    group (forms spanning year groups join them: `suppression.blocks`); other breakdowns (SEN, gender,
    ...) each add up to the headline alone. `anonymous` (governors): the headline's PA and SA counts
    from 1 to N - 1 are hidden too, and any the groups' protection needs."""
    from attendance_cli.statistics.suppression import COUNTS, hidden_figures, suppress_nested

    below = report.suppress_below
    headline = {c: int(report.headline.get(c) or 0) for c in COUNTS}
    tables = dict(report.breakdowns)
    counts = {column: [{c: int(r[c] or 0) for c in COUNTS} for r in rows] for column, rows in tables.items()}
    found: dict[str, list[set[str]]] = {}
    headline_hidden: set[str] = set()
    while True:  # a headline count one table hides, no other table may give away: again with it hidden
        before = set(headline_hidden)
        if "year_group" in tables and "form" in tables:
            years = {r["key"]: i for i, r in enumerate(tables["year_group"])}
            forms = {r["key"]: i for i, r in enumerate(tables["form"])}
            pairs = [(years[y], forms[f]) for y, f in report.links or [] if y in years and f in forms]
            found["year_group"], found["form"], hidden_total = suppress_nested(
                counts["year_group"], counts["form"], pairs, headline, below, anonymous, before)
            headline_hidden |= hidden_total
        for column in tables:
            if column not in ("year_group", "form") or "form" not in tables or "year_group" not in tables:
                found[column], _, hidden_total = suppress_nested(counts[column], [], [], headline, below, anonymous,
                                                                 before)
                headline_hidden |= hidden_total
        if headline_hidden == before:
            break
    for column, rows in tables.items():
        for row, hidden in zip(rows, found[column]):
            figures = hidden_figures(hidden)
            row["suppressed"] = "*" in figures  # the whole group; `hidden`: the figures hidden
            row["small"], row["hidden"] = row["pupils"] < below, figures
    return headline_hidden


def _in(window: Window) -> pl.Expr:
    return pl.col("date").is_between(window.start or dt.date.min, window.end or dt.date.max)


class _Possible:
    """The possible marks, counted by what each figure needs and by slot, then given their code,
    category and lateness: the millions of marks are grouped by small integers, and only the few
    thousand counts carry codes (`sessions` and `minutes_late` are the weights)."""

    def __init__(self, marks: Marks, pupils: pl.Series | None = None) -> None:
        if pupils is not None:  # only these pupils' marks (the DfE cohort's, by id)
            from dataclasses import replace

            numbers = marks.numbered(pupils.to_frame("pupil_id"))["pupil"]
            marks = replace(marks, frame=marks.frame.filter(pl.col("pupil").is_in(numbers.implode())), sums={})
        self.cohort = pupils
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

    def per_pupil_in(self, spans: dict[str, pl.DataFrame]) -> pl.DataFrame:
        """pupil_id, then possible{name} and absent{name} for each span of dates: for the pupils with a
        possible mark in any of them. `spans`: each span's Dataset.slot_counts."""
        measured = None
        for name, counts in spans.items():
            frame = counts if self.cohort is None else counts.filter(pl.col("pupil_id").is_in(self.cohort.implode()))
            each = frame.join(self.lookup, on="slot", how="inner").group_by("pupil_id").agg(
                possible_expr("sessions").alias(f"possible{name}"), absences_expr("sessions").alias(f"absent{name}"))
            measured = each if measured is None else measured.join(each, on="pupil_id", how="full", coalesce=True)
        return measured.fill_null(0)

    def pupils_with(self, slots: pl.Series, dates: pl.Expr) -> pl.Series:
        """The pupil of each mark in `slots` on the dates (one per mark)."""
        return (self.marks.frame.lazy().filter(pl.col("slot").is_in(slots.implode()) & dates).select("pupil")
                .collect()["pupil"])


def _series(possible: _Possible, window: Window, export: Export) -> tuple[pl.DataFrame, list[list[float | None]], pl.DataFrame]:
    """Attendance and minutes late per school week; attendance by weekday and session; absence by code."""
    frame = possible.counted(["date", "session"], _in(window))  # a few thousand rows
    minutes = pl.col("minutes_late").filter(pl.col("late").is_not_null()).sum() if "minutes_late" in frame.columns else pl.lit(0)
    weekly = (frame.group_by(pl.col("date").dt.truncate("1w").alias("week")).agg(
        possible_expr("sessions").alias("possible"), attended_expr("sessions").alias("attended"),
        minutes.cast(pl.Int64).alias("minutes_late"),
        pl.col("sessions").filter(pl.col("late").is_not_null()).sum().cast(pl.Int64).alias("lates"))
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
              within: int, lessons: bool, per_pupil: pl.DataFrame) -> dict[str, Any]:
    """Absence next to breaks and bank holidays, term-time holidays (G), runs of absence, pupils newly
    persistently or severely absent in the window, and pupils within `within` sessions of it.
    `per_pupil`: each pupil's possible sessions and absences in the window and the year (_per_pupil)."""
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
    # only pupils with a possible session in the window: a leaver's year-to-date figures would list
    # them (nameless: names come from the window's pupils) as at risk in a window they were not in
    both = per_pupil.filter((pl.col("possible_window") > 0) & (pl.col("possible") > 0))
    both = both.drop("possible_window", "absent_window")
    pa = persistent_expr(pl.col("absent"), pl.col("possible"))
    pa_before = persistent_expr(pl.col("absent_before"), pl.col("possible_before"))
    sa = severe_expr(pl.col("absent"), pl.col("possible"))
    sa_before = severe_expr(pl.col("absent_before"), pl.col("possible_before"))
    # at risk: not PA yet, has missed a session this school year, and `within` more absences out of as
    # many more sessions would make them PA. A pupil who has missed nothing is not at risk on their
    # record: early in the year (fewer than 10 × `within` sessions) `within` absences would make anyone PA
    at_risk = (~pa & (pl.col("absent") > 0)
               & persistent_expr(pl.col("absent") + within, pl.col("possible") + within))
    flagged = both.with_columns(pa.alias("pa"), (pa & ~pa_before).alias("new_pa"), (sa & ~sa_before).alias("new_sa"),
                                at_risk.alias("at_risk"))
    flagged = flagged.select(pl.exclude("pupil_id"), "pupil_id")  # (as the pupils' numbers gave them)
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


def _last_year(data: Dataset, window: Window, calendar: SchoolCalendar, lessons: bool) -> dict[str, Any] | None:
    """The same window a year earlier (52 weeks, so weekdays line up), when the data covers it:
    counted exactly as the report's own figures are (the same tally, cohort and statistics), so
    each is what `attendance summary --from --to` gives for those dates (with --cohort dfe, its
    cohort: the pupils of compulsory school age then, not this year's).

    Covered means the data begins by the window's first school day, a year back (with a fortnight's
    slack): a year-to-date window starts on 1 August, in the holiday, so the data never begins near
    its first date, and its comparison would never be shown."""
    earlier = _last_year_window(window, calendar)
    if earlier is None:
        return None
    pupils = pupil_statistics(data.tally(earlier))
    if pupils.height == 0:
        return None
    whole = overall_statistics(pupils, lessons)
    return {"start": earlier.start, "end": earlier.end, **_rates(whole.row(0, named=True))}


def _last_year_window(window: Window, calendar: SchoolCalendar) -> Window | None:
    """The same window 52 weeks earlier, when the data covers it (_last_year)."""
    if window.start is None or window.end is None:
        return None
    start, end = window.start - dt.timedelta(weeks=52), window.end - dt.timedelta(weeks=52)
    first_day = next((day for day in calendar.school_days if window.start <= day <= window.end), window.start)
    first = calendar.school_days[0] if calendar.school_days else None
    if first is None or first > first_day - dt.timedelta(weeks=52) + LAST_YEAR_SLACK:
        return None
    return Window(start, end, "the same window last year", dfe_cohort=window.dfe_cohort)


#: Letters with fewer school days of registers after them than this are left out of "Letters and
#: attendance" (and the report says how many): a few days say nothing of a letter's effect.
MIN_DAYS_AFTER = 5


def _interventions(marks: Marks, possible: _Possible, ledger_path, policy: str | None, weeks: int, window: Window,
                   rules: Any = None, school_days: tuple[dt.date, ...] = ()) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """For each letter type sent in the window: its pupils over `weeks` weeks before and after the
    letter, by attendance, or by the late rate (late marks per 100 possible sessions) for a letter
    about punctuality (its rules count late marks): a rate, as the two periods need not hold as many
    sessions.

    Before: the days up to the day before the letter; after: the letter's day and the days after it,
    `weeks` × 7 days each, or to the end of the registers. Each row says how many school days each
    side counted, and when the registers end before the after period does; letters with fewer than
    MIN_DAYS_AFTER school days after them are left out and counted. `rules`: the policy, whose rules
    name each letter (by their description) and say what it is about. Returns the rows, and what
    the table's note needs (`left_out`: letters left out by name, `registers_end`)."""
    from attendance_cli.letters.facts import read_letters

    last = school_days[-1] if school_days else None
    notes: dict[str, Any] = {"left_out": {}, "registers_end": last, "min_days_after": MIN_DAYS_AFTER, "weeks": weeks}
    letters = read_letters(ledger_path, policy) if policy else pl.DataFrame()
    if letters.is_empty():
        return [], notes
    # the letters sent in the report's window, not every letter in the ledger
    letters = letters.filter(pl.col("letter_date").is_between(window.start or dt.date.min, window.end or dt.date.max))
    sent = marks.numbered(letters.select("pupil_id", "letter", "letter_date").unique())
    if sent.is_empty():
        return [], notes
    span = dt.timedelta(weeks=weeks)
    about = _letters_about(rules)
    # the school days each side of each letter date (a few dates × a term's days)
    days = pl.DataFrame({"date": sorted(school_days)}, schema={"date": pl.Date})
    counted = (sent.select("letter_date").unique().join(days, how="cross").group_by("letter_date").agg(
        pl.col("date").is_between(pl.col("letter_date") - span, pl.col("letter_date") - dt.timedelta(days=1))
        .sum().cast(pl.Int64).alias("days_before"),
        pl.col("date").is_between(pl.col("letter_date"), pl.col("letter_date") + span - dt.timedelta(days=1))
        .sum().cast(pl.Int64).alias("days_after"))
        .with_columns((pl.col("letter_date") + span - dt.timedelta(days=1) > pl.lit(last or dt.date.max))
                      .alias("cut_short")))
    sent = sent.join(counted, on="letter_date", how="left").with_columns(pl.col("days_before", "days_after").fill_null(0))
    short = sent.filter(pl.col("days_after") < MIN_DAYS_AFTER)
    for letter, count in short.group_by("letter").agg(pl.len()).iter_rows():  # a few letter types
        notes["left_out"][about.get(letter, (letter, False))[0]] = count
    sent = sent.filter(pl.col("days_after") >= MIN_DAYS_AFTER)
    if sent.is_empty():
        return [], notes
    frame = possible.rows(sent.select("pupil").unique()).select("pupil", "date", "category", "late")
    joined = sent.join(frame, on="pupil").with_columns(
        pl.when(pl.col("date").is_between(pl.col("letter_date") - span, pl.col("letter_date") - dt.timedelta(days=1)))
        .then(pl.lit("before")).when(pl.col("date").is_between(pl.col("letter_date"),
                                                              pl.col("letter_date") + span - dt.timedelta(days=1)))
        .then(pl.lit("after")).alias("side")).filter(pl.col("side").is_not_null())
    table = joined.group_by("letter", "side").agg(
        possible_expr(only_possible=True).alias("possible"), attended_expr().alias("attended"),
        pl.col("late").is_not_null().sum().alias("lates"), pl.col("pupil").n_unique().alias("pupils"))
    lengths = sent.group_by("letter").agg(pl.col("days_before").min().alias("before_min"),
                                          pl.col("days_before").max().alias("before_max"),
                                          pl.col("days_after").min().alias("after_min"),
                                          pl.col("days_after").max().alias("after_max"), pl.col("cut_short").any())
    lengths = {r["letter"]: r for r in lengths.iter_rows(named=True)}
    out = []
    for letter in sorted(table["letter"].unique().to_list()):
        rows = {r["side"]: r for r in table.filter(pl.col("letter") == letter).iter_rows(named=True)}
        if "before" not in rows or "after" not in rows:
            continue
        name, lateness = about.get(letter, (letter, False))
        length = lengths[letter]
        entry = {"letter": letter, "name": name, "pupils": rows["before"]["pupils"],
                 "measure": "late rate" if lateness else "attendance",
                 "days_before": (length["before_min"], length["before_max"]),
                 "days_after": (length["after_min"], length["after_max"]), "cut_short": length["cut_short"],
                 "sessions_before": rows["before"]["possible"], "sessions_after": rows["after"]["possible"]}
        if lateness:  # late marks per 100 possible sessions
            entry.update(before=pct(rows["before"]["lates"], rows["before"]["possible"]),
                         after=pct(rows["after"]["lates"], rows["after"]["possible"]))
        else:
            entry.update(before=pct(rows["before"]["attended"], rows["before"]["possible"]),
                         after=pct(rows["after"]["attended"], rows["after"]["possible"]))
        entry["change"] = entry["after"] - entry["before"]
        out.append(entry)
    return out, notes


def _letters_about(policy: Any) -> dict[str, tuple[str, bool]]:
    """letter -> (its name for the report, whether it is about punctuality): the description of the
    rule that leads to it (the first stage's, when several do), and whether every such rule counts
    late marks only."""
    out: dict[str, tuple[str, bool]] = {}
    if policy is None:
        return out
    for letter in {r.letter for r in policy.rules if getattr(r, "letter", None)}:
        rules = [r for r in policy.rules if getattr(r, "letter", None) == letter]
        named = next((r.description for r in sorted(rules, key=lambda r: r.stage) if r.description), "")
        lateness = all(getattr(r, "late", False) and not getattr(r, "codes", ()) and not getattr(r, "categories", ())
                       for r in rules)
        out[letter] = (named[0].upper() + named[1:] if named else letter, lateness)
    return out
