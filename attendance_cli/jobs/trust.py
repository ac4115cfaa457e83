"""`trust summary`, `trust triggers` and `trust report`: every school of a trust (or a local
authority) run as its own school, then side by side and trust-wide.

Each school is opened as its own data set, with its own calendar, policy, ledger, code table and
settings, and given to the same job a school's own run calls (`summary`, `triggers`, `report`), in
a worker process of this machine or on a Dask cluster (`attendance_cli.trust.run`). The per-school
functions here (`school_summary`, `school_triggers`, `school_report`) are what the workers run: they
take plain data and return plain data. Results carry the school's name and DfE number in their
first columns; pupils are known by (school, pupil id). The trust-wide row is worked out from the
schools' summed sessions and pupils (`statistics.summed_statistics`), never from their percentages.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from attendance_cli.calendar.windows import STAMP_COLUMNS, WindowChoice

if TYPE_CHECKING:
    import polars as pl

    from attendance_cli.trust import School, Trust

#: The columns that say which school a row is of, first in every trust table.
SCHOOL_COLUMNS = ("school", "dfe_number")
#: The school column of the trust-wide rows.
ALL_SCHOOLS = "All schools"


@dataclass(frozen=True)
class Where:
    """Where the schools run: `jobs` worker processes on this machine (None: one per CPU; 1: in
    this process), or a Dask scheduler's address."""

    jobs: int | None = None
    scheduler: str | None = None


@dataclass(frozen=True)
class Reading:
    """What was read for one school (its reading summary)."""

    files: int
    marks: int
    pupils: int
    first: dt.date | None
    last: dt.date | None
    window: str
    unmarked: int
    duplicates: int
    furniture: int
    stamp: dict[str, object] = field(default_factory=dict)  # the window and as-of date (calendar.window_stamp)


def _reading(report, stamp: dict[str, object] | None = None) -> Reading:
    return Reading(len(report.files), report.marks, report.pupils, report.first_date, report.last_date, report.window,
                   report.unmarked_in_window, report.duplicates_collapsed, report.furniture, stamp or {})


def _codes(school: School, policy) -> str:
    return school.codes or (policy.codes if policy is not None else "dfe")


def _open(school: School, codes: str):
    from attendance_cli.codes import load_code_table
    from attendance_cli.dataset import Dataset
    from attendance_cli.ingest import IngestOptions

    return Dataset.open(list(school.exports), IngestOptions(load_code_table(codes)))


def _labelled(frame: pl.DataFrame, school: School) -> pl.DataFrame:
    import polars as pl

    return frame.select(pl.lit(school.name).alias("school"), pl.lit(school.dfe_number).alias("dfe_number"), pl.all())


# -- summary ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrustSummaryOptions:
    window: WindowChoice = field(default_factory=WindowChoice)
    by: tuple[str, ...] = ()  # within each school: a pupil column such as year_group
    pupils: bool = False  # one row per pupil (with the school's columns) instead of per school
    where: Where = field(default_factory=Where)


@dataclass(frozen=True)
class _SummaryTask:
    school: School
    window: WindowChoice
    by: tuple[str, ...]
    pupils: bool


@dataclass(frozen=True)
class SchoolSummary:
    """One school's figures, as its own `summary` gives them."""

    school: str
    dfe_number: str
    total: pl.DataFrame  # one row: the school as a group (GROUP_COLUMNS)
    table: pl.DataFrame  # per group (`by`), or per pupil (PUPIL_COLUMNS), or empty
    reading: Reading
    method: str
    unit: str


def school_summary(task: _SummaryTask) -> SchoolSummary:
    """One school's `summary` (the worker's function): its figures per pupil, as a group, and per
    `by` group, with its own calendar for a named window."""
    from attendance_cli.jobs.summary import SummaryOptions, summary
    from attendance_cli.statistics import overall_statistics

    school = task.school
    policy = _load_policy(school)
    data = _open(school, _codes(school, policy))
    calendar = school.calendar or _policy_calendar(policy)
    per_pupil = summary(data, SummaryOptions(task.window, (), calendar))
    total = overall_statistics(per_pupil.table, data.lessons).drop("group")
    if task.pupils:
        table = per_pupil.table
    elif task.by:
        table = summary(data, SummaryOptions(task.window, task.by, calendar, total=False)).table
    else:
        table = total.clear()
    return SchoolSummary(school.name, school.dfe_number, total, table, _reading(per_pupil.tally.report, per_pupil.stamp),
                         per_pupil.method, per_pupil.unit)


