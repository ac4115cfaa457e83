"""Which dates are counted: a window of dates (`Window`), the window a user names or the dates they
give (`WindowChoice`), made from the calendar, and the checks that keep a mistyped date from
reading as "nobody was absent"."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from attendance_cli.errors import UsageError
from attendance_cli.ingest.dates import format_date

if TYPE_CHECKING:
    from attendance_cli.dataset import Dataset
    from attendance_cli.ingest.validate import ValidationReport

@dataclass(frozen=True)
class Window:
    """A span of dates to count (inclusive). `None` on either side means open. `dfe_cohort`: count
    only the pupils and sessions of the DfE's national statistics (`statistics/cohort.py`)."""

    start: dt.date | None
    end: dt.date | None
    label: str = "all dates in the data"
    dfe_cohort: bool = False
    #: windows inside this one counted in the same pass: each row is marked with the ones it is in
    #: (ingest.scope.PERIODS), so one read gives every window's figures (Dataset.prepare)
    inner: tuple[Window, ...] = ()

    def expr(self, column: str = "date") -> pl.Expr:
        start = pl.lit(self.start or dt.date.min)
        end = pl.lit(self.end or dt.date.max)
        return pl.col(column).is_between(start, end)

    def describe(self) -> str:
        return self._dates() + ("; DfE cohort (compulsory school age)" if self.dfe_cohort else "")

    def _dates(self) -> str:
        if self.start is None and self.end is None:
            return self.label
        if self.start is None:
            return f"{self.label}: up to {format_date(self.end)}"
        if self.end is None:
            return f"{self.label}: from {format_date(self.start)}"
        return f"{self.label}: {format_date(self.start)} to {format_date(self.end)}"


#: The columns every windowed result carries in a file or a pipe (a table on a terminal says them in its title).
STAMP_COLUMNS = ("window", "window_start", "window_end", "as_of")


def window_stamp(window: Window | None, report: ValidationReport, as_of: dt.date | None = None) -> dict[str, object]:
    """What a result counted, as columns: the window's words, its first and last dates (the data's own where
    the window is open), and the date its figures are as of (`as_of` if one was given, else the last day
    counted)."""
    start = window.start if window is not None and window.start is not None else report.first_date
    end = window.end if window is not None and window.end is not None else report.last_date
    if as_of is None:
        as_of = min(d for d in (end, report.last_date) if d is not None) if (end or report.last_date) else None
    return {"window": report.window, "window_start": start, "window_end": end, "as_of": as_of}


#: The windows a calendar can make, current as of a date (SchoolCalendar.window).
WINDOWS = ("week", "last-week", "half-term", "term", "ytd", "year")


@dataclass(frozen=True)
class WindowChoice:
    """A window by name (current as of `as_of`, default the last date in the data), or the dates
    from `start` to `end`, or (neither) every date in the data up to `as_of`. `dfe_cohort`: count
    only the national statistics' cohort."""

    name: str | None = None
    as_of: dt.date | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    dfe_cohort: bool = False

    @property
    def dated(self) -> bool:
        return self.start is not None or self.end is not None

    def resolve(self, data: Dataset, calendar_file: Path | None) -> Window | None:
        """The window (None: every date in the data). A named window must hold a school day of the
        data (from the calendar the window is made from): a mistyped --as-of or a holiday week is
        refused instead of giving an empty table."""
        if self.name and self.dated:
            raise UsageError("--window cannot be combined with --from/--to.", fix="Use one or the other.")
        if self.dated:
            if self.start and self.end and self.end < self.start:
                raise UsageError("--to is before --from.")
            window: Window | None = Window(self.start, self.end, "chosen dates")
        elif self.name is None:
            # --as-of alone: the school year of that date, to it (last year's pupils are not this year's)
            window = None
            if self.as_of:
                from attendance_cli.calendar.school import school_year_label, school_year_start

                first = school_year_start(self.as_of)
                window = Window(first, self.as_of, f"school year {school_year_label(first)} to "
                                                   f"{self.as_of:%d/%m/%Y}")
        else:
            calendar, last = data.calendar(calendar_file)
            reference = self.as_of or last
            if reference is None:
                raise UsageError("The exports hold no marks, so there is no date to count from.")
            window = calendar.window(self.name, reference)
            require_school_days(window, calendar.school_days)
        if self.dfe_cohort:
            window = replace(window or Window(None, None), dfe_cohort=True)
        return window


def require_school_days(window: Window, school_days) -> None:
    """Refuse a window that holds no school day of the data: a mistyped date would otherwise give an
    empty report, slip run or digest that reads as 'nothing to report'."""
    days = sorted(school_days)
    if not days:
        raise UsageError("The exports hold no marks, so there is nothing to report.")
    start, end = window.start or days[0], window.end or days[-1]
    if not any(start <= day <= end for day in days):
        raise UsageError(f"The window {window.describe()} holds no school day of the exports, which run from "
                         f"{format_date(days[0])} to {format_date(days[-1])}.",
                         fix="Check --as-of, --from and --to (dates are day first), or leave them out to use the "
                             "last date in the data.")


def require_overlap(window: Window, report: ValidationReport) -> None:
    """--from/--to entirely outside the exports' dates is refused like an empty named window (from
    the pass's own date range: no second read)."""
    first, last = report.first_date, report.last_date
    if first is None or (window.end or last) < first or (window.start or first) > last:
        raise UsageError(f"The window {window.describe()} holds no date of the exports"
                         + (f", which run from {format_date(first)} to {format_date(last)}." if first else "."),
                         fix="Check --from and --to (dates are day first).")
