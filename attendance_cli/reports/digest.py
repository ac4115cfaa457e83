"""The weekly digest for each tutor or head of year: their pupils' attendance this week and this
school year, the week's absences (each code with its meaning, and its days), new trigger events
(named by the rule's description), and sessions left unmarked this week. One table per group; a
row that needs action (a new trigger event, persistent absence, an unmarked session) is marked."""

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
           "week_absence_reasons", "new_triggers", "needs_action", "new_trigger_rules")


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
        events = new_events.sort("rule_id").group_by("pupil_id", maintain_order=True).agg(
            pl.concat_str(pl.col("description").fill_null(pl.col("rule_id")), pl.lit(" ("), "value", pl.lit(")"))
            .str.join("; ").alias("new_triggers"),
            pl.col("rule_id").str.join("; ").alias("new_trigger_rules"))
        table = table.join(events, on="pupil_id", how="left")
    else:
        table = table.with_columns(pl.lit(None, dtype=pl.String).alias("new_triggers"),
                                   pl.lit(None, dtype=pl.String).alias("new_trigger_rules"))
    table = table.join(_reasons(data, week_window), on="pupil_id", how="left").with_columns(
        pl.col("new_triggers", "new_trigger_rules", "week_absence_reasons").fill_null(""))
    table = table.with_columns(
        ((pl.col("new_triggers") != "") | pl.col("persistent_absence").fill_null(False)
         | (pl.col("unmarked_this_week") > 0)).alias("needs_action")).select(COLUMNS)
    table = table.with_columns(pl.col(by).fill_null("(none)"))
    groups = {}
    for key, part in table.sort(natural_order(by), by, "surname", "forename", "pupil_id", nulls_last=True).partition_by(
            by, as_dict=True, maintain_order=True).items():
        groups[str(key[0])] = part
    return groups, week_window.describe(), year_window.describe()


def _reasons(data: Dataset, window) -> pl.DataFrame:
    """Per pupil: the week's absences by code, each with its meaning and its days, in date order:
    "I Illness: Mon 3 Nov; O Unauthorised absence: Wed 5 Nov AM". A day both of whose sessions
    were missed for one reason is the day alone; otherwise the sessions (or lessons) are named."""
    from attendance_cli.figures import ABSENT

    marks = data.marks_between(window.start, window.end)  # the week's marks only
    meanings: dict[str, str] = {}
    for code in data.export.slots.codes.codes:
        meanings.setdefault(code.code, code.meaning)
    absent = marks.lookup.filter(pl.col("category").is_in(ABSENT)).select("slot", "code")
    sessions = (marks.frame.filter(window.expr("date")).join(absent, on="slot")
                .join(marks.pupils, on="pupil").select("pupil_id", "code", "date", pl.col("session").cast(pl.String)))
    days = sessions.group_by("pupil_id", "code", "date").agg(pl.col("session").sort())
    whole = pl.col("session").list.join("+") == "AM+PM"
    days = days.with_columns(pl.concat_str(
        pl.col("date").dt.strftime("%a %-d %b"),
        pl.when(whole).then(pl.lit("")).otherwise(pl.lit(" ") + pl.col("session").list.join(", "))).alias("day"))
    codes = days.sort("date").group_by("pupil_id", "code", maintain_order=True).agg(
        pl.col("date").first().alias("first"), pl.col("day").str.join(", ").alias("days"))
    meaning = pl.col("code").replace_strict(meanings, default="", return_dtype=pl.String)
    codes = codes.with_columns(pl.concat_str(
        "code", pl.when(meaning != "").then(pl.lit(" ") + meaning).otherwise(pl.lit("")), pl.lit(": "), "days"
    ).alias("reason"))
    return codes.sort("pupil_id", "first", "code").group_by("pupil_id", maintain_order=True).agg(
        pl.col("reason").str.join("; ").alias("week_absence_reasons"))