@dataclass(frozen=True)
class TrustSummary:
    table: pl.DataFrame  # school, dfe_number, [window,] (by | pupil columns), figures; trust-wide rows last
    schools: list[SchoolSummary]
    by: tuple[str, ...]
    method: str
    unit: str

    @property
    def window_text(self) -> str:
        windows = sorted({s.reading.window for s in self.schools})
        return windows[0] if len(windows) == 1 else "each school's own window"


def trust_summary(trust: Trust, options: TrustSummaryOptions = TrustSummaryOptions()) -> TrustSummary:
    """Every school's figures (per school, per `by` group, or per pupil) and the trust-wide rows."""
    import polars as pl

    from attendance_cli.errors import UsageError
    from attendance_cli.statistics import METHOD, summed_statistics
    from attendance_cli.trust.run import run_schools

    tasks = [_SummaryTask(s, options.window, options.by, options.pupils) for s in trust.schools]
    results: list[SchoolSummary] = run_schools(school_summary, tasks, jobs=options.where.jobs,
                                               scheduler=options.where.scheduler)
    results.sort(key=lambda r: (r.school.casefold(), r.dfe_number))
    units = {r.unit for r in results}
    if len(units) > 1:
        raise UsageError("Some schools' exports are lesson registers and some session registers: their sessions "
                         "and contact points cannot be added up.",
                         fix="Run the lesson-register schools in a trust file of their own.")
    lessons = units == {"contact points (lessons)"}
    totals = pl.concat([r.total for r in results], how="vertical_relaxed")
    trust_row = summed_statistics(totals, (), lessons)
    windows = [[pl.lit(v).alias(k) for k, v in r.reading.stamp.items()] for r in results]
    stamp = _common_stamp(results)
    trust_window = [pl.lit(v).alias(k) for k, v in stamp.items()]
    if options.pupils:
        table = pl.concat([_labelled(r.table, _ref(r)).with_columns(*windows[i]) for i, r in enumerate(results)],
                          how="diagonal_relaxed")
        table = table.select("school", "dfe_number", *STAMP_COLUMNS,
                             *[c for c in table.columns if c not in ("school", "dfe_number", *STAMP_COLUMNS)])
    elif options.by:
        groups = pl.concat([_labelled(r.table, _ref(r)).with_columns(*windows[i]) for i, r in enumerate(results)],
                           how="diagonal_relaxed")
        by = list(options.by)
        combined = summed_statistics(groups, by, lessons)
        from attendance_cli.statistics import natural_order

        combined = combined.sort([natural_order(c) for c in by] + by, nulls_last=True)
        everyone = pl.concat([combined, trust_row.with_columns(pl.lit(None, dtype=groups.schema[c]).alias(c) for c in by)
                              .select(combined.columns)], how="vertical_relaxed")
        trust_rows = everyone.select(pl.lit(ALL_SCHOOLS).alias("school"), pl.lit("").alias("dfe_number"),
                                     *trust_window, pl.all())
        table = pl.concat([groups.select("school", "dfe_number", *STAMP_COLUMNS,
                                         *[c for c in groups.columns if c not in ("school", "dfe_number", *STAMP_COLUMNS)]),
                           trust_rows], how="vertical_relaxed")
    else:
        schools = pl.concat([_labelled(r.total, _ref(r)).with_columns(*windows[i]) for i, r in enumerate(results)],
                            how="vertical_relaxed")
        schools = schools.select("school", "dfe_number", *STAMP_COLUMNS,
                                 *[c for c in schools.columns if c not in ("school", "dfe_number", *STAMP_COLUMNS)])
        trust_rows = trust_row.select(pl.lit(ALL_SCHOOLS).alias("school"), pl.lit("").alias("dfe_number"),
                                      *trust_window, pl.all())
        table = pl.concat([schools, trust_rows], how="vertical_relaxed")
    method = (f"{METHOD} Each school is counted on its own, with its own calendar; pupils are known by school and "
              f"pupil id; the row '{ALL_SCHOOLS}' is worked out from the schools' summed pupils and sessions, never "
              "from their percentages.")
    return TrustSummary(table, results, options.by, method, results[0].unit if results else "sessions")


def _ref(result: SchoolSummary):
    from attendance_cli.trust import School

    return School(result.school, result.dfe_number, "", ())


