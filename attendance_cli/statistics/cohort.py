"""The cohort of the DfE's national statistics: pupils of compulsory school age.

National attendance figures cover pupils aged 5 to 15 at the 31 August before the school year
(National Curriculum Year 1 to Year 11), and leave out the sessions of pupils aged 15 in the
sixth half term (reference/rules.md). A school reports every pupil; `--cohort dfe` gives the
figures that compare like for like with the national ones.

- A pupil's age comes from their date of birth where the exports give one. Otherwise it comes
  from the year group (Year 1 is 5 at 31 August, Reception 4, Nursery 3), taken as the pupil's
  year in the school year of their latest export that gives one; earlier school years count back
  from it (a pupil now in Year 1 was in Reception last year).
- The sixth half term is taken to begin on the spring bank holiday, the last Monday in May: the
  half-term holiday is that week, so no school session falls between the two.
- A pupil with neither a date of birth nor a year group that says an age is left out, and the
  reading summary says how many.
"""

from __future__ import annotations

import polars as pl

FIRST_AGE, LAST_AGE = 5, 15
#: The age of a pupil in Year 1 at 31 August; Reception is 4, Nursery 3.
YEAR_1_AGE = 5
DESCRIPTION = ("DfE cohort: pupils of compulsory school age (5 to 15 at 31 August: Year 1 to Year 11); sessions of "
               "pupils aged 15 from the spring bank holiday (the sixth half term) are not counted.")


def school_year(date: pl.Expr) -> pl.Expr:
    """The calendar year in which the date's school year starts (1 August)."""
    return (date.dt.year() - (date.dt.month() < 8).cast(pl.Int32)).cast(pl.Int32)


def nc_year(text: pl.Expr) -> pl.Expr:
    """The National Curriculum year of a year-group text ("Year 10", "10", "Y10", "NC Year 10"),
    0 for Reception and -1 for Nursery; null when the text says no year."""
    from attendance_cli.ingest.headers import NURSERY_TEXT, RECEPTION_TEXT, YEAR_NUMBER

    cleaned = text.str.strip_chars()
    digits = cleaned.str.extract(YEAR_NUMBER, 1).cast(pl.Int32)
    return (pl.when(digits.is_not_null()).then(digits)
            .when(cleaned.str.contains(RECEPTION_TEXT)).then(pl.lit(0, dtype=pl.Int32))
            .when(cleaned.str.contains(NURSERY_TEXT)).then(pl.lit(-1, dtype=pl.Int32)))


def in_sixth_half_term(date: pl.Expr) -> pl.Expr:
    """On or after the last Monday in May, before August."""
    may_31 = pl.date(date.dt.year(), 5, 31)
    bank_holiday = may_31 - pl.duration(days=may_31.dt.weekday() - 1)  # weekday: Monday 1 ... Sunday 7
    return (date >= bank_holiday) & (date.dt.month() < 8)


def period(date: pl.Expr) -> pl.Expr:
    """School year × 2, plus 1 in its sixth half term: all the cohort needs to know of a date."""
    return school_year(date) * 2 + in_sixth_half_term(date).cast(pl.Int32)


def ages(pupils: pl.DataFrame) -> pl.DataFrame:
    """`pupil_id, _cohort_year` from pupil attributes (`date_of_birth` and/or `year_group`, with
    `last_date`: the day the attributes were exported as of). The cohort year is the school year
    in which the pupil turned 0 at 31 August, so their age at 31 August of school year Y is
    Y - cohort year. Null when neither column says an age. `_birth_unreadable`: a date of birth
    is given but is not a day-first date (the caller refuses it rather than fall back)."""
    from attendance_cli.ingest.dates import date_expr, detect_formats

    candidates, unreadable = [], pl.lit(False)
    if "date_of_birth" in pupils.columns:
        given = pl.col("date_of_birth").str.strip_chars().replace("", None)
        formats = detect_formats(pupils.select(given.drop_nulls().unique())["date_of_birth"].to_list())
        birth = date_expr("date_of_birth", formats)
        candidates.append(birth.dt.year() + (birth.dt.month() >= 9).cast(pl.Int32))
        unreadable = given.is_not_null() & birth.is_null()
    if "year_group" in pupils.columns:
        # the year group is the pupil's year in the school year of their latest marks
        candidates.append(school_year(pl.col("last_date")) - nc_year(pl.col("year_group")) - (YEAR_1_AGE - 1))
    cohort_year = pl.coalesce(candidates) if candidates else pl.lit(None, dtype=pl.Int32)
    return pupils.select("pupil_id", cohort_year.cast(pl.Int32).alias("_cohort_year"),
                         unreadable.alias("_birth_unreadable"))


def in_cohort_period(marks_period: pl.Expr, cohort_year: pl.Expr) -> pl.Expr:
    """A period's marks count in the DfE cohort for a pupil of this cohort year."""
    age = marks_period // 2 - cohort_year
    sixth = (marks_period % 2) == 1
    return age.is_between(FIRST_AGE, LAST_AGE) & ~((age == LAST_AGE) & sixth)
