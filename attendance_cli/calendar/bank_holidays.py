"""Bank holidays in England and Wales, from the `holidays` package (not rules written here, which miss
the one-off ones: the Platinum Jubilee on 3 June 2022, Queen Elizabeth II's state funeral on
19 September 2022, the Coronation on 8 May 2023, and a moved spring bank holiday such as 2 June 2022).

Only weekdays are kept (a Saturday Christmas is no day off school; its substitute Monday or Tuesday
is). `holidays` is imported on first use, never at start-up.
"""

from __future__ import annotations

import datetime as dt
import functools

#: England's bank holidays; Wales has the same ones (Scotland and Northern Ireland have others).
COUNTRY, SUBDIVISION = "GB", "ENG"


@functools.cache
def _in_year(year: int) -> dict[dt.date, str]:
    import holidays

    found = holidays.country_holidays(COUNTRY, subdiv=SUBDIVISION, years=year)
    return {day: name for day, name in sorted(found.items()) if day.weekday() < 5}


def bank_holidays(*years: int) -> dict[dt.date, str]:
    """The weekday bank holidays of these calendar years, by date, with their names."""
    return {day: name for year in sorted(set(years)) for day, name in _in_year(year).items()}


def is_bank_holiday(day: dt.date) -> bool:
    return day in _in_year(day.year)


def bank_holiday_between(a: dt.date, b: dt.date) -> bool:
    """A bank holiday after `a` and before `b` (neither included)."""
    return any(a < day < b for day in bank_holidays(*range(a.year, b.year + 1)))
