"""School weeks, half terms, terms and windows, inferred from the data or read from a file."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from attendance_cli.calendar import easter_sunday, infer_calendar, load_calendar, term_of
from attendance_cli.errors import ConfigError, UsageError
from tests.conftest import ARBOR_HEADER, csv_frame

D = dt.date


def weekdays(start: dt.date, end: dt.date, skip: set[dt.date] = frozenset()) -> list[dt.date]:
    days, day = [], start
    while day <= end:
        if day.weekday() < 5 and day not in skip:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


# 2025/26 at a typical English school, with a bank holiday and an INSET Monday inside half terms
YEAR = (weekdays(D(2025, 9, 3), D(2025, 10, 24)) + weekdays(D(2025, 11, 3), D(2025, 12, 19))
        + weekdays(D(2026, 1, 5), D(2026, 2, 13)) + weekdays(D(2026, 2, 23), D(2026, 3, 27))
        + weekdays(D(2026, 4, 13), D(2026, 5, 22), skip={D(2026, 5, 4)}) + weekdays(D(2026, 6, 1), D(2026, 7, 22)))


def test_half_terms_are_inferred_from_whole_weeks_without_school():
    cal = infer_calendar(YEAR)
    assert [(h.name, h.school_year, h.start, h.end) for h in cal.half_terms] == [
        ("Autumn 1", "2025/26", D(2025, 9, 3), D(2025, 10, 24)),
        ("Autumn 2", "2025/26", D(2025, 11, 3), D(2025, 12, 19)),
        ("Spring 1", "2025/26", D(2026, 1, 5), D(2026, 2, 13)),
        ("Spring 2", "2025/26", D(2026, 2, 23), D(2026, 3, 27)),
        ("Summer 1", "2025/26", D(2026, 4, 13), D(2026, 5, 22)),
        ("Summer 2", "2025/26", D(2026, 6, 1), D(2026, 7, 22)),
    ]
    assert cal.school_days == tuple(YEAR) and D(2026, 5, 4) not in cal.school_days


def test_a_short_break_does_not_split_a_half_term():
    days = weekdays(D(2025, 9, 1), D(2025, 9, 12), skip={D(2025, 9, 5), D(2025, 9, 8), D(2025, 9, 9)})
    assert len(infer_calendar(days).half_terms) == 1


def test_a_week_of_closure_splits_a_half_term():
    days = weekdays(D(2025, 9, 1), D(2025, 9, 5)) + weekdays(D(2025, 9, 15), D(2025, 9, 19))
    assert [h.name for h in infer_calendar(days).half_terms] == ["Autumn 1", "Autumn 2"]


@pytest.mark.parametrize(("days", "names"), [
    # exports that start after a half-term holiday: the half terms are named by their dates
    (weekdays(D(2026, 11, 2), D(2026, 11, 20)), ["Autumn 2"]),
    (weekdays(D(2026, 2, 23), D(2026, 3, 27)), ["Spring 2"]),
    (weekdays(D(2026, 6, 1), D(2026, 7, 22)), ["Summer 2"]),
    (weekdays(D(2026, 2, 23), D(2026, 3, 27)) + weekdays(D(2026, 4, 13), D(2026, 5, 22)), ["Spring 2", "Summer 1"]),
    # 2024/25: October half term 28/10-01/11, February 17-21/02, May 26-30/05 (Easter 20 April)
    (weekdays(D(2024, 11, 4), D(2024, 12, 20)) + weekdays(D(2025, 1, 6), D(2025, 2, 14))
     + weekdays(D(2025, 2, 24), D(2025, 4, 4)) + weekdays(D(2025, 4, 22), D(2025, 5, 23))
     + weekdays(D(2025, 6, 2), D(2025, 7, 22)), ["Autumn 2", "Spring 1", "Spring 2", "Summer 1", "Summer 2"]),
    # the first half term read from a date inside it: still the first
    (weekdays(D(2025, 10, 6), D(2025, 10, 24)), ["Autumn 1"]),
    (weekdays(D(2026, 1, 19), D(2026, 2, 13)), ["Spring 1"]),
    (weekdays(D(2026, 5, 11), D(2026, 5, 22)), ["Summer 1"]),
    # an export that starts in the last days of Autumn 1: the two are still told apart, in order
    (weekdays(D(2025, 10, 20), D(2025, 10, 24)) + weekdays(D(2025, 11, 3), D(2025, 11, 21)), ["Autumn 1", "Autumn 2"]),
    # a week's closure inside Autumn 2: three half terms in the term, never two of one name
    (weekdays(D(2025, 9, 3), D(2025, 10, 24)) + weekdays(D(2025, 11, 3), D(2025, 11, 21))
     + weekdays(D(2025, 12, 1), D(2025, 12, 19)), ["Autumn 1", "Autumn 2", "Autumn 3"]),
])
def test_inferred_half_terms_are_named_by_their_dates(days, names):
    assert [h.name for h in infer_calendar(days).half_terms] == names


SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


def test_an_export_of_a_second_half_term_alone_is_called_the_second(run, tmp_path):
    # a copy alone (the other sample exports are not beside it): the reviewer's case
    autumn2 = tmp_path / "autumn2.csv"
    shutil.copy(SAMPLES / "secondary_arbor_2026-27_autumn2.csv", autumn2)
    result = run("summary", autumn2, "--window", "half-term", "-f", "csv")
    assert result.exit_code == 0, result.stderr
    assert "counting half term Autumn 2 2026/27: 02/11/2026 to 20/11/2026." in result.stderr
    spring2 = run("summary", SAMPLES / "secondary_arbor_2025-26_spring2.csv", "--window", "half-term", "-f", "csv")
    assert "counting half term Spring 2 2025/26: 23/02/2026 to 27/03/2026." in spring2.stderr
    shown = csv_frame(run("calendar", SAMPLES / "secondary_arbor_2025-26_spring2.csv", "-f", "csv").stdout)
    assert shown.select("half_term", "start", "end").rows() == [("Spring 2", "2026-02-23", "2026-03-27")]


def test_a_calendar_files_own_names_are_kept(write):
    path = write("cal.csv", ["name,start,end", "Second half,03/11/2025,19/12/2025", "Autumn 1,05/01/2026,13/02/2026"])
    assert [h.name for h in load_calendar(path, YEAR).half_terms] == ["Second half", "Autumn 1"]


def test_terms_follow_easter_and_the_school_year_starts_in_august():
    assert easter_sunday(2026) == D(2026, 4, 5) and easter_sunday(2025) == D(2025, 4, 20)
    assert [term_of(d) for d in (D(2025, 8, 1), D(2026, 1, 5), D(2026, 4, 5), D(2026, 4, 6), D(2026, 7, 31))] == [
        "autumn", "spring", "spring", "summer", "summer"]


@pytest.mark.parametrize(("window", "as_of", "expected"), [
    ("week", D(2025, 11, 19), (D(2025, 11, 17), D(2025, 11, 19), "week of 17/11/2025")),
    ("last-week", D(2025, 11, 19), (D(2025, 11, 10), D(2025, 11, 16), "school week of 10/11/2025")),
    # run on data up to Friday: the week just finished
    ("last-week", D(2025, 11, 21), (D(2025, 11, 17), D(2025, 11, 23), "school week of 17/11/2025")),
    # the week after half term: the last complete school week is before the holiday
    ("last-week", D(2025, 11, 5), (D(2025, 10, 20), D(2025, 10, 26), "school week of 20/10/2025")),
    ("half-term", D(2025, 11, 19), (D(2025, 11, 3), D(2025, 11, 19), "half term Autumn 2 2025/26")),
    # during a holiday, the half term that has just ended
    ("half-term", D(2025, 10, 29), (D(2025, 9, 3), D(2025, 10, 24), "half term Autumn 1 2025/26")),
    ("term", D(2026, 3, 2), (D(2026, 1, 5), D(2026, 3, 2), "spring term 2025/26")),
    ("ytd", D(2026, 3, 2), (D(2025, 8, 1), D(2026, 3, 2), "school year 2025/26 to date")),
    ("year", D(2026, 3, 2), (D(2025, 8, 1), D(2026, 7, 31), "school year 2025/26")),
])
def test_named_windows(window, as_of, expected):
    chosen = infer_calendar(YEAR).window(window, as_of)
    assert (chosen.start, chosen.end, chosen.label) == expected


def test_school_weeks_are_weeks_with_a_session():
    cal = infer_calendar(YEAR)
    weeks = cal.school_weeks(D(2025, 10, 13), D(2025, 11, 9))
    assert weeks == [D(2025, 10, 13), D(2025, 10, 20), D(2025, 11, 3)]


def test_calendar_file_toml_and_csv(write):
    toml = write("cal.toml", '[[half_term]]\nname = "Autumn 1"\nstart = 2025-09-03\nend = 2025-10-24\n'
                             '[[half_term]]\nname = "Autumn 2"\nstart = 2025-11-03\nend = 2025-12-19\n')
    csv = write("cal.csv", ["name,start,end", "Autumn 1,03/09/2025,24/10/2025", "Autumn 2,03/11/2025,19/12/2025"])
    for path in (toml, csv):
        cal = load_calendar(path, YEAR)
        assert [(h.name, h.term, h.start, h.end) for h in cal.half_terms] == [
            ("Autumn 1", "autumn", D(2025, 9, 3), D(2025, 10, 24)), ("Autumn 2", "autumn", D(2025, 11, 3), D(2025, 12, 19))]
        assert cal.window("term", D(2025, 12, 1)).start == D(2025, 9, 3)


def test_calendar_file_errors(write):
    with pytest.raises(ConfigError, match="half_term 1 has unknown key"):
        load_calendar(write("bad.toml", '[[half_term]]\nname = "A"\nstart = 2025-09-03\nend = 2025-10-24\nweeks = 7\n'))
    with pytest.raises(ConfigError, match="half term 1 \\(Autumn 1\\) ends \\('03/09/2025'\\) before it starts"):
        load_calendar(write("bad.csv", ["name,start,end", "Autumn 1,24/10/2025,03/09/2025"]))
    with pytest.raises(ConfigError, match="end '10/24/2025' is not a day-first date \\(it reads as month first: "
                                          "24 October 2025\\)"):
        load_calendar(write("us.csv", ["name,start,end", "Autumn 1,09/03/2025,10/24/2025"]))
    with pytest.raises(ConfigError, match="runs from '03/09/2025' to '24/10/2225'|end '24/10/2225' is not a real date"):
        load_calendar(write("long.csv", ["name,start,end", "Autumn 1,03/09/2025,24/10/2225"]))
    with pytest.raises(ConfigError, match="runs from '03/09/2025' to '24/10/2026', 416 days: longer than any half term"):
        load_calendar(write("year.csv", ["name,start,end", "Autumn 1,03/09/2025,24/10/2026"]))
    with pytest.raises(ConfigError, match="Autumn 1 and Autumn 2 overlap"):
        load_calendar(write("o.csv", ["name,start,end", "Autumn 1,03/09/2025,24/10/2025", "Autumn 2,20/10/2025,19/12/2025"]))


def test_no_half_term_before_as_of_is_a_usage_error():
    with pytest.raises(UsageError, match="No half term starts on or before 01/08/2025"):
        infer_calendar(YEAR).window("half-term", D(2025, 8, 1))


def _rows(days: list[dt.date], mark_for) -> list[str]:
    return [f"1,A,B,3,3A,{d:%d/%m/%Y},{s},{mark_for(d, s)}," for d in days for s in ("AM", "PM")]


def test_closure_days_are_not_school_days_and_windows_count_only_their_dates(write, run):
    days = weekdays(D(2025, 11, 3), D(2025, 11, 21))
    closed = {D(2025, 11, 14)}

    def mark(day, session):
        if day in closed:
            return "#"
        return "O" if day >= D(2025, 11, 17) else ("/" if session == "AM" else "\\")

    path = write("m.csv", [ARBOR_HEADER, *_rows(days, mark)])
    result = run("calendar", path, "-f", "csv")
    assert result.stdout.splitlines() == ["school_year,half_term,start,end,school_days,school_weeks",
                                          "2025/26,Autumn 2,2025-11-03,2025-11-21,14,3"]
    week = csv_frame(run("summary", path, "--window", "week", "-f", "csv", "-q").stdout)
    assert (week["possible_sessions"][0], week["attended_sessions"][0]) == ("10", "0")
    last = csv_frame(run("summary", path, "--window", "last-week", "--as-of", "19/11/2025", "-f", "csv", "-q").stdout)
    assert (last["possible_sessions"][0], last["attended_sessions"][0]) == ("8", "8")  # Friday was closed
    just_done = csv_frame(run("summary", path, "--window", "last-week", "-f", "csv", "-q").stdout)  # data ends Friday
    assert (just_done["possible_sessions"][0], just_done["attended_sessions"][0]) == ("10", "0")
    span = csv_frame(run("summary", path, "--from", "13/11/2025", "--to", "17/11/2025", "-f", "csv", "-q").stdout)
    assert (span["possible_sessions"][0], span["attended_sessions"][0]) == ("4", "2")
    asof = run("summary", path, "--window", "week", "--as-of", "12/11/2025", "-f", "csv")
    assert csv_frame(asof.stdout)["possible_sessions"][0] == "6"
    assert "counting week of 10/11/2025: 10/11/2025 to 12/11/2025." in asof.stderr


def test_marks_padded_with_spaces_make_school_days_as_they_count(write, run):
    # "/ " is read as "/" by the figures (the file is reread tolerantly): the calendar must agree,
    # a padded closure mark included
    days = weekdays(D(2025, 11, 3), D(2025, 11, 7))
    path = write("padded.csv", [ARBOR_HEADER, *_rows(days, lambda day, session: " # " if day == days[-1] else
                                                      ("/ " if session == "AM" else " N"))])
    result = run("calendar", path, "-f", "csv")
    assert result.stdout.splitlines()[1] == "2025/26,Autumn 2,2025-11-03,2025-11-06,4,1"
    week = csv_frame(run("summary", path, "--window", "week", "-f", "csv", "-q").stdout)
    assert (week["possible_sessions"][0], week["unauthorised_absences"][0]) == ("8", "4")
