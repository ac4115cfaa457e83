"""Every code category counts the way the DfE method says, read with the meaning it had on its date."""

from __future__ import annotations

import datetime as dt

import pytest

from attendance_cli.codes import load_code_table
from attendance_cli.errors import ConfigError, InputError, UsageError
from tests.conftest import pupil, session_rows, stats

# one pupil, one session per code: (code, possible, attended, authorised, unauthorised)
DFE_2024 = [
    ("/", 1, 1, 0, 0), ("\\", 1, 1, 0, 0), ("L", 1, 1, 0, 0),
    ("K", 1, 1, 0, 0), ("V", 1, 1, 0, 0), ("P", 1, 1, 0, 0), ("W", 1, 1, 0, 0), ("B", 1, 1, 0, 0),
    ("C1", 1, 0, 1, 0), ("M", 1, 0, 1, 0), ("J1", 1, 0, 1, 0), ("S", 1, 0, 1, 0), ("C2", 1, 0, 1, 0),
    ("C", 1, 0, 1, 0), ("T", 1, 0, 1, 0), ("R", 1, 0, 1, 0), ("I", 1, 0, 1, 0), ("E", 1, 0, 1, 0),
    ("G", 1, 0, 0, 1), ("U", 1, 0, 0, 1), ("O", 1, 0, 0, 1), ("N", 1, 0, 0, 1),
    ("X", 0, 0, 0, 0), ("D", 0, 0, 0, 0), ("Q", 0, 0, 0, 0), ("Y1", 0, 0, 0, 0), ("Y2", 0, 0, 0, 0),
    ("Y3", 0, 0, 0, 0), ("Y4", 0, 0, 0, 0), ("Y5", 0, 0, 0, 0), ("Y6", 0, 0, 0, 0), ("Y7", 0, 0, 0, 0),
    ("Z", 0, 0, 0, 0), ("#", 0, 0, 0, 0),
]


@pytest.mark.parametrize(("code", "possible", "attended", "authorised", "unauthorised"), DFE_2024)
def test_each_2024_code_counts_as_its_category(arbor, code, possible, attended, authorised, unauthorised):
    # a present session first so every pupil has a possible session to be listed
    path = arbor("one.csv", session_rows("P1", dt.date(2025, 9, 1), ["/", code]))
    row = pupil(stats([path]), "P1")
    assert (row["possible_sessions"], row["attended_sessions"], row["authorised_absences"],
            row["unauthorised_absences"]) == (1 + possible, 1 + attended, authorised, unauthorised)


def test_lateness_before_and_after_the_register_closed(arbor):
    path = arbor("late.csv", session_rows("P1", dt.date(2025, 9, 1), ["L", "U", "L", "/"], minutes={0: 5, 1: 40, 2: 10, 3: 3}))
    row = pupil(stats([path]), "P1")
    # minutes on a present mark are not lateness; L counts as present, U as unauthorised absence
    assert (row["late_before_close"], row["late_after_close"], row["minutes_late"]) == (2, 1, 55)
    assert (row["attended_sessions"], row["unauthorised_absences"]) == (3, 1)


@pytest.mark.parametrize(("code", "attended", "authorised", "possible"), [
    ("J", 1, 0, 1),  # interview counted as attendance before 19 Aug 2024
    ("H", 0, 1, 1),  # agreed holiday, authorised
    ("F", 0, 1, 1),  # extended holiday, authorised
    ("Y", 0, 0, 0),  # exceptional circumstances, not counted
    ("S", 0, 1, 1),  # study leave existed before 2024 too
])
def test_pre_2024_codes_keep_their_old_meaning(arbor, code, attended, authorised, possible):
    path = arbor("old.csv", session_rows("P1", dt.date(2023, 9, 4), ["/", code]))
    row = pupil(stats([path]), "P1")
    assert (row["attended_sessions"], row["authorised_absences"], row["possible_sessions"]) == (
        1 + attended, authorised, 1 + possible)


