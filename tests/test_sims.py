"""SIMS exports: a week's marks as one string, marks from a start date as one string, a Date column
beside AM and PM columns, and SIMS' own headers (Adno, Reg Group, PersonID, AttendanceDate,
SessionName). Each is read to exactly the figures counted by hand from its marks."""

from __future__ import annotations

import datetime as dt

import pytest

from attendance_cli.errors import InputError
from tests.conftest import pupil, read, stats


def _figures(row: dict) -> tuple:
    return (row["possible_sessions"], row["attended_sessions"], row["authorised_absences"],
            row["unauthorised_absences"], row["late_before_close"], row["late_after_close"])


def test_a_week_of_marks_as_one_string(write):
    # Monday AM to Friday PM, a character a session; # is the closure code, space and - no mark
    path = write("week.csv", [
        "Adno,Legal Surname,Legal Forename,Reg Group,Year,Week Beginning,Marks",
        "001234,Nowak,Zoë,7A,7,01/09/2025,/\\/\\IN##/\\",
        "001234,Nowak,Zoë,7B,7,08/09/2025,/\\/\\/\\LU/-",
        "001235,Smith,Amy,7B,7,01/09/2025,OO/\\/\\##  ",
        "001236,Lee,Bo,7B,7,01/09/2025,/\\I",  # a short week: the rest of it has no mark
    ])
    result = read([path])
    report = result.report.files[0]
    assert (report.layout, report.rows, report.accepted, report.marks) == ("sims-week-marks", 4, 4, 40)
    assert (report.first_date, report.last_date) == (dt.date(2025, 9, 1), dt.date(2025, 9, 12))
    assert result.report.unmarked == 1 + 2 + 7
    figures = stats([path])
    # 17 possible (## are not possible, - is no mark); I and N absent; L late before, U late after close
    assert _figures(pupil(figures, "001234")) == (17, 14, 1, 2, 1, 1)
    assert (pupil(figures, "001234")["form"], pupil(figures, "001234")["surname"]) == ("7B", "Nowak")  # latest week
    assert _figures(pupil(figures, "001235")) == (6, 4, 0, 2, 0, 0)
    assert _figures(pupil(figures, "001236")) == (3, 2, 1, 0, 0, 0)


def test_marks_from_a_start_date_run_over_the_weekdays(write):
    # from Friday 05/09/2025: Friday AM and PM, then Monday and Tuesday (the weekend has no sessions)
    path = write("from.csv", ["Adno,Surname,Forename,Reg Group,Marks From,Marks",
                              "1,Nowak,Zoë,7A,05/09/2025,/\\/\\IN", "2,Smith,Amy,7B,05/09/2025,OO/\\##"])
    result = read([path])
    assert result.report.files[0].layout == "sims-mark-string"
    assert (result.report.first_date, result.report.last_date) == (dt.date(2025, 9, 5), dt.date(2025, 9, 9))
    figures = stats([path])
    assert _figures(pupil(figures, "1")) == (6, 4, 1, 1, 0, 0)
    assert _figures(pupil(figures, "2")) == (4, 2, 0, 2, 0, 0)
    # a Session column saying the first mark is a PM's; a Start Date column is the first mark's date
    pm = write("pm.csv", ["Adno,Start Date,Session,Marks", "1,05/09/2025,PM,\\/\\IN"])
    result = read([pm])
    assert (result.report.first_date, result.report.last_date) == (dt.date(2025, 9, 5), dt.date(2025, 9, 9))
    assert _figures(pupil(stats([pm]), "1")) == (5, 3, 1, 1, 0, 0)


