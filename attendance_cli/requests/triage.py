"""Each request with what the policy does with it and what a person deciding needs to know.

Per request: the school days and sessions it covers (by the school's calendar), the route the
policy gives its type (authorise, decline, decide by a person; partly granted when it would go past
the policy's days for the type), whether it came in with the notice the policy asks for, how many
requests the pupil has made this school year and recently, their attendance now and what the
request would bring it to, and whether it goes to support staff for review (words in it the policy
lists, or the pattern of requests, or the attendance it would lead to). The tool never judges a
reason: it applies the school's lists.

A day is a school day when the registers show the school met on it; after the last date in the
registers, when a half term of the calendar covers it (a weekday). Where neither can tell (no
calendar file, a day after the registers end), weekdays are counted and the row says so.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import polars as pl

from attendance_cli.calendar import school_year_start
from attendance_cli.figures import pct_down_expr
from attendance_cli.rules.policy import Requests

#: Columns of the triage table, in order.
COLUMNS = ("request_id", "pupil_id", "surname", "forename", "form", "type", "date_from", "date_to", "sessions",
           "school_days", "asked_sessions", "received", "route", "decided_by", "grantable_sessions", "code",
           "declined_code", "notice", "requests_this_year", "requests_recent", "attendance_now", "attendance_after",
           "review", "review_why", "decision", "decided_on", "reason", "details", "evidence", "days_counted", "file",
           "line")


@dataclass(frozen=True)
class Calendar:
    """What the triage knows of the school's days: the days the registers show the school met (up to
    `last`) and the half terms of the calendar (from a file, or inferred from the registers)."""

    school_days: tuple[dt.date, ...] = ()
    last: dt.date | None = None
    half_terms: tuple[tuple[dt.date, dt.date], ...] = ()


def request_days(requests: pl.DataFrame, calendar: Calendar, lessons: bool) -> pl.DataFrame:
    """One row per request and school day it covers: request_id, date, sessions (2 for a whole day, 1
    for AM or PM; 1 a day for lesson registers), future (after the registers' last date), known (the
    day was judged by the registers or a calendar, not just as a weekday)."""
    days = (requests.select("request_id", "sessions", pl.date_ranges("date_from", "date_to").alias("date"))
            .explode("date").filter(pl.col("date").dt.weekday() <= 5))
    met = pl.DataFrame({"date": list(calendar.school_days)}, schema={"date": pl.Date}).with_columns(
        pl.lit(True).alias("_met"))
    in_term = pl.lit(False)
    for start, end in calendar.half_terms:  # a few half terms: one test each, over every day at once
        in_term = in_term | pl.col("date").is_between(pl.lit(start), pl.lit(end))
    last = calendar.last
    # the registers judge the days they span; before or after them, the calendar does
    first = min(calendar.school_days, default=None)
    past = pl.lit(False) if last is None or first is None else pl.col("date").is_between(pl.lit(first), pl.lit(last))
    # up to the calendar's last half term, a weekday outside every half term is a holiday
    covered = (pl.col("date") <= pl.lit(max(e for _, e in calendar.half_terms))) if calendar.half_terms else pl.lit(False)
    days = days.join(met, on="date", how="left").with_columns(
        pl.when(past).then(pl.col("_met").fill_null(False))
        .when(in_term).then(True)
        .when(covered).then(False)
        .otherwise(True).alias("school"),
        (past | in_term | covered).alias("known"),
        (pl.lit(True) if last is None else pl.col("date") > pl.lit(last)).alias("future"))
    per_day = pl.lit(1) if lessons else pl.when(pl.col("sessions") == "all").then(2).otherwise(1)
    return days.filter("school").select("request_id", "date", per_day.cast(pl.Int64).alias("n"), "future", "known")


def triage(requests: pl.DataFrame, policy: Requests, calendar: Calendar, as_of: dt.date, *, lessons: bool,
           attendance: pl.DataFrame | None, pupils: pl.DataFrame | None, decided: pl.DataFrame) -> pl.DataFrame:
    """The triage table (`COLUMNS`), one row per request, by pupil and first day.

    `attendance`: pupil_id, possible, attended over the school year to date (None: no registers);
    `pupils`: pupil_id, surname, forename, form from the registers; `decided`: the ledger's decisions
    (`decisions.DECISION_SCHEMA`)."""
    days = request_days(requests, calendar, lessons)
    per = days.group_by("request_id").agg(
        pl.col("n").sum().alias("asked_sessions"), pl.col("date").n_unique().alias("_days"),
        pl.col("n").filter(pl.col("future")).sum().alias("_future"), pl.col("known").all().alias("_known"))
    table = requests.join(per, on="request_id", how="left").with_columns(
        pl.col("asked_sessions").fill_null(0), pl.col("_future").fill_null(0), pl.col("_known").fill_null(True))
    table = table.with_columns(
        (pl.col("asked_sessions") / (1 if lessons else 2)).alias("school_days"))
    routes = pl.DataFrame([{
        "type": r.type, "_route": r.route, "decided_by": r.decided_by, "code": r.code, "declined_code": r.declined_code,
        "_per_year": None if r.days_per_year is None else r.days_per_year * (1 if lessons else 2),
        "_per_request": None if r.days_per_request is None else r.days_per_request * (1 if lessons else 2),
        "_notice_days": None if r.notice_weeks is None else 7 * r.notice_weeks, "evidence": r.evidence}
        for r in policy.route], schema={"type": pl.String, "_route": pl.String, "decided_by": pl.String,
                                        "code": pl.String, "declined_code": pl.String, "_per_year": pl.Float64,
                                        "_per_request": pl.Float64, "_notice_days": pl.Int64, "evidence": pl.String})
    table = table.join(routes, on="type", how="left")
    table = _grantable(table, decided)
    table = _counts(table, policy, as_of)
    table = _attendance(table, attendance, lessons)
    table = _review(table, policy)
    notice = pl.when(pl.col("received").is_not_null() & (pl.col("received") > pl.col("date_from"))).then(
        pl.lit("asked after the first day")).when(
        pl.col("_notice_days").is_not_null() & pl.col("received").is_not_null()
        & ((pl.col("date_from") - pl.col("received")).dt.total_days() < pl.col("_notice_days"))).then(
        pl.format("asked {} days before (the policy asks for {})",
                  (pl.col("date_from") - pl.col("received")).dt.total_days(), pl.col("_notice_days")))
    # what else a person deciding should see first: a request on no school day, one over another's days
    others = _overlaps(table, days)
    table = table.join(others, on="request_id", how="left")
    flags = [notice,
             pl.when(pl.col("asked_sessions") == 0).then(pl.lit("covers no school day")),
             pl.when(pl.col("received") > pl.lit(as_of)).then(pl.lit("received after the as-of date")),
             pl.when(pl.col("_overlaps").is_not_null()).then(pl.format("overlaps {}", pl.col("_overlaps")))]
    table = table.with_columns(pl.concat_str(flags, separator="; ", ignore_nulls=True).fill_null("").alias("notice"))
    names = pupils if pupils is not None else pl.DataFrame(
        schema={"pupil_id": pl.String, "surname": pl.String, "forename": pl.String, "form": pl.String})
    for column in ("surname", "forename", "form"):
        if column not in names.columns:
            names = names.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    table = table.join(names.select("pupil_id", pl.col("surname").alias("_s"), pl.col("forename").alias("_f"),
                                    pl.col("form")), on="pupil_id", how="left").with_columns(
        pl.coalesce(pl.col("surname").replace("", None), "_s").alias("surname"),
        pl.coalesce(pl.col("forename").replace("", None), "_f").alias("forename"))
    from attendance_cli.ledger.requests import FACTS

    mine = decided.select("request_id", "decision", "decided_on", *[pl.col(c).alias(f"_d_{c}") for c in FACTS])
    table = table.join(mine, on="request_id", how="left")
    other = pl.col("decision").is_not_null() & pl.any_horizontal(
        [pl.col(c).ne_missing(pl.col(f"_d_{c}")) for c in FACTS])
    table = table.with_columns(pl.when(other).then(pl.lit("id used for another request, decided"))
                               .otherwise(pl.col("decision")).alias("decision"))
    table = table.with_columns(
        pl.when(pl.col("_known")).then(pl.lit("school days")).otherwise(
            pl.lit("weekdays (the calendar does not cover every day: give --calendar)")).alias("days_counted"))
    return table.sort("pupil_id", "date_from", "request_id").select(COLUMNS)


def _overlaps(table: pl.DataFrame, days: pl.DataFrame) -> pl.DataFrame:
    """Per request: the pupil's other requests that ask for one of its school days (ids, joined)."""
    mine = days.select("request_id", "date").join(table.select("request_id", "pupil_id"), on="request_id")
    pairs = (mine.join(mine, on=["pupil_id", "date"], suffix="_other")
             .filter(pl.col("request_id") != pl.col("request_id_other")))
    return pairs.group_by("request_id").agg(
        pl.col("request_id_other").unique().sort().str.join(", ").alias("_overlaps"))


