"""`summary`: attendance per pupil, or per group, by the DfE method."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from attendance_cli.errors import UsageError
from attendance_cli.calendar.windows import WindowChoice, require_overlap

if TYPE_CHECKING:
    import polars as pl

    from attendance_cli.dataset import Dataset
    from attendance_cli.calendar import Window
    from attendance_cli.ingest import Tally


@dataclass(frozen=True)
class SummaryOptions:
    window: WindowChoice = field(default_factory=WindowChoice)
    by: tuple[str, ...] = ()  # group by these columns (pupil details, mark columns or session)
    calendar: Path | None = None  # the calendar file named windows are made from (default: inferred)
    suppress_below: int | None = None  # with `by`: small groups hidden (statistics.suppression), None: all shown
    total: bool = True  # with `by`: the whole school's row last (ALL_PUPILS)


@dataclass(frozen=True)
class Summary:
    table: pl.DataFrame  # one row per pupil (or per group): statistics.PUPIL_COLUMNS / group columns
    tally: Tally  # the check of every row behind it (its report, rejects)
    window: Window | None
    by: tuple[str, ...]
    method: str  # how the figures are worked out, as every output states it
    unit: str  # sessions, or contact points (lessons)

    as_of: dt.date | None = None  # the --as-of given
    hidden: pl.DataFrame | None = None  # with suppress_below: a boolean per figure of `table`, true where hidden
    suppress_below: int | None = None

    @property
    def window_text(self) -> str:
        return self.tally.report.window

    @property
    def stamp(self) -> dict[str, object]:
        """The window and as-of date, as columns of the output (calendar.window_stamp)."""
        from attendance_cli.calendar import window_stamp

        return window_stamp(self.window, self.tally.report, self.as_of)


def summary(data: Dataset, options: SummaryOptions = SummaryOptions()) -> Summary:
    from attendance_cli.statistics import METHOD, group_statistics, pupil_statistics

    keys = check_by(data, list(options.by))
    from attendance_cli.dataset import NAMES

    if options.window.name is not None and set(keys) <= set(NAMES) and not options.window.dfe_cohort:
        data.read_once()  # the calendar, then the window: both from one read
    window = options.window.resolve(data, options.calendar)
    attributes = ["surname", "forename", "year_group", "form", *keys]
    result = data.tally(window, keys, attributes=attributes)
    if window is None:
        window, result = _school_year(data, result, keys, attributes)
    if options.window.dated:
        require_overlap(window, result.report)
    table = pupil_statistics(result, keys)
    hidden = None
    if keys:
        _require_values(table, keys)
        if options.total:
            table, hidden = _with_total(table, keys, data.lessons, options.suppress_below)
        else:
            table = group_statistics(table, keys, lessons=data.lessons)
    method = METHOD
    if window is not None and window.dfe_cohort:
        from attendance_cli.statistics.cohort import DESCRIPTION

        method = f"{METHOD} {DESCRIPTION}"
    if keys and options.total:
        method = f"{method} {TOTAL_TEXT}"
        if options.suppress_below is not None:
            method = f"{method} {suppression_text(options.suppress_below)}"
    unit = "contact points (lessons)" if data.lessons else "sessions"
    return Summary(table, result, window, tuple(keys), method, unit, options.window.as_of, hidden,
                   options.suppress_below if keys else None)


#: The label of the whole-school row of a grouped table, in its (first) group column.
ALL_PUPILS = "All pupils"
TOTAL_TEXT = (f"The last row, \"{ALL_PUPILS}\", is the whole school: its figures are worked out from the summed "
              "sessions and pupils, never from the groups' percentages.")


def suppression_text(below: int) -> str:
    """What a table with small numbers suppressed says of it."""
    from attendance_cli.statistics.suppression import HIDDEN

    return (f"Small numbers are suppressed ('{HIDDEN}'): groups of fewer than {below} pupils, and counts of "
            f"persistently or severely absent pupils from 1 to {below - 1} with their percentages; further figures "
            "are suppressed where a hidden one could otherwise be worked out from the others and the total.")


def _with_total(pupils: pl.DataFrame, keys: list[str], lessons: bool, below: int | None
                ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The groups' figures and, last, the whole school's (ALL_PUPILS in the first group column), with small
    numbers suppressed if `below` is given (and the mask of what is hidden)."""
    import polars as pl

    from attendance_cli.statistics import GROUP_COLUMNS, group_statistics, overall_statistics

    groups = group_statistics(pupils, keys, lessons=lessons).with_columns(pl.col(keys[0]).cast(pl.String))
    total = overall_statistics(pupils, lessons).select(
        pl.lit(ALL_PUPILS).alias(keys[0]), *[pl.lit(None, dtype=groups.schema[k]).alias(k) for k in keys[1:]],
        *GROUP_COLUMNS)
    mask = None
    if below is not None:
        from attendance_cli.statistics.suppression import suppress_table

        groups, groups_mask, total, total_mask = suppress_table(groups, total, keys, below)
        mask = pl.concat([groups_mask, total_mask])
    return pl.concat([groups, total.cast(groups.schema)]), mask


def _require_values(pupils: pl.DataFrame, keys: list[str]) -> None:
    """Refuse a --by column every pupil has blank (a warehouse export without year groups): its table would be
    one blank group of every pupil, read as a group of its own."""
    for key in keys:
        if pupils.height and pupils[key].null_count() == pupils.height:
            raise UsageError(f"--by {key}: every pupil's {key} is blank in these exports ({pupils.height:,} pupils), "
                             "so there are no groups to show.",
                             fix=f"Group by a column the exports fill in, or export the registers with a {key} column "
                                 f"(or name the export's column for it with --map 'Column name={key}').")


def _school_year(data: Dataset, result: Tally, keys: list[str], attributes: list[str]) -> tuple[Window | None, Tally]:
    """No window given: the school year of the data's last date. Exports of one school year are counted as
    they were (every date, one read); with earlier years in them (last year's leavers, last year's forms),
    they are counted again for the latest school year only, and the window says so."""
    import dataclasses

    from attendance_cli.calendar import Window, school_year_label, school_year_start

    report = result.report
    if report.first_date is None or report.last_date is None:
        return None, result
    start = school_year_start(report.last_date)
    label = f"school year {school_year_label(start)}"
    if school_year_start(report.first_date) == start:
        shown = dataclasses.replace(report, window=f"{label}: every date in the data")
        return None, dataclasses.replace(result, report=shown)
    window = Window(start, None, f"{label}, the latest in the exports (earlier school years left out: --from, "
                                 "--to or --window count them)")
    return window, data.tally(window, keys, attributes=attributes)


def check_by(data: Dataset, by: list[str]) -> list[str]:
    """The --by columns, each one the exports can be grouped by (in order, once each)."""
    from attendance_cli.ingest.headers import PUPIL_FIELDS

    export = data.export
    allowed = list(dict.fromkeys(["year_group", "form", *PUPIL_FIELDS, *export.attributes, *export.mark_fields,
                                  *([] if data.lessons else ["session"])]))
    allowed = [a for a in allowed if a not in ("full_name", "surname", "forename", "upn", "admission_number",
                                                 "admission_date", "leaving_date", "date_of_birth")]
    for key in by:
        if key not in allowed:
            raise UsageError(f"--by {key!r} is not a column of these exports.",
                             fix=f"Group by one of: {', '.join(allowed)}.")
    return list(dict.fromkeys(by))
