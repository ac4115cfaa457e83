"""Numbers as people read them, the same in every output: the terminal, reports, slips and letters."""

from __future__ import annotations


def plural(count: int, word: str) -> str:
    """`1 pupil`, `2 pupils`, `1,234 marks`."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def percentage(value: float | None, direction: str = "nearest") -> str:
    """Two decimals, rounded `down` (attendance %), `up` (overall absence %) or to the `nearest`:
    `figures.rounded`, where every figure's rounding is (imported here when first used, so this
    module stays free of Polars)."""
    from attendance_cli.figures import rounded

    return rounded(value, direction)


def cell(column: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if column.endswith("_pct"):
        from attendance_cli.figures import rounded, rounding_of

        return rounded(value, rounding_of(column))  # type: ignore[arg-type]
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