def _grantable(table: pl.DataFrame, decided: pl.DataFrame) -> pl.DataFrame:
    """How many of the asked sessions the policy would grant, and the route: a type the policy
    authorises is partly granted past its days per request or per school year (counting what earlier
    requests of the type were granted, or would be), declined when none are left."""
    year = _year_start(pl.col("date_from"))
    allowed = pl.when(pl.col("_per_request").is_not_null()).then(
        pl.min_horizontal(pl.col("asked_sessions").cast(pl.Float64), pl.col("_per_request"))).otherwise(
        pl.col("asked_sessions").cast(pl.Float64))
    table = table.with_columns(year.alias("_year"), allowed.alias("_allowed")).join(
        decided.select("request_id", pl.col("granted_sessions").cast(pl.Float64).alias("_granted")),
        on="request_id", how="left")
    # what earlier requests used: decided ones as decided, the rest as the policy would grant them
    listed = set(table["request_id"].to_list())
    elsewhere = (decided.filter(~pl.col("request_id").is_in(list(listed)))
                 .with_columns(_year_start(pl.col("date_from")).alias("_year"))
                 .group_by("pupil_id", "type", "_year").agg(pl.col("granted_sessions").sum().cast(pl.Float64)
                                                            .alias("_elsewhere")))
    basis = pl.coalesce("_granted", "_allowed")
    table = (table.sort("pupil_id", "type", "date_from", "request_id")
             .with_columns((basis.cum_sum().over("pupil_id", "type", "_year") - basis).alias("_before"))
             .join(elsewhere, on=["pupil_id", "type", "_year"], how="left")
             .with_columns((pl.col("_before") + pl.col("_elsewhere").fill_null(0)).alias("_used")))
    left = pl.max_horizontal(pl.lit(0.0), pl.col("_per_year") - pl.col("_used"))
    grantable = pl.when(pl.col("_per_year").is_not_null()).then(pl.min_horizontal("_allowed", left)).otherwise(
        pl.col("_allowed"))
    table = table.with_columns(grantable.alias("grantable_sessions"))
    route = (pl.when(pl.col("_route") != "authorise").then(pl.col("_route"))
             .when(pl.col("grantable_sessions") >= pl.col("asked_sessions")).then(pl.lit("authorise"))
             .when(pl.col("grantable_sessions") > 0).then(pl.lit("partial"))
             .otherwise(pl.lit("decline")))
    return table.with_columns(route.alias("route"), pl.when(pl.col("_route") == "authorise").then(
        pl.col("grantable_sessions")).alias("grantable_sessions"))


