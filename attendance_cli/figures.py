"""Every figure's arithmetic, in one place: sums of sessions, percentages and their rounding,
persistent and severe absence, days missed and bands. Summary, rules, letters, reports, slips,
digest and history all count with these, so one figure never comes out two ways.

Each figure is here twice where the code needs both: as a Polars expression (`*_expr`, over a
frame's columns) and as a Python helper on plain integers (for the few figures worked out one
pupil at a time), and the two agree for every integer input (tests/test_figures.py).

The method (DfE, "Pupil attendance in schools"; reference/rules.md):

- possible sessions = present + approved educational activity + authorised + unauthorised;
  attended = present + approved educational activity; absences = authorised + unauthorised;
- attendance % = attended / possible × 100. Shown rounded down to two decimals, worked out in
  integers (attended × 10000 // possible hundredths), so a pupil on 89.996% shows 89.99%, never
  90.00%, and the figure always agrees with the persistent-absence flag;
- persistent absence: absences of 10% or more of possible sessions (10 × absences ≥ possible);
  severe absence: 50% or more (2 × absences ≥ possible). In whole numbers: a pupil on exactly
  90.0% is persistently absent and no rounding can move them. No possible session: neither;
- days missed: two sessions make a day (none for lesson registers);
- a band runs from its `from` % (inclusive) up to the next band's; the top band includes 100%.
  The attendance is compared with the bands exactly (as fractions), unrounded.

Only the standard library and Polars are imported here: every stage can use it cheaply.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Protocol, TypeVar

import polars as pl

#: Categories that are possible sessions (the DfE denominator), in reporting order.
POSSIBLE: tuple[str, ...] = ("present", "aea", "authorised", "unauthorised")
#: Categories that count as attendance.
ATTENDED: tuple[str, ...] = ("present", "aea")
#: Categories that are absences.
ABSENT: tuple[str, ...] = ("authorised", "unauthorised")

#: Persistent absence: absences of 1/PA_SHARE (10%) or more of possible sessions.
PA_SHARE = 10
#: Severe absence: absences of 1/SA_SHARE (50%) or more of possible sessions.
SA_SHARE = 2
#: Two sessions (AM and PM) make a school day.
SESSIONS_PER_DAY = 2

#: How each percentage column is shown: attendance rounded down, overall absence up (so the two
#: still add up to 100.00 and never cross the persistent-absence line), other rates to the nearest.
ROUNDING = {"attendance_pct": "down", "overall_absence_pct": "up"}


# -- sums of sessions ----------------------------------------------------------------------------


def _count(categories: tuple[str, ...], weight: str | None, category: str) -> pl.Expr:
    """Marks in `categories`: counted one per row, or summing the `weight` column (rows that are
    counts of marks, such as a tally's `sessions`)."""
    chosen = pl.col(category).is_in(list(categories))
    return chosen.sum() if weight is None else pl.col(weight).filter(chosen).sum()


def possible_expr(weight: str | None = None, category: str = "category", *, only_possible: bool = False) -> pl.Expr:
    """Possible sessions (an aggregation over marks with a `category` column). `only_possible`: the
    rows are already only possible marks (filtered on POSSIBLE), so they are counted, not looked at
    again (a group-by over millions of marks is then half the work)."""
    if only_possible and weight is None:
        return pl.len()
    return _count(POSSIBLE, weight, category)


def attended_expr(weight: str | None = None, category: str = "category") -> pl.Expr:
    """Attended sessions (present and approved educational activity)."""
    return _count(ATTENDED, weight, category)


def absences_expr(weight: str | None = None, category: str = "category") -> pl.Expr:
    """Absences (authorised and unauthorised)."""
    return _count(ABSENT, weight, category)


def authorised_expr(weight: str | None = None, category: str = "category") -> pl.Expr:
    return _count(("authorised",), weight, category)


def unauthorised_expr(weight: str | None = None, category: str = "category") -> pl.Expr:
    return _count(("unauthorised",), weight, category)


def session_totals_expr(weight: str | None = None, category: str = "category") -> list[pl.Expr]:
    """The four sums `attendance summary` shows, named as it names them: possible_sessions,
    attended_sessions, authorised_absences, unauthorised_absences."""
    return [possible_expr(weight, category).alias("possible_sessions"),
            attended_expr(weight, category).alias("attended_sessions"),
            authorised_expr(weight, category).alias("authorised_absences"),
            unauthorised_expr(weight, category).alias("unauthorised_absences")]


def absences_of_expr(authorised: str = "authorised_absences", unauthorised: str = "unauthorised_absences") -> pl.Expr:
    """Absences from the summed authorised and unauthorised columns."""
    return pl.col(authorised) + pl.col(unauthorised)


def absences_of(authorised: int | None, unauthorised: int | None) -> int:
    """Absences from a row's authorised and unauthorised counts (a missing count is none)."""
    return (authorised or 0) + (unauthorised or 0)


# -- percentages -----------------------------------------------------------------------------------


def pct_expr(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator × 100 as a Float64, unrounded; null when the denominator is 0."""
    return pl.when(denominator > 0).then(numerator.cast(pl.Float64) * 100.0 / denominator)


def pct(numerator: int, denominator: int) -> float | None:
    """The same as a Python float (the same double: numerator × 100.0, then / denominator)."""
    if denominator <= 0:
        return None
    return numerator * 100.0 / denominator


def hundredths_down_expr(attended: pl.Expr, possible: pl.Expr) -> pl.Expr:
    """attended / possible × 100 in whole hundredths, rounded down, in integers (Int64); null when
    possible is 0."""
    return pl.when(possible > 0).then((attended.cast(pl.Int64) * 10000) // possible.cast(pl.Int64))


def hundredths_down(attended: int, possible: int) -> int | None:
    if possible <= 0:
        return None
    return attended * 10000 // possible


def pct_down_expr(attended: pl.Expr, possible: pl.Expr) -> pl.Expr:
    """Attendance % rounded down to two decimals, as text ("89.99"), exact: never 90.00 for a pupil
    who is persistently absent. Null when possible is 0."""
    hundredths = hundredths_down_expr(attended, possible)
    return pl.format("{}.{}", hundredths // 100, (hundredths % 100).cast(pl.String).str.zfill(2))


def pct_down(attended: int, possible: int) -> str | None:
    """The same for two integers: 1 of 3 is "33.33", 2 of 3 "66.66"; None when possible is 0."""
    hundredths = hundredths_down(attended, possible)
    return None if hundredths is None else hundredths_text(hundredths)


def hundredths_text(hundredths: int, signed: bool = False) -> str:
    """A whole number of hundredths as a percentage's text: 8999 -> "89.99" (signed: "+89.99",
    and -5 -> "-0.05")."""
    sign = ("-" if hundredths < 0 else "+") if signed else ("-" if hundredths < 0 else "")
    whole, part = divmod(abs(hundredths), 100)
    return f"{sign}{whole}.{part:02d}"


def points_between(before: str, after: str) -> str:
    """The change between two shown percentages ("76.88" to "79.05": "+2.17"), from the shown
    figures (two decimals each), so a table's before, after and change columns always agree."""
    return hundredths_text(int(after.replace(".", "")) - int(before.replace(".", "")), signed=True)


def rounded(value: float | None, direction: str = "nearest") -> str:
    """A percentage already worked out as a float (a group's rate), shown to two decimals:
    `down` (attendance %), `up` (overall absence %) or to the `nearest`. A float a hair off a
    whole hundredth (89.99999999 for 90) is taken as that hundredth, so a ratio of counts is
    shown as `pct_down` shows it. "" for none."""
    if value is None:
        return ""
    scaled = value * 100
    if direction == "down":
        scaled = math.floor(scaled + 1e-9)
    elif direction == "up":
        scaled = math.ceil(scaled - 1e-9)
    else:
        scaled = round(scaled)
    return f"{scaled / 100:.2f}"


def rounding_of(column: str) -> str:
    """How a percentage column is shown (ROUNDING): down, up or nearest."""
    return ROUNDING.get(column, "nearest")


# -- persistent and severe absence -------------------------------------------------------------------


def persistent_expr(absences: pl.Expr, possible: pl.Expr) -> pl.Expr:
    """Persistently absent: 10 × absences ≥ possible, in integers, with a possible session."""
    return (absences * PA_SHARE >= possible) & (possible > 0)


def persistent(absences: int, possible: int) -> bool:
    return absences * PA_SHARE >= possible and possible > 0


def severe_expr(absences: pl.Expr, possible: pl.Expr) -> pl.Expr:
    """Severely absent: 2 × absences ≥ possible, in integers, with a possible session."""
    return (absences * SA_SHARE >= possible) & (possible > 0)


def severe(absences: int, possible: int) -> bool:
    return absences * SA_SHARE >= possible and possible > 0


# -- days missed ------------------------------------------------------------------------------------


def days_missed_expr(absences: pl.Expr, lessons: bool = False) -> pl.Expr:
    """Days missed (Float64: 3 sessions are 1.5 days); null for lesson registers, which have no days."""
    if lessons:
        return pl.lit(None, dtype=pl.Float64)
    return absences.cast(pl.Float64) / SESSIONS_PER_DAY


def days_missed(absences: int, lessons: bool = False) -> float | None:
    return None if lessons else absences / SESSIONS_PER_DAY


# -- bands ----------------------------------------------------------------------------------------------


class BandLike(Protocol):
    """A policy's band (attendance_cli.rules.policy.Band): a name and the % it starts from."""

    @property
    def name(self) -> str: ...

    @property
    def from_(self) -> float: ...


B = TypeVar("B", bound=BandLike)


def band_of(attended: int, possible: int, bands: Sequence[B]) -> B | None:
    """The band this attendance is in: the last band (listed from the lowest `from` up) whose `from`
    is at or below attended / possible × 100, compared exactly (100 × attended ≥ from × possible as
    fractions), so neither rounding nor floating point can move a pupil across a band's edge.

    None when there is nothing to place: no possible session, no bands, or an attendance below every
    band's `from` (a policy's bands start from 0, so every pupil with a possible session has one)."""
    if possible <= 0:
        return None
    value = Fraction(attended * 100, possible)
    chosen = None
    for band in bands:
        if value >= Fraction(str(band.from_)):
            chosen = band
    return chosen


def band_ranges(bands: Sequence[BandLike]) -> list[tuple[str, float, float | None]]:
    """(name, from, to) per band, `to` exclusive (None for the top band, which includes 100)."""
    return [(band.name, band.from_, bands[index + 1].from_ if index + 1 < len(bands) else None)
            for index, band in enumerate(bands)]
