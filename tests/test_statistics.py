"""Exact DfE figures on hand-built registers where the answer is obvious, and invariants."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attendance_cli.calendar import Window
from attendance_cli.statistics import group_statistics, overall_statistics, pupil_statistics
from tests.conftest import ARBOR_HEADER, pupil, read, session_rows, stats, weekdays


def _pupil_with(present: int, absent: int, code: str = "O") -> list[str]:
    return session_rows("1", dt.date(2025, 9, 1), ["/"] * present + [code] * absent)


@pytest.mark.parametrize(("present", "absent", "pa", "sa"), [
    (90, 10, True, False),  # exactly 90.0% attendance: 10% missed is persistent absence
    (91, 10, False, False),  # 90.099%: not
    (899, 100, True, False),  # 89.99%
    (50, 50, True, True),  # exactly half: severe
    (51, 49, True, False),
    (0, 3, True, True),
])
def test_persistent_and_severe_absence_thresholds_are_exact(arbor, present, absent, pa, sa):
    row = pupil(stats([arbor("t.csv", _pupil_with(present, absent))]), "1")
    assert (row["persistent_absence"], row["severe_absence"]) == (pa, sa)
    assert row["attendance_pct"] == pytest.approx(present * 100 / (present + absent))
    assert row["days_missed"] == absent / 2


def test_not_counted_codes_leave_the_denominator(arbor):
    # 18 present, 2 illness, and 20 sessions of X / D / Y1 / # that must not dilute or inflate anything
    rows = session_rows("1", dt.date(2025, 9, 1), ["/"] * 18 + ["I"] * 2 + ["X", "D", "Y1", "#", "Z"] * 4)
    row = pupil(stats([arbor("t.csv", rows)]), "1")
    assert (row["possible_sessions"], row["attendance_pct"], row["persistent_absence"]) == (20, 90.0, True)


def test_pupils_with_no_possible_sessions_are_left_out(arbor):
    rows = session_rows("1", dt.date(2025, 9, 1), ["/", "\\"]) + session_rows("2", dt.date(2025, 9, 1), ["X", "X"])
    assert stats([arbor("t.csv", rows)])["pupil_id"].to_list() == ["1"]


def test_window_limits_the_sessions_counted(arbor):
    rows = session_rows("1", dt.date(2025, 9, 1), ["O", "O", "/", "\\", "/", "\\"])  # Mon, Tue, Wed
    figures = stats([arbor("t.csv", rows)], window=Window(dt.date(2025, 9, 2), dt.date(2025, 9, 3)))
    assert pupil(figures, "1")["possible_sessions"] == 4 and pupil(figures, "1")["attendance_pct"] == 100.0


def test_group_figures_are_ratios_and_pa_rate_is_over_pupils(arbor):
    rows = (session_rows("1", dt.date(2025, 9, 1), ["/"] * 18 + ["O"] * 2, form="A")
            + session_rows("2", dt.date(2025, 9, 1), ["/"] * 2 + ["I"] * 2, form="A")
            + session_rows("3", dt.date(2025, 9, 1), ["/"] * 10, form="B"))
    figures = stats([arbor("t.csv", rows)])
    groups = group_statistics(figures, ["form"]).to_dicts()
    a = groups[0]
    assert (a["form"], a["pupils"], a["possible_sessions"], a["attended_sessions"]) == ("A", 2, 24, 20)
    assert a["attendance_pct"] == pytest.approx(20 / 24 * 100)  # not (90 + 50) / 2
    assert (a["authorised_absence_pct"], a["unauthorised_absence_pct"]) == (pytest.approx(2 / 24 * 100), pytest.approx(2 / 24 * 100))
    assert (a["persistent_absence_pupils"], a["persistent_absence_pct"], a["severe_absence_pupils"]) == (2, 100.0, 1)
    assert a["days_missed"] == 2.0
    overall = overall_statistics(figures).to_dicts()[0]
    assert (overall["pupils"], overall["possible_sessions"], overall["persistent_absence_pct"]) == (3, 34, pytest.approx(200 / 3))


# -- properties --------------------------------------------------------------------------------

CODES = ["/", "\\", "L", "V", "B", "M", "I", "C", "E", "G", "U", "O", "N", "X", "D", "Y2", "#", "Z", "", "-"]
DAYS = [d for d in (dt.date(2025, 9, 1) + dt.timedelta(days=i) for i in range(40)) if d.weekday() < 5]


@st.composite
def registers(draw):
    """A random small register: several pupils, a random mark for a random subset of sessions."""
    rows = []
    for pupil_no in range(draw(st.integers(1, 6))):
        slots = draw(st.lists(st.tuples(st.sampled_from(DAYS), st.sampled_from(["AM", "PM"])), min_size=1, max_size=30,
                              unique=True))
        for day, session in slots:
            mark = draw(st.sampled_from(CODES))
            minutes = draw(st.integers(1, 40)) if mark in ("L", "U") else ""
            form = draw(st.sampled_from(["A", "B"]))  # pupils change form: the latest row's counts
            rows.append(f"P{pupil_no},Surname{pupil_no},Forename,Year 3,{form},{day:%d/%m/%Y},{session},{mark},{minutes}")
    return rows


FIGURES = ["form", "possible_sessions", "attended_sessions", "authorised_absences", "unauthorised_absences",
           "late_before_close", "late_after_close", "minutes_late", "attendance_pct", "persistent_absence",
           "severe_absence", "days_missed"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=registers(), seed=st.integers(0, 10_000), cut=st.integers(0, 1_000))
def test_properties_of_the_figures(tmp_path_factory, rows, seed, cut):
    folder = tmp_path_factory.mktemp("prop")

    def export(name, part):
        path = folder / name
        path.write_text("\n".join([ARBOR_HEADER, *part]) + "\n", encoding="utf-8")
        return path

    original = stats([export("all.csv", rows)])
    # possible = attended + authorised + unauthorised; PA/SA are the 10% / 50% thresholds
    assert (original["possible_sessions"] == original["attended_sessions"] + original["authorised_absences"]
            + original["unauthorised_absences"]).all()
    absent = original["authorised_absences"] + original["unauthorised_absences"]
    assert ((absent * 10 >= original["possible_sessions"]) == original["persistent_absence"]).all()
    assert (original["severe_absence"] & ~original["persistent_absence"]).sum() == 0
    # the same rows in another order give the same figures
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    assert stats([export("shuffled.csv", shuffled)]).select(FIGURES).equals(original.select(FIGURES))
    # split into two exports (overlapping by one row) gives the same figures
    at = cut % (len(rows) + 1)
    first, second = rows[:at], rows[max(at - 1, 0):]
    files = [export("a.csv", first), export("b.csv", second)] if first else [export("b.csv", second)]
    assert stats(files).select(FIGURES).equals(original.select(FIGURES))
    # groups add up to the whole
    groups = group_statistics(original, ["form"])
    overall = overall_statistics(original)
    assert groups["possible_sessions"].sum() == overall["possible_sessions"].sum() == original["possible_sessions"].sum()
    assert overall.height == (1 if original.height else 0)


def test_tally_counts_and_report_agree(arbor):
    rows = session_rows("1", dt.date(2025, 9, 1), ["/", "\\", "I", "#", "", "N"])
    result = read([arbor("t.csv", rows)])
    assert result.report.marks == int(result.counts["sessions"].sum()) == 5
    assert result.report.code_counts.select("code", "marks").sort("code").rows() == [
        ("#", 1), ("/", 1), ("I", 1), ("N", 1), ("\\", 1)]
    assert pupil_statistics(result).select(pl.col("possible_sessions")).item() == 4


def test_a_pupil_who_changes_form_is_in_their_latest_form_whatever_the_row_order(arbor):
    # 4A for the first week, 4B from the second: the pupil is shown, and grouped, in 4B
    rows = (session_rows("1", dt.date(2025, 9, 1), ["I"] + ["/"] * 9, form="4A")
            + session_rows("1", dt.date(2025, 9, 8), ["/"] * 10, form="4B")
            + session_rows("2", dt.date(2025, 9, 1), ["/"] * 20, form="4A"))
    for order in range(4):
        shuffled = rows[:]
        random.Random(order).shuffle(shuffled)
        figures = stats([arbor(f"t{order}.csv", shuffled)])
        assert pupil(figures, "1")["form"] == "4B"
        groups = group_statistics(figures, ["form"]).select("form", "pupils", "possible_sessions", "attended_sessions")
        assert groups.rows() == [("4A", 1, 20, 20), ("4B", 1, 20, 19)]


def test_a_pupil_whose_rows_end_one_export_and_start_the_next_is_in_the_latest_exports_form(arbor):
    # the pupil's run of rows goes on across the files (the last rows of one, the first of the next):
    # each file's details are its own last row's, and the latest file's are the pupil's
    first = session_rows("2", dt.date(2025, 9, 1), ["/"] * 4, form="4A") + session_rows(
        "1", dt.date(2025, 9, 1), ["/"] * 3 + ["I"], form="4A", surname="Old")
    second = session_rows("1", dt.date(2025, 9, 8), ["/"] * 4, form="4B", surname="New") + session_rows(
        "2", dt.date(2025, 9, 8), ["/"] * 4, form="4A")
    for files in ((first, second), (second, first)):  # the later marks in the first file or the second
        figures = stats([arbor(f"a{i}.csv", rows) for i, rows in enumerate(files)])
        assert (pupil(figures, "1")["form"], pupil(figures, "1")["surname"]) == ("4B", "New")
        assert (pupil(figures, "1")["possible_sessions"], pupil(figures, "1")["attended_sessions"]) == (8, 7)
    # in one file, the run ends with the pupil's last row whatever the code on it
    one = stats([arbor("one.csv", session_rows("1", dt.date(2025, 9, 1), ["/", "I", "/", "L"], form="4A")
                       + session_rows("1", dt.date(2025, 9, 3), ["I"], form="4C"))])
    assert pupil(one, "1")["form"] == "4C"


def test_in_an_export_by_date_each_pupil_has_the_details_of_their_latest_row(arbor):
    # rows by date, or in no order (every pupil's rows apart): the latest row by date is found in the
    # pass, and its details read afterwards; a blank form on it keeps the form before
    days = weekdays(dt.date(2025, 9, 1), 5)
    rows = []
    for i, day in enumerate(days):
        for number in ("1", "2", "3"):
            form = {"1": "" if i == 4 else "4A", "2": "4B" if i >= 3 else "4A", "3": "4C"}[number]
            surname = "Later" if number == "3" and i == 4 else "Smith"
            rows += session_rows(number, day, ["/", "\\"], form=form, surname=surname)
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    for name, order in (("by-date.csv", rows), ("shuffled.csv", shuffled)):
        result = read([arbor(name, order)])
        assert not result.export.files[0].grouped  # the plan for rows not kept by pupil
        figures = pupil_statistics(result)
        assert [(pupil(figures, p)["form"], pupil(figures, p)["surname"]) for p in ("1", "2", "3")] == [
            ("4A", "Smith"), ("4B", "Smith"), ("4C", "Later")], name


def test_a_blank_or_padded_attribute_on_the_latest_row_does_not_change_the_group(write):
    header = "Student ID,Surname,Forename,Year Group,Form,Date,Session,Mark"
    path = write("blank.csv", [header, "1,Smith,Ann,Year 4,4A,01/09/2025,AM,/", "1,Smith,Ann,Year 4,,02/09/2025,AM,/",
                               '2,Lee,"  ", Year 4,4A ,01/09/2025,AM,/', '2,Lee,Bob,Year 4,"",02/09/2025,AM,/'])
    figures = stats([path])
    assert figures.select("pupil_id", "forename", "form").rows() == [("1", "Ann", "4A"), ("2", "Bob", "4A")]
    assert group_statistics(figures, ["form"])["pupils"].to_list() == [2]


def test_the_latest_lesson_is_by_date_then_start_time_whatever_the_row_order(write):
    header = "EventId,GroupCode,Date,StartTime,EndTime,LearnerId,LearnerCode,Period,AttendanceCode,MinutesLate,SubjectCode,Tutor Group"
    rows = ["1,M,03-09-2025,09:00,10:00,12,X,P1,/,,MATH,T1", "2,M,03-09-2025,14:00,15:00,12,X,P5,/,,MATH,T2",
            "3,M,03-09-2025,11:00,12:00,12,X,P3,/,,MATH,T1"]
    for order in (rows, rows[::-1], [rows[1], rows[0], rows[2]]):
        assert pupil(stats([write("l.csv", [header, *order])], codes="college"), "12")["form"] == "T2"