def _year_start(day: pl.Expr) -> pl.Expr:
    """1 August of the day's school year (calendar.school_year_start, as an expression)."""
    return pl.date(pl.when(day.dt.month() >= 8).then(day.dt.year()).otherwise(day.dt.year() - 1), 8, 1)


def _counts(table: pl.DataFrame, policy: Requests, as_of: dt.date) -> pl.DataFrame:
    """Per pupil: requests received this school year up to the as-of date, and in the policy's last
    `recent_weeks` (a request with no received date counts from its first day)."""
    when = pl.coalesce("received", "date_from")
    start = school_year_start(as_of)
    recent = as_of - dt.timedelta(weeks=policy.recent_weeks)
    year = (when >= pl.lit(start)) & (when <= pl.lit(as_of))
    return table.with_columns(
        year.sum().over("pupil_id").cast(pl.Int64).alias("requests_this_year"),
        ((when > pl.lit(recent)) & (when <= pl.lit(as_of))).sum().over("pupil_id").cast(pl.Int64)
        .alias("requests_recent"))


def _attendance(table: pl.DataFrame, attendance: pl.DataFrame | None, lessons: bool) -> pl.DataFrame:
    """Attendance over the school year to date, and what it would be with the request's sessions after
    the registers' last date added as absences (sessions already in the registers are already counted)."""
    if attendance is None:
        return table.with_columns(pl.lit(None, dtype=pl.Float64).alias("attendance_now"),
                                  pl.lit(None, dtype=pl.Float64).alias("attendance_after"))
    table = table.join(attendance.select("pupil_id", "possible", "attended"), on="pupil_id", how="left")
    # lesson registers: a day asked for is not a known number of contact points, so no 'after'
    after = (pl.lit(None, dtype=pl.String) if lessons
             else pct_down_expr(pl.col("attended"), pl.col("possible") + pl.col("_future")))
    # numbers (rounded down to hundredths, as every figure is), so a spreadsheet can sort and compare them
    return table.with_columns(pct_down_expr(pl.col("attended"), pl.col("possible")).cast(pl.Float64)
                              .alias("attendance_now"), after.cast(pl.Float64).alias("attendance_after"))


