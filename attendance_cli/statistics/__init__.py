"""DfE attendance statistics from mark counts.

The method (DfE, "Pupil attendance in schools"; reference/rules.md):

- possible sessions = present + approved educational activity + authorised + unauthorised
  (codes that are "not counted", such as X, D, Y1–Y7, Z and `#`, are not possible sessions);
- attended = present + approved educational activity; attendance % = attended / possible × 100;
- overall absence % = (authorised + unauthorised) / possible × 100 = 100 − attendance %;
- persistent absence (PA): overall absence of 10% or more of the pupil's own possible sessions;
  severe absence (SA): 50% or more. Both are tested in whole numbers (10 × absences ≥ possible),
  so a pupil on exactly 90.0% is persistently absent and no rounding can move them;
- groups are ratios of summed sessions, never averages of pupil percentages; PA rate =
  PA pupils / pupils; pupils with no possible sessions in the window are left out;
- only sessions inside the window and between the pupil's admission and leaving dates count;
- lateness: L (before the register closed, counted as present) and U (after it closed, an
  unauthorised absence); minutes late are summed over those marks.

Lesson registers give the same figures per lesson ("contact point") instead of per session;
days missed are only given for session registers (two sessions make a day).

The arithmetic (sums by category, percentages, PA and SA, days missed) is `attendance_cli.figures`.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from attendance_cli.figures import (
    absences_of_expr, days_missed_expr, pct_expr, persistent_expr, session_totals_expr, severe_expr,
)
from attendance_cli.ingest.scope import SCOPE_COUNTED
from attendance_cli.ingest.validate import Tally

PUPIL_COLUMNS = (
    "pupil_id", "surname", "forename", "year_group", "form", "possible_sessions", "attended_sessions",
    "authorised_absences", "unauthorised_absences", "late_before_close", "late_after_close", "minutes_late",
    "attendance_pct", "persistent_absence", "severe_absence", "days_missed",
)
SESSION_COUNTS = (
    "possible_sessions", "attended_sessions", "authorised_absences", "unauthorised_absences",
    "late_before_close", "late_after_close", "minutes_late",
)
GROUP_COLUMNS = (
    "pupils", *SESSION_COUNTS, "attendance_pct", "overall_absence_pct", "authorised_absence_pct",
    "unauthorised_absence_pct", "persistent_absence_pupils", "persistent_absence_pct", "severe_absence_pupils",
    "severe_absence_pct", "days_missed",
)

METHOD = (
    "DfE method: attendance % = (present + approved educational activity) / possible sessions × 100; "
    "possible sessions exclude codes that are not counted (X, D, Q, Y1–Y7, Z, #); persistent absence = "
    "10% or more of possible sessions missed, severe absence = 50% or more; group figures are ratios of "
    "summed sessions; sessions outside the window or outside the pupil's admission and leaving dates are not counted."
)


def _session_totals() -> list[pl.Expr]:
    """The tally's counts (`sessions` marks of each code) summed per pupil: the sessions by category
    (figures), then lateness."""
    late = pl.col("late")
    return [
        *session_totals_expr(weight="sessions"),
        pl.col("sessions").filter(late == "before_close").sum().alias("late_before_close"),
        pl.col("sessions").filter(late == "after_close").sum().alias("late_after_close"),
        pl.col("minutes_late").filter(late.is_not_null()).sum().alias("minutes_late"),
    ]


def _pct(numerator: pl.Expr, denominator: str = "possible_sessions") -> pl.Expr:
    return pct_expr(numerator, pl.col(denominator))


def pupil_statistics(tally: Tally, keys: Sequence[str] = ()) -> pl.DataFrame:
    """One row per pupil (per mark-level key, if any) with the DfE figures, in `PUPIL_COLUMNS`
    order (plus any keys and pupil attributes requested in `keys`)."""
    if not tally.codes:
        raise ValueError("pupil_statistics needs a tally that counted marks code by code (tally(..., codes=True))")
    mark_keys = [k for k in keys if k in tally.by_marks]
    counts = tally.counts.filter(pl.col("scope") == SCOPE_COUNTED)
    per_pupil = (
        counts.group_by("pupil_id", *mark_keys).agg(_session_totals())
        .with_columns(pl.col(c).cast(pl.Int64) for c in SESSION_COUNTS)
        .filter(pl.col("possible_sessions") > 0)
    )
    lessons = tally.export.shape == "lessons"
    per_pupil = per_pupil.with_columns(
        _pct(pl.col("attended_sessions")).alias("attendance_pct"),
        persistent_expr(absences_of_expr(), pl.col("possible_sessions")).alias("persistent_absence"),
        severe_expr(absences_of_expr(), pl.col("possible_sessions")).alias("severe_absence"),
        days_missed_expr(absences_of_expr(), lessons).alias("days_missed"),
    )
    pupils = tally.pupils
    attribute_keys = [k for k in keys if k not in mark_keys and k not in PUPIL_COLUMNS]
    wanted = ["pupil_id", "surname", "forename", "year_group", "form", *attribute_keys]
    for column in wanted:
        if column not in pupils.columns:
            pupils = pupils.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    out = per_pupil.join(pupils.select(list(dict.fromkeys(wanted))), on="pupil_id", how="left")
    order = [*PUPIL_COLUMNS[:5], *mark_keys, *attribute_keys, *PUPIL_COLUMNS[5:]]
    return out.select(list(dict.fromkeys(order))).sort("pupil_id", *mark_keys)


def group_statistics(pupil_stats: pl.DataFrame, by: Sequence[str], lessons: bool = False) -> pl.DataFrame:
    """Figures per group: ratios of summed sessions; PA and SA rates over the group's pupils.

    `lessons`: the counts are lessons (contact points), so there are no days missed."""
    by = list(by)
    grouped = pupil_stats.group_by(by).agg(
        pl.col("pupil_id").n_unique().alias("pupils"),
        *[pl.col(c).sum() for c in SESSION_COUNTS],
        pl.col("persistent_absence").sum().cast(pl.Int64).alias("persistent_absence_pupils"),
        pl.col("severe_absence").sum().cast(pl.Int64).alias("severe_absence_pupils"),
        pl.col("pupil_id").count().alias("_enrolments"),
    )
    return _with_rates(grouped, lessons).select(*by, *GROUP_COLUMNS).sort(
        [natural_order(c) for c in by] + by, nulls_last=True)


def summed_statistics(groups: pl.DataFrame, by: Sequence[str], lessons: bool = False) -> pl.DataFrame:
    """Figures for groups of groups (a trust's schools): the groups' pupils, sessions and PA and SA
    pupils summed, and the rates worked out from the sums, as `group_statistics` works them out from
    pupils; never an average of the groups' percentages. `groups`: rows in `GROUP_COLUMNS`, whose
    pupils are all different pupils (a pupil is in one school)."""
    by = list(by)
    keys = by or [pl.lit("all").alias("_all")]
    grouped = groups.group_by(keys, maintain_order=True).agg(
        pl.col("pupils").sum().cast(pl.Int64),
        *[pl.col(c).sum().cast(pl.Int64) for c in SESSION_COUNTS],
        pl.col("persistent_absence_pupils").sum().cast(pl.Int64),
        pl.col("severe_absence_pupils").sum().cast(pl.Int64),
        pl.col("pupils").sum().cast(pl.Int64).alias("_enrolments"),
    )
    return _with_rates(grouped, lessons).select(*by, *GROUP_COLUMNS)


def natural_order(column: str) -> pl.Expr:
    """Sort key putting Reception before Year 1 and Year 7 before Year 10 (also 7A before 10A)."""
    text = pl.col(column).cast(pl.String)
    number = text.str.extract(r"(\d+)").cast(pl.Int64)
    return (pl.when(text.str.contains(r"^(?i:nursery)")).then(-1)
            .when(text.str.contains(r"^(?i:reception)")).then(0).otherwise(number))


def overall_statistics(pupil_stats: pl.DataFrame, lessons: bool = False) -> pl.DataFrame:
    """The same figures for everyone in the data, as one row."""
    return group_statistics(pupil_stats.with_columns(pl.lit("All pupils").alias("group")), ["group"], lessons)


def _with_rates(grouped: pl.DataFrame, lessons: bool) -> pl.DataFrame:
    return grouped.with_columns(
        _pct(pl.col("attended_sessions")).alias("attendance_pct"),
        _pct(absences_of_expr()).alias("overall_absence_pct"),
        _pct(pl.col("authorised_absences")).alias("authorised_absence_pct"),
        _pct(pl.col("unauthorised_absences")).alias("unauthorised_absence_pct"),
        _pct(pl.col("persistent_absence_pupils"), "_enrolments").alias("persistent_absence_pct"),
        _pct(pl.col("severe_absence_pupils"), "_enrolments").alias("severe_absence_pct"),
        days_missed_expr(absences_of_expr(), lessons).alias("days_missed"),
    )
