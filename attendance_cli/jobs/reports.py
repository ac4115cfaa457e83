"""`report`, `slips` and `digest`: the figures behind the half-termly report, the families' slips
and the tutors' weekly lists (the CLI typesets and writes them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attendance_cli.calendar.windows import WindowChoice, require_school_days

if TYPE_CHECKING:
    import polars as pl

    from attendance_cli.dataset import Dataset
    from attendance_cli.calendar import Window
    from attendance_cli.reports.figures import Report
    from attendance_cli.rules import Policy
    from attendance_cli.rules.triggers import PolicySettings

#: The report's "will cross a threshold within N school days" margin when the policy has no rule of its own.
AT_RISK_WITHIN = 4


# -- report -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportOptions:
    window: WindowChoice = field(default_factory=WindowChoice)  # no name and no dates: the half term
    calendar: Path | None = None
    title: str | None = None  # default "Attendance report: <window>"
    suppress_below: int = 5
    pupil_file: pl.DataFrame | None = None  # extra pupil attributes to break down by
    policy: Policy | None = None  # its ledger's letters, and its will-cross margin
    db: Path | None = None
    phase: str | None = None  # primary, secondary, special or all; default: from the year groups
    benchmark: Path | None = None  # an authority's own figures (reports.benchmarks); default: the shipped national ones


@dataclass(frozen=True)
class ReportResult:
    figures: Report
    window: Window


def report(data: Dataset, options: ReportOptions = ReportOptions()) -> ReportResult:
    from dataclasses import replace

    from attendance_cli.reports.figures import build

    from attendance_cli.reports.benchmarks import read_benchmarks

    benchmarks = read_benchmarks(options.benchmark)  # a bad file is refused before the exports are read
    choice = options.window
    if choice.name is None and not choice.dated:
        choice = replace(choice, name="half-term")
    data.read_marks_once()  # read first: the calendar and every window's figures and marks come from that read
    window = choice.resolve(data, options.calendar)
    assert window is not None
    calendar, _ = data.calendar(options.calendar)
    require_school_days(window, calendar.school_days)
    ledger_path = None
    policy = options.policy
    if policy is not None:
        from attendance_cli.rules.triggers import ledger_path_for

        ledger_path = ledger_path_for(policy, options.db)
        ledger_path = ledger_path if ledger_path.exists() else None
    within = next((rule.within for rule in (policy.rules if policy else ()) if rule.kind == "will-cross"),
                  AT_RISK_WITHIN)  # the policy's own "will cross" margin, if it has one
    figures = build(data, window, calendar, title=options.title or f"Attendance report: {window.label}",
                    suppress_below=options.suppress_below, pupil_file=options.pupil_file, ledger_path=ledger_path,
                    policy_name=policy.name if policy else None, at_risk_within=within, phase=options.phase,
                    benchmarks=benchmarks, policy=policy)
    return ReportResult(figures, window)


# -- slips ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SlipsOptions:
    settings: PolicySettings  # the policy (its bands) and its calendar and school settings
    as_of: dt.date | None = None
    window: WindowChoice | None = None  # default: the school year to date, as of `as_of`
    forms: tuple[str, ...] = ()  # only these forms' pupils (and `years`' year groups)
    years: tuple[str, ...] = ()
    text: str | None = None  # the school's own paragraph; None: the school settings' slip_text


@dataclass(frozen=True)
class SlipsResult:
    rows: list[dict[str, Any]]  # one slip's figures per pupil, in form, surname, forename order
    window: Window  # the school year to date, or the window chosen
    school: dict[str, Any] | None  # the school settings the slips are headed with
    bands: list[tuple[str, str]]  # the policy's bands (name, explanation), printed on each slip
    dates: tuple[dt.date | None, dt.date | None] = (None, None)  # the window's first and last days, on each slip
    text: str = ""  # the school's own paragraph, on each slip

    @property
    def table(self) -> pl.DataFrame:
        from attendance_cli.reports.slips import slip_frame

        return slip_frame(self.rows)


def slips(data: Dataset, options: SlipsOptions) -> SlipsResult:
    from attendance_cli.reports.slips import slips as figures

    from dataclasses import replace

    from attendance_cli.reports.slips import slip_document

    settings = options.settings
    school, text = None, options.text
    if settings.school is not None and (settings.school.exists() or settings.policy.school):
        from attendance_cli.letters.school import load_school

        settings_file = load_school(settings.school)
        school = settings_file.letter_details()
        if text is None:
            text = settings_file.slip_text
            slip_document(text, f"slip_text in {settings.school}")  # a mistake named before the exports are read
    text = text or ""
    choice = options.window or WindowChoice("ytd", options.as_of)
    if choice.name is None and not choice.dated:
        choice = replace(choice, name="ytd")
    data.read_once()  # the calendar, then the window: both from one read
    calendar, _ = data.calendar(settings.calendar_file)
    window = choice.resolve(data, settings.calendar_file)
    assert window is not None
    require_school_days(window, calendar.school_days)
    rows, dates = figures(data, window, settings.policy, options.forms, options.years)
    return SlipsResult(rows, window, school, [(b.name, b.explanation) for b in settings.policy.bands], dates, text)


# -- digest -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DigestOptions:
    by: str  # form or year_group
    as_of: dt.date | None = None
    calendar: Path | None = None
    settings: PolicySettings | None = None  # with a policy: each pupil's new trigger events, and its calendar


@dataclass(frozen=True)
class DigestResult:
    groups: dict[str, pl.DataFrame]  # {form or year group: its pupils' rows (reports.digest.COLUMNS)}
    week: str  # the week's window, described
    year: str  # the school year to date, described
    as_of: dt.date
    week_start: dt.date | None = None  # the first day of the week's window (a digest sent is known by it)

    @property
    def stamp(self) -> dict[str, object]:
        """The week, the school year and the as-of date, as columns of a CSV digest (outputs.write_frame)."""
        return {"week": self.week, "school_year": self.year, "as_of": self.as_of}


def digest(data: Dataset, options: DigestOptions) -> DigestResult:
    from attendance_cli.errors import UsageError
    from attendance_cli.reports.digest import digest as figures

    if options.by not in ("form", "year_group"):
        raise UsageError(f"--by {options.by!r}: a digest is per form or per year_group.",
                         fix="Use --by form or --by year_group.")
    settings = options.settings
    calendar_file = settings.calendar_file if settings is not None else options.calendar
    data.read_once()  # the calendar, then the week and the year: all from one read
    calendar, last = data.calendar(calendar_file)
    reference = options.as_of or last
    week = calendar.window("week", reference)
    require_school_days(week, calendar.school_days)
    new_events = None
    if settings is not None:  # the same events `triggers --new` lists with the same policy
        from attendance_cli.rules.triggers import find_triggers

        new_events = find_triggers(data, settings.policy, settings.calendar_file, reference, settings.ledger).new
    # the week's marks (its figures and its absences come from them), then the week and the year to
    # date (reports.digest counts these two windows) in one pass, unless the rules' marks are in
    # memory already (then they are counted from those)
    data.marks_between(week.start, week.end)
    data.prepare([week, calendar.window("ytd", reference)], attributes=["surname", "forename", "year_group", "form"])
    week_start = week.start
    groups, week, year = figures(data, calendar, reference, options.by, new_events)
    return DigestResult(groups, week, year, reference, week_start)
