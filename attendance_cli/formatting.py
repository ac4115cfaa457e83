"""Numbers as people read them, the same in every output: the terminal, reports, slips and letters."""

from __future__ import annotations

import math


def plural(count: int, word: str) -> str:
    """`1 pupil`, `2 pupils`, `1,234 marks`."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def percentage(value: float | None, direction: str = "nearest") -> str:
    """Two decimals. Attendance % is rounded down and absence % up, so a pupil on 89.996% shows
    89.99% (never 90.00%) and the table always agrees with the persistent-absence flag
    (exact for up to 1,000 possible sessions); the two still add up to 100.00."""
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


def cell(column: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if column.endswith("_pct"):
        direction = {"attendance_pct": "down", "overall_absence_pct": "up"}.get(column, "nearest")
        return percentage(value, direction)  # type: ignore[arg-type]
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