def test_a_date_column_beside_am_and_pm_columns(write):
    path = write("ampm.csv", ["Adno,Surname,Forename,Reg Group,Date,AM,PM",
                              "1,Nowak,Zoë,7A,01/09/2025,/,\\", "1,Nowak,Zoë,7A,02/09/2025,I,I",
                              "2,Smith,Amy,7B,01/09/2025,L,\\", "2,Smith,Amy,7B,02/09/2025,N,-"])
    result = read([path])
    report = result.report.files[0]
    assert (report.layout, report.rows, report.marks, report.unmarked) == ("sims-am-pm", 4, 8, 1)
    figures = stats([path])
    assert _figures(pupil(figures, "1")) == (4, 2, 2, 0, 0, 0)
    assert _figures(pupil(figures, "2")) == (3, 2, 0, 1, 1, 0)
    bad = write("bad.csv", ["Adno,Date,AM,PM", "1,01/09/2025,/,\\", "1,06/09/2025,/,\\"])
    with pytest.raises(InputError) as raised:
        read([bad])
    assert raised.value.describe().splitlines()[0] == f"{bad}, line 3: column 'Date' has '06/09/2025', not a day-first weekday date."


def test_sims_session_marks_are_named_as_sims(write):
    path = write("sims.csv", ["PersonID,AttendanceDate,SessionName,Mark,Minutes Late,Comments",
                              "501,01/09/2025,AM,/,,", "501,01/09/2025,PM,L,5,bus"])
    result = read([path])
    assert result.report.files[0].layout == "sims-sessions"
    row = pupil(stats([path]), "501")
    assert (row["possible_sessions"], row["late_before_close"], row["minutes_late"]) == (2, 1, 5)


def test_a_code_of_two_characters_in_a_mark_string_is_refused_with_the_reason(write):
    path = write("multi.csv", ["Adno,Name,Week Beginning,Marks", '1,"Nowak, Zoë",01/09/2025,/\\/\\IN##/\\',
                               '2,"Smith, Amy",01/09/2025,/\\/\\C1##/\\', '3,"Lee, Bo",01/09/2025,/\\/\\Y3##/\\'])
    with pytest.raises(InputError) as raised:
        read([path])
    message = raised.value.describe()
    assert message.splitlines()[0] == (
        f"{path}, line 3: column 'Marks' has '/\\/\\C1##/\\', which holds 'C1', a code written with more than one "
        "character: a mark string holds one character a session, so which session each mark is for cannot be told "
        "(lines 3, 4).")
    assert "Export these registers one session a row (Date, Session, Mark) or as a register grid" in message
    too_long = write("long.csv", ["Adno,Week Beginning,Marks", "1,01/09/2025,/\\/\\/\\/\\/\\/"])
    with pytest.raises(InputError) as raised:
        read([too_long])
    assert "holds 11 characters, and a week has ten sessions (Monday AM to Friday PM)" in raised.value.describe()


def test_a_bad_mark_in_a_string_is_named_by_its_session(write):
    path = write("bad.csv", ["Adno,Week Beginning,Marks", "1,01/09/2025,/\\/\\aN##/\\"])
    with pytest.raises(InputError) as raised:
        read([path])
    assert f"{path}, line 2: unknown code; column 'Marks (03/09/2025 AM)'; value 'a'" in raised.value.describe()
    result = read([path], lenient=True)
    assert (result.report.rejected, result.report.marks) == (1, 9)


def test_a_week_read_twice_collapses_and_a_different_mark_is_a_conflict(write):
    week = "1,01/09/2025,/\\/\\IN##/\\"
    same = write("same.csv", ["Adno,Week Beginning,Marks", week, week])
    result = read([same])
    assert (result.report.duplicates_collapsed, result.report.marks) == (10, 10)
    other = write("other.csv", ["Adno,Week Beginning,Marks", week, "1,01/09/2025,/\\/\\OO##/\\"])
    with pytest.raises(InputError) as raised:
        read([other])
    assert "conflicting duplicate: pupil 1 on 03/09/2025 AM" in raised.value.describe()


def test_a_mark_string_needs_the_date_of_its_first_mark(write):
    path = write("nodate.csv", ["Adno,Name,Marks", "1,Amy,/\\/\\"])
    with pytest.raises(InputError) as raised:
        read([path])
    assert raised.value.describe().splitlines()[0] == (
        f"{path}: the header row (line 1) has a column of mark strings ('Marks') but no date for the first mark.")