def _common_stamp(results: list[SchoolSummary]) -> dict[str, object]:
    """The trust row's window and as-of date: the schools' own where they all agree; where they differ,
    the window's words say so and its dates are left blank."""
    stamp: dict[str, object] = {}
    for column in STAMP_COLUMNS:
        values = {r.reading.stamp.get(column) for r in results}
        same = values.pop() if len(values) == 1 else None
        stamp[column] = same if same is not None or column != "window" else "each school's own"
    return stamp


def _load_policy(school: School):
    from attendance_cli.rules import load_policy

    return load_policy(school.policy) if school.policy else None


def _policy_calendar(policy):
    from pathlib import Path

    if policy is None or policy.calendar == "inferred":
        return None
    return Path(policy.calendar)


# -- triggers --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrustTriggersOptions:
    as_of: dt.date | None = None  # default: each school's last date
    new_only: bool = False
    where: Where = field(default_factory=Where)


@dataclass(frozen=True)
class _TriggersTask:
    school: School
    as_of: dt.date | None
    new_only: bool


@dataclass(frozen=True)
class SchoolTriggers:
    school: str
    dfe_number: str
    policy: str
    as_of: dt.date
    ledger: str | None  # the ledger read (None: the school has none yet)
    table: pl.DataFrame  # triggers.COLUMNS
    counts: dict[str, int]  # new, recorded, stale
    reading: Reading


def school_triggers(task: _TriggersTask) -> SchoolTriggers:
    """One school's `triggers` (the worker's function): its own policy, calendar, codes and ledger.
    A school with no ledger of its own (in the trust file or its policy) reads none: every event is
    new; the working folder's default ledger is never shared between schools."""
    import polars as pl

    from dataclasses import replace

    from attendance_cli.jobs.triggers import TriggersOptions, triggers
    from attendance_cli.rules.policy import check_codes
    from attendance_cli.rules.triggers import policy_settings

    school = task.school
    policy = _load_policy(school) or _preset("dfe-national")
    settings = policy_settings(policy, calendar=school.calendar, db=school.ledger, codes=school.codes)
    if school.ledger is None and not policy.ledger:
        settings = replace(settings, ledger=None)
    data = _open(school, settings.codes)
    check_codes(policy, data.export.options.codes, school.policy or "dfe-national")
    result = triggers(data, TriggersOptions(settings, task.as_of, task.new_only))
    table = result.found.table
    counts = {s: table.filter(pl.col("status") == s).height for s in ("new", "recorded", "stale")}
    ledger = result.found.ledger_path
    return SchoolTriggers(school.name, school.dfe_number, policy.name, result.found.evaluation.as_of,
                          str(ledger) if ledger else None, result.table, counts, _reading(result.found.tally.report))


def _preset(name: str):
    from attendance_cli.rules import load_policy

    return load_policy(name)


@dataclass(frozen=True)
class TrustTriggers:
    table: pl.DataFrame  # school, dfe_number, policy, as_of, then triggers.COLUMNS
    schools: list[SchoolTriggers]


def trust_triggers(trust: Trust, options: TrustTriggersOptions = TrustTriggersOptions()) -> TrustTriggers:
    import polars as pl

    from attendance_cli.trust.run import run_schools

    tasks = [_TriggersTask(s, options.as_of, options.new_only) for s in trust.schools]
    results: list[SchoolTriggers] = run_schools(school_triggers, tasks, jobs=options.where.jobs,
                                                scheduler=options.where.scheduler)
    results.sort(key=lambda r: (r.school.casefold(), r.dfe_number))
    frames = [r.table.select(pl.lit(r.school).alias("school"), pl.lit(r.dfe_number).alias("dfe_number"),
                             pl.lit(r.policy).alias("policy"), pl.lit(r.as_of).alias("as_of"), pl.all())
              for r in results]
    return TrustTriggers(pl.concat(frames, how="vertical_relaxed"), results)


# -- report ----------------------------------------------------------------------------------------------

#: The figures each school shows in the trust report, side by side.
REPORT_FIGURES = ("pupils", "possible_sessions", "attended_sessions", "authorised_absences", "unauthorised_absences",
                  "attendance_pct", "overall_absence_pct", "authorised_absence_pct", "unauthorised_absence_pct",
                  "persistent_absence_pupils", "persistent_absence_pct", "severe_absence_pupils",
                  "severe_absence_pct", "days_missed", "late_before_close", "late_after_close", "minutes_late")