def _review(table: pl.DataFrame, policy: Requests) -> pl.DataFrame:
    """Whether support staff should see the request, and why, from the policy's words and patterns."""
    reasons = []
    if policy.review_words:
        # a word or phrase from the start of a word, in any case, spaces and hyphens alike: "assault" finds
        # "assaulted", "mental health" finds "Mental-health" and "mental  health"
        words = [r"[\s\-]+".join(re.escape(part) for part in w.split()) for w in policy.review_words]
        pattern = r"(?i)\b(" + "|".join(words) + r")\w*"
        said = pl.concat_str([pl.col("reason"), pl.col("details")], separator=" ")
        found = said.str.extract_all(pattern).list.eval(pl.element().str.to_lowercase()).list.unique(
            maintain_order=True).list.join(", ")
        reasons.append(pl.when(found != "").then(pl.format("mentions {}", found)))
    if policy.review_after is not None:
        reasons.append(pl.when(pl.col("requests_recent") >= policy.review_after).then(
            pl.format("{} requests in {} weeks", pl.col("requests_recent"), pl.lit(policy.recent_weeks))))
    if policy.review_below is not None:
        below = pl.col("attendance_after") < policy.review_below
        hundredths = (pl.col("attendance_after") * 100).round(0).cast(pl.Int64)
        shown = pl.format("{}.{}", hundredths // 100, (hundredths % 100).cast(pl.String).str.zfill(2))
        reasons.append(pl.when(below.fill_null(False)).then(pl.format("would bring attendance to {}%", shown)))
    why = pl.concat_str(reasons, separator="; ", ignore_nulls=True) if reasons else pl.lit("")
    table = table.with_columns(why.fill_null("").alias("review_why"))
    return table.with_columns((pl.col("review_why") != "").alias("review"),
                              pl.when(pl.col("review_why") != "").then(
                                  pl.format("for {}: ", pl.lit(policy.review_to)) + pl.col("review_why"))
                              .otherwise(pl.lit("")).alias("review_why"))
