"""The weekly digest for each tutor or head of year: their pupils' attendance this week and this
school year, new trigger events, and sessions left unmarked this week. One table per group."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import polars as pl

from attendance_cli.calendar import SchoolCalendar
from attendance_cli.figures import absences_of_expr, pct_down_expr
from attendance_cli.ingest.scope import SCOPE_COUNTED
from attendance_cli.reports.figures import require_possible
from attendance_cli.statistics import natural_order, pupil_statistics

if TYPE_CHECKING:
    from attendance_cli.dataset import Dataset

COLUMNS = ("pupil_id", "surname", "forename", "year_group", "form", "week_possible", "week_absences", "week_lates",
           "week_attendance_pct", "unmarked_this_week", "ytd_attendance_pct", "ytd_days_missed", "persistent_absence",
           "new_triggers")


def digest(data: Dataset, calendar: SchoolCalendar, as_of: dt.date, by: str,
           new_events: pl.DataFrame | None = None) -> tuple[dict[str, pl.DataFrame], str, str]:
    """{group: its pupils' rows (COLUMNS)}, and the week's and the year's window descriptions."""
    week_window = calendar.window("week", as_of)
    year_window = calendar.window("ytd", as_of)
    names = ["surname", "forename", "year_group", "form"]
    week = data.tally(week_window, attributes=names)
    year = data.tally(year_window, attributes=names)
    # attendance % rounded down to two decimals in integers, as every other output shows it
    w = pupil_statistics(week).select(
        "pupil_id", pl.col("possible_sessions").alias("week_possible"),
        absences_of_expr().alias("week_absences"),
        (pl.col("late_before_close") + pl.col("late_after_close")).alias("week_lates"),
        pct_down_expr(pl.col("attended_sessions"), pl.col("possible_sessions")).alias("week_attendance_pct"))
    require_possible(w, week_window)  # a week with nothing to count is refused, not sent out as empty lists
    y = pupil_statistics(year).select(
        *["pupil_id", *names], pct_down_expr(pl.col("attended_sessions"), pl.col("possible_sessions")).alias("ytd_attendance_pct"),
        pl.col("days_missed").alias("ytd_days_missed"), "persistent_absence")
    unmarked = (week.unmarked.filter(pl.col("scope") == SCOPE_COUNTED).group_by("pupil_id")
                .agg(pl.col("sessions").sum().cast(pl.Int64).alias("unmarked_this_week")))
    table = y.join(w, on="pupil_id", how="left").join(unmarked, on="pupil_id", how="left").with_columns(
        pl.col("unmarked_this_week").fill_null(0))
    if new_events is not None and new_events.height:
        events = new_events.group_by("pupil_id").agg(
            pl.concat_str("rule_id", pl.lit(" ("), "value", pl.lit(")")).sort().str.join("; ").alias("new_triggers"))
        table = table.join(events, on="pupil_id", how="left")
    else:
        table = table.with_columns(pl.lit(None, dtype=pl.String).alias("new_triggers"))
    table = table.with_columns(pl.col("new_triggers").fill_null("")).select(COLUMNS)
    table = table.with_columns(pl.col(by).fill_null("(none)"))
    groups = {}
    for key, part in table.sort(natural_order(by), by, "surname", "forename", "pupil_id", nulls_last=True).partition_by(
            by, as_dict=True, maintain_order=True).items():
        groups[str(key[0])] = part
    return groups, week_window.describe(), year_window.describe()