@dataclass(frozen=True)
class TrustReportOptions:
    window: WindowChoice = field(default_factory=WindowChoice)  # no name, no dates: each school's half term
    suppress_below: int = 5
    title: str | None = None
    where: Where = field(default_factory=Where)


@dataclass(frozen=True)
class _ReportTask:
    school: School
    window: WindowChoice
    suppress_below: int


@dataclass(frozen=True)
class SchoolReport:
    school: str
    dfe_number: str
    phase: str  # the trust file's, else the report's own (from the year groups)
    window: str
    headline: dict[str, Any]  # the figures of the school's own report (REPORT_FIGURES)
    benchmark: dict[str, float]  # national figures for its phase
    calendar: str


def school_report(task: _ReportTask) -> SchoolReport:
    """One school's `report` figures (the worker's function): its own window in its own calendar."""
    from attendance_cli.jobs.reports import ReportOptions, report

    school = task.school
    policy = _load_policy(school)
    data = _open(school, _codes(school, policy))
    calendar = school.calendar or _policy_calendar(policy)
    result = report(data, ReportOptions(task.window, calendar, suppress_below=task.suppress_below))
    figures = result.figures
    headline = {k: figures.headline.get(k) for k in REPORT_FIGURES}
    return SchoolReport(school.name, school.dfe_number, school.phase or figures.phase, result.window.describe(),
                        headline, dict(figures.benchmark), figures.method["calendar"])


@dataclass(frozen=True)
class TrustReport:
    title: str
    schools: list[SchoolReport]
    rows: list[dict[str, Any]]  # per school: the figures, with `hidden` (the figures suppressed, "*": all)
    total: dict[str, Any]  # the trust-wide figures, with `hidden`
    suppress_below: int
    method: str


def trust_report(trust: Trust, options: TrustReportOptions = TrustReportOptions()) -> TrustReport:
    """Every school's report figures side by side, the trust-wide figures from summed sessions, and
    small numbers suppressed (with secondary suppression: `statistics.suppression`)."""
    import polars as pl

    from attendance_cli.statistics import METHOD, summed_statistics
    from attendance_cli.statistics.suppression import hidden_figures, suppress
    from attendance_cli.trust.run import run_schools

    tasks = [_ReportTask(s, options.window, options.suppress_below) for s in trust.schools]
    results: list[SchoolReport] = run_schools(school_report, tasks, jobs=options.where.jobs,
                                              scheduler=options.where.scheduler)
    results.sort(key=lambda r: (r.school.casefold(), r.dfe_number))
    frame = pl.DataFrame([r.headline for r in results])
    lessons = all(r.headline.get("days_missed") is None for r in results)
    total = summed_statistics(frame, (), lessons).row(0, named=True)
    counts = [{k: int(r.headline[k] or 0) for k in ("pupils", "persistent_absence_pupils", "severe_absence_pupils")}
              for r in results]
    hidden, total_hidden = suppress(counts, {k: int(total[k] or 0) for k in counts[0]} if counts else {},
                                    options.suppress_below)
    rows = [{"school": r.school, "dfe_number": r.dfe_number, "phase": r.phase, "window": r.window, **r.headline,
             "hidden": hidden_figures(h)} for r, h in zip(results, hidden)]
    total_row = {"school": ALL_SCHOOLS, "dfe_number": "", "phase": "", "window": _window_of_reports(results),
                 **{k: total.get(k) for k in REPORT_FIGURES}, "hidden": hidden_figures(total_hidden)}
    title = options.title or f"{trust.name}: attendance by school"
    method = (f"{METHOD} Each school is counted on its own, with its own calendar (its current half term unless a "
              f"window is chosen); the trust row is worked out from the schools' summed pupils and sessions, never "
              f"from their percentages. Schools of fewer than {options.suppress_below} pupils, and counts of "
              f"persistently or severely absent pupils from 1 to {options.suppress_below - 1}, are suppressed; "
              "further figures are suppressed where a hidden one could otherwise be worked out from the trust total.")
    return TrustReport(title, results, rows, total_row, options.suppress_below, method)


def _window_of_reports(results: list[SchoolReport]) -> str:
    windows = sorted({r.window for r in results})
    return windows[0] if len(windows) == 1 else "each school's own"