def test_a_code_changes_meaning_on_19_august_2024(arbor):
    # the same pupil with J1 on the first day of the new rules and J on the last day of the old
    rows = session_rows("P1", dt.date(2024, 8, 16), ["J", "/"]) + session_rows("P1", dt.date(2024, 8, 19), ["J1", "/"])
    row = pupil(stats([arbor("change.csv", rows)]), "P1")
    assert (row["possible_sessions"], row["attended_sessions"], row["authorised_absences"]) == (4, 3, 1)


@pytest.mark.parametrize("code", ["J", "H", "F", "Y"])
def test_withdrawn_codes_after_19_august_2024_are_errors_not_guesses(arbor, code):
    path = arbor("new.csv", session_rows("P1", dt.date(2025, 9, 1), ["/", code]))
    with pytest.raises(InputError) as raised:
        stats([path])
    text = raised.value.describe()
    assert "line 3: code not valid on this date; column 'Mark'; value " + repr(code) in text
    assert "valid until 18/08/2024" in text


@pytest.mark.parametrize("code", ["J1", "C1", "C2", "K", "Q", "Y3"])
def test_2024_codes_before_they_existed_are_errors(arbor, code):
    path = arbor("early.csv", session_rows("P1", dt.date(2023, 9, 4), ["/", code]))
    with pytest.raises(InputError) as raised:
        stats([path])
    text = raised.value.describe()
    assert f"line 3: code not valid on this date; column 'Mark'; value {code!r}" in text
    assert f"Expected: {code!r} is valid from 19/08/2024." in text


def test_progresso_present_and_variants_are_aliases_of_present(arbor):
    path = arbor("alias.csv", session_rows("P1", dt.date(2025, 9, 1), ["/\\", "//", "/", "\\"]))
    row = pupil(stats([path]), "P1")
    assert (row["possible_sessions"], row["attended_sessions"]) == (4, 4)


def test_unknown_codes_are_never_guessed(arbor):
    path = arbor("bad.csv", session_rows("P1", dt.date(2025, 9, 1), ["/", "A", "&", "7"]))
    with pytest.raises(InputError) as raised:
        stats([path])
    problems = {p.value: p for p in raised.value.problems}
    assert set(problems) == {"A", "&", "7"}
    assert problems["A"].lines == [3] and problems["A"].reason == "unknown code"


# -- the college table -----------------------------------------------------------------------

COLLEGE = [
    ("/", 1, 1, 0, 0), ("L", 1, 1, 0, 0), ("?", 1, 1, 0, 0), ("*", 1, 1, 0, 0), ("D", 1, 1, 0, 0), ("F", 1, 1, 0, 0),
    ("H", 1, 0, 1, 0), ("J", 1, 0, 1, 0), ("I", 1, 0, 1, 0),
    ("A", 1, 0, 0, 1), ("U", 1, 0, 0, 1), ("G", 1, 0, 0, 1), ("N", 1, 0, 0, 1), ("O", 1, 0, 0, 1),
    ("X", 0, 0, 0, 0), ("Y", 0, 0, 0, 0), ("Z", 0, 0, 0, 0),
]


@pytest.mark.parametrize(("code", "possible", "attended", "authorised", "unauthorised"), COLLEGE)
def test_college_lesson_codes(write, code, possible, attended, authorised, unauthorised):
    path = write("lessons.csv", [
        "EventId,GroupCode,Date,StartTime,EndTime,LearnerId,LearnerCode,Period,AttendanceCode,MinutesLate,SubjectCode",
        "1,MATH-A,05-01-2026,09:00,10:00,12,2025-00012,P 1,/\\,,MATH",
        f"2,MATH-A,05-01-2026,10:15,11:15,12,2025-00012,P 2,{code},,MATH",
    ])
    row = pupil(stats([path], codes="college"), "12")
    assert (row["possible_sessions"], row["attended_sessions"], row["authorised_absences"],
            row["unauthorised_absences"]) == (1 + possible, 1 + attended, authorised, unauthorised)
    assert row["days_missed"] is None  # lessons are contact points, not half days


