"""Numbers as people read them, the same in every output: the terminal, reports, slips and letters."""

from __future__ import annotations

#: Column headings on a terminal, short (a line break where one may go). `heading` gives the long form
#: files use (spreadsheets, reports); one place for both.
HEADINGS = {
    "pupil_id": "Pupil", "name": "Name", "surname": "Surname", "forename": "Forename", "year_group": "Year",
    "form": "Form", "possible_sessions": "Possible", "attended_sessions": "Attended",
    "authorised_absences": "Auth\nabsent", "unauthorised_absences": "Unauth\nabsent", "late_before_close": "Late\n(L)",
    "late_after_close": "Late\n(U)", "minutes_late": "Mins\nlate", "attendance_pct": "Attend\n%",
    "persistent_absence": "PA", "severe_absence": "SA", "days_missed": "Days\nmissed", "pupils": "Pupils",
    "overall_absence_pct": "Absence\n%", "authorised_absence_pct": "Auth\n%", "unauthorised_absence_pct": "Unauth\n%",
    "persistent_absence_pupils": "PA\npupils", "persistent_absence_pct": "PA\n%", "severe_absence_pupils": "SA\npupils",
    "severe_absence_pct": "SA\n%",
    # attendance trust
    "school": "School", "dfe_number": "DfE number",
}
#: Where a file's heading is not the terminal's with its line breaks taken out.
LONG_HEADINGS = {
    "pupil_id": "Pupil ID", "year_group": "Year group", "possible_sessions": "Possible sessions",
    "attended_sessions": "Attended sessions", "authorised_absences": "Authorised absences",
    "unauthorised_absences": "Unauthorised absences", "late_before_close": "Late before close (L)",
    "late_after_close": "Late after close (U)", "minutes_late": "Minutes late", "attendance_pct": "Attendance %",
    "persistent_absence": "Persistently absent", "severe_absence": "Severely absent", "overall_absence_pct": "Absence %",
    "authorised_absence_pct": "Authorised absence %", "unauthorised_absence_pct": "Unauthorised absence %",
    "persistent_absence_pupils": "Persistently absent pupils", "persistent_absence_pct": "Persistent absence %",
    "severe_absence_pupils": "Severely absent pupils", "severe_absence_pct": "Severe absence %",
    "window_start": "Window start", "window_end": "Window end", "as_of": "As of", "rule_id": "Rule",
    "first_met_on": "First met on", "evidence_sessions": "Evidence sessions", "letter_date": "Letter date",
}


def heading(column: str, long: bool = True) -> str:
    """A column's heading: on a terminal (short, with line breaks), or in a file (`long`)."""
    if long and column in LONG_HEADINGS:
        return LONG_HEADINGS[column]
    text = HEADINGS.get(column) or column.replace("_", " ")
    return " ".join(text.split()).capitalize() if long and text.islower() else " ".join(text.split()) if long else text


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
