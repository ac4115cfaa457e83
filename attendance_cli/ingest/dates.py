"""Day-first dates, never month-first.

English registers write `03/09/2025` for 3 September. Accepted: `dd/mm/yyyy`, `dd-mm-yyyy`,
`dd.mm.yyyy`, `dd/mm/yy`, `dd-mm-yy`, ISO `yyyy-mm-dd`, each optionally followed by a time
(`03/09/2025 08:45`, `2025-09-03T08:45:00`). A file's formats are detected from its first rows;
a date that fits none of them is an error naming the file and line.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

import polars as pl

EARLIEST = dt.date(1990, 1, 1)
LATEST = dt.date(2099, 12, 31)

_PATTERN = re.compile(
    r"^\s*(?:(?P<dmy>(?P<d>\d{1,2})(?P<sep>[/\-.])(?P<m>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2}))"
    r"|(?P<iso>(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})))"
    r"(?:[T ](?P<time>\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)Z?)?\s*$"
)


#: A date a spreadsheet stores as a bare number: days since 30/12/1899 (45903 is 03/09/2025). Read
#: only from workbooks, and only in a date column, where a number can mean nothing else.
EXCEL_SERIAL = "excel-serial"
_SERIAL_1970 = 25569  # the serial number of 01/01/1970, day 0 of a Polars Date
_SERIAL = re.compile(r"^\s*(\d{5})(?:\.0+)?\s*$")


def _serial_date(text: str) -> dt.date | None:
    match = _SERIAL.match(text or "")
    if not match:
        return None
    value = dt.date(1970, 1, 1) + dt.timedelta(days=int(match.group(1)) - _SERIAL_1970)
    return value if EARLIEST <= value <= LATEST else None


def date_format(text: str, serials: bool = False) -> str | None:
    """The strptime format of one date text, or None if it is not a day-first date.
    `serials`: the text comes from a workbook, where 45903 is a date (`EXCEL_SERIAL`)."""
    if serials and _serial_date(text):
        return EXCEL_SERIAL
    match = _PATTERN.match(text or "")
    if not match:
        return None
    if match.group("iso"):
        fmt = "%Y-%m-%d"
        joiner = "T" if "T" in text else " "
    else:
        sep = match.group("sep")
        year = "%Y" if len(match.group("y")) == 4 else "%y"
        fmt = f"%d{sep}%m{sep}{year}"
        joiner = "T" if "T" in text else " "
    time = match.group("time")
    if time:
        parts = time.split(":")
        fmt += joiner + "%H:%M" + (":%S" if len(parts) > 2 else "")
        if "." in time:
            fmt += "%.f"
    return fmt


def parse_date(text: str, serials: bool = False) -> dt.date | None:
    """Parse one day-first date text (for headers and error messages)."""
    serial = _serial_date(text) if serials else None
    if serial:
        return serial
    fmt = date_format(text)
    if fmt is None:
        return None
    match = _PATTERN.match(text)
    assert match is not None
    try:
        if match.group("iso"):
            value = dt.date(int(match.group("iy")), int(match.group("im")), int(match.group("id")))
        else:
            year = int(match.group("y"))
            if len(match.group("y")) == 2:
                year += 2000 if year < 69 else 1900
            value = dt.date(year, int(match.group("m")), int(match.group("d")))
    except ValueError:
        return None
    return value if EARLIEST <= value <= LATEST else None


def out_of_range(text: str) -> bool:
    """A real day-first date outside the years this program reads (01/01/1900, 01/01/2100): said as such,
    not as "not a date"."""
    match = _PATTERN.match(text or "")
    if not match:
        return False
    try:
        if match.group("iso"):
            value = dt.date(int(match.group("iy")), int(match.group("im")), int(match.group("id")))
        else:
            year = int(match.group("y"))
            value = dt.date(year + (2000 if year < 69 else 1900) if len(match.group("y")) == 2 else year,
                            int(match.group("m")), int(match.group("d")))
    except ValueError:
        return False
    return not EARLIEST <= value <= LATEST


def detect_formats(values: list[str], serials: bool = False) -> list[str]:
    """Formats seen among sample values, most common first."""
    counts: dict[str, int] = {}
    for value in values:
        fmt = date_format(value, serials) if value else None
        if fmt and parse_date(value, serials):
            counts[fmt] = counts.get(fmt, 0) + 1
    return sorted(counts, key=lambda f: -counts[f])


#: Formats read by lookup instead of parsing (zero-padded, four-digit year, no time).
LOOKUP_FORMATS = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d")
LOOKUP_FIRST, LOOKUP_LAST = dt.date(1990, 1, 1), dt.date(2040, 12, 31)


@lru_cache(maxsize=8)
def _date_lookup(fmt: str) -> tuple[pl.Enum, pl.Series]:
    # built by Polars, not day by day in Python: 18,000 strftime calls were a quarter of a second
    days = pl.date_range(LOOKUP_FIRST, LOOKUP_LAST, interval="1d", eager=True)
    return pl.Enum(days.dt.strftime(fmt)), days


def padded(values: list[str], fmt: str) -> bool:
    """True if every sample value of `fmt` is written in full (03/09/2025, not 3/9/2025)."""
    return all(len(v.strip()) == 10 for v in values if v and date_format(v) == fmt)


def date_expr(column: str, formats: list[str], lookup: bool = False) -> pl.Expr:
    """Parse a text column to Date with the given day-first formats; anything else is null.

    `lookup`: the first format is zero-padded, so each text is looked up among every date from
    1990 to 2040 written that way, a hash lookup that is cheaper than parsing 20 million strings.
    Texts not found (another spelling, a bad date) are null and explained, or re-read, later.
    """
    if not formats:
        formats = ["%d/%m/%Y"]
    if lookup and formats[0] in LOOKUP_FORMATS and len(formats) == 1:
        enum, days = _date_lookup(formats[0])
        return pl.lit(days).gather(pl.col(column).cast(enum, strict=False).to_physical())
    attempts = []
    for fmt in formats:
        if fmt == EXCEL_SERIAL:
            days = pl.col(column).str.strip_chars().str.replace(r"\.0+$", "").cast(pl.Int32, strict=False)
            attempts.append(pl.when(days.is_between(_serial(EARLIEST), _serial(LATEST)))
                            .then((days - _SERIAL_1970).cast(pl.Date)))
            continue
        if "%H" in fmt:
            parsed = pl.col(column).str.strptime(pl.Datetime, fmt, strict=False).dt.date()
        else:
            parsed = pl.col(column).str.strptime(pl.Date, fmt, strict=False)
        # `%Y` reads "25" as the year 25, so each attempt is range-checked before the next is tried
        attempts.append(pl.when(parsed.is_between(pl.lit(EARLIEST), pl.lit(LATEST))).then(parsed))
    return attempts[0] if len(attempts) == 1 else pl.coalesce(attempts)


def _serial(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days + _SERIAL_1970


def format_date(value: dt.date | None) -> str:
    """How dates are shown to people: 03/09/2025."""
    return value.strftime("%d/%m/%Y") if value else ""


def month_first(value: object) -> str | None:
    """How a date that is not day first reads month first (10/24/2025 -> 24 October 2025), if it does:
    for a message that says what the writer meant."""
    import re

    match = re.fullmatch(r"\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*", str(value))
    if not match:
        return None
    try:
        day = dt.date(int(match[3]), int(match[1]), int(match[2]))
    except ValueError:
        return None
    return f"{day.day} {day:%B %Y}"  # not %-d: Windows' strftime has no such thing