def test_lesson_registers_read_with_session_codes_point_to_the_college_table(write):
    path = write("lessons.csv", [
        "EventId,GroupCode,Date,StartTime,EndTime,LearnerId,LearnerCode,Period,AttendanceCode,MinutesLate,SubjectCode",
        "1,MATH-A,05-01-2026,09:00,10:00,12,2025-00012,P 1,A,,MATH",
    ])
    with pytest.raises(InputError) as raised:
        stats([path])
    assert raised.value.fix.startswith("These are lesson registers, read with the 'dfe' session codes; lesson codes "
                                       "are set by each institution: pass --codes college")


def test_dfe_q_is_not_counted_but_college_has_no_q(write):
    path = write("lessons.csv", [
        "EventId,GroupCode,Date,StartTime,EndTime,LearnerId,LearnerCode,Period,AttendanceCode,MinutesLate,SubjectCode",
        "1,MATH-A,05-01-2026,09:00,10:00,12,2025-00012,P 1,Q,,MATH",
    ])
    with pytest.raises(InputError) as raised:
        stats([path], codes="college")
    assert "line 2: unknown code; column 'AttendanceCode'; value 'Q'" in raised.value.describe()


# -- custom tables ---------------------------------------------------------------------------


def test_custom_table_from_csv(write, arbor):
    table = write("ours.csv", ["code,meaning,category,late,aliases", "P,Present,present,,/ \\",
                               "LA,Late,present,before_close,", "AB,Absent,unauthorised,,", "&,In school not in class,present,,"])
    path = arbor("marks.csv", session_rows("P1", dt.date(2025, 9, 1), ["P", "/", "LA", "AB", "&"], minutes={2: 4}))
    row = pupil(stats([path], codes=str(table)), "P1")
    assert (row["possible_sessions"], row["attended_sessions"], row["unauthorised_absences"],
            row["late_before_close"], row["minutes_late"]) == (5, 4, 1, 1, 4)


def test_custom_table_from_toml(write, arbor):
    table = write("ours.toml", 'name = "ours"\n[[codes]]\ncode = "/"\nmeaning = "in"\ncategory = "present"\n'
                               '[[codes]]\ncode = "O"\nmeaning = "out"\ncategory = "unauthorised"\n')
    path = arbor("marks.csv", session_rows("P1", dt.date(2025, 9, 1), ["/", "O"]))
    assert pupil(stats([path], codes=str(table)), "P1")["attendance_pct"] == 50.0


def test_code_table_errors_name_the_key_and_what_is_allowed(write):
    bad = write("bad.toml", 'name = "x"\n[[codes]]\ncode = "/"\nmeaning = "in"\ncategory = "here"\ncolour = "red"\n')
    with pytest.raises(ConfigError) as raised:
        load_code_table(str(bad))
    text = raised.value.describe()
    assert "codes.0.category: Input should be 'present', 'aea', 'authorised', 'unauthorised', 'not_counted' or 'admin' (found 'here')" in text
    assert "codes.0.colour: unknown key; allowed keys are code, meaning, category, late, from, until, aliases, closure, note" in text


def test_unknown_preset_lists_the_presets(run):
    with pytest.raises(UsageError) as raised:
        load_code_table("welsh")
    assert raised.value.describe() == ("There is no code table called 'welsh'.\n"
                                       "  Fix: Use one of: college, dfe, or give the path of a .toml or .csv table.")
    assert run("codes", "--codes", "welsh").exit_code == 2  # an unknown value, as for any option


def test_codes_command_prints_the_active_table(run):
    result = run("codes", "-f", "csv")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "code,meaning,category,possible_session,attendance,late,valid_from,valid_until,aliases,closure"
    assert "J,Attending an interview (counted as attendance before 19 Aug 2024),aea,true,true,,,18/08/2024,,false" in lines
    assert any(line.startswith("U,Arrived after the register closed,unauthorised,true,false,after_close") for line in lines)
    assert len(lines) == 1 + len(load_code_table("dfe").codes)


def test_codes_list(run):
    result = run("codes", "--list")
    assert result.stdout.splitlines() == [
        "college    College lesson-register codes (Progresso)",
        "dfe        DfE register codes, England (2024 regulations; earlier codes by date)",
    ]
