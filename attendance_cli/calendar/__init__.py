"""The calendar stage: school days, school weeks, half terms, terms (`school.py`), and the windows
of dates every figure is counted in (`windows.py`)."""

from attendance_cli.calendar.school import (TERMS, HalfTerm, SchoolCalendar, calendar_for, calendar_from, dates_in_data,
                                            easter_sunday, infer_calendar, load_calendar, school_days_in,
                                            school_year_label, school_year_start, term_of)
from attendance_cli.calendar.windows import (STAMP_COLUMNS, WINDOWS, Window, WindowChoice, require_overlap,
                                             require_school_days, window_stamp)

__all__ = ["STAMP_COLUMNS", "TERMS", "WINDOWS", "HalfTerm", "SchoolCalendar", "Window", "WindowChoice", "calendar_for", "calendar_from",
           "dates_in_data", "easter_sunday", "infer_calendar", "load_calendar", "require_overlap",
           "require_school_days", "school_days_in", "school_year_label", "school_year_start", "term_of",
           "window_stamp"]
