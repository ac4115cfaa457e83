"""Absence and leave requests: read (every row accounted for, bad rows named), triaged by the policy
with figures counted by hand, decided once in a real ledger, and answered by letters written once,
each saying the days and codes the decision gave (checked against the decision, not the template)."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance_cli.errors import InputError
from attendance_cli.requests.read import read_requests
from tests.conftest import ARBOR_HEADER, SCHOOL, csv_frame, session_rows

START = dt.date(2026, 11, 2)  # Monday: the registers run for two weeks, to Friday 13/11/2026
CALENDAR = """name,start,end
Autumn 2,02/11/2026,18/12/2026
Spring 1,04/01/2027,12/02/2027
"""
REQUESTS_HEADER = "Request ID,Student ID,Type,From,To,Session,Reason,Details,Date Received"
REQUESTS = [
    REQUESTS_HEADER,
    "R1,P1,Exceptional circumstances,16/11/2026,20/11/2026,,Family wedding,Flights are booked.,01/11/2026",
    "R2,P1,Religious observance,23/11/2026,24/11/2026,,Festival,,10/11/2026",
    "R3,P1,Religious observance,30/11/2026,30/11/2026,all day,Festival,,12/11/2026",
    "R4,P1,Religious observance,07/12/2026,07/12/2026,,Festival,,13/11/2026",
    "R5,P2,Illness,05/11/2026,05/11/2026,,Unwell,Anxiety about BULLYING at the bus stop,05/11/2026",
    "R6,P2,Medical appointment,21/12/2026,21/12/2026,AM,Dentist,,13/11/2026",
    "R7,P2,Exceptional circumstances,22/12/2026,05/01/2027,,Funeral abroad,,12/11/2026",
]


@pytest.fixture
def school(tmp_path: Path, arbor, write):
    """Two pupils over ten school days: P1 away ill on the first two sessions (18 of 20), P2 never away."""
    exports = arbor("register.csv", [*session_rows("P1", START, ["I", "I"] + ["/", "\\"] * 9, "Khan", "Sara", form="3A"),
                                     *session_rows("P2", START, ["/", "\\"] * 10, "Lee", "Tom", form="3B")])
    return {"exports": exports, "requests": write("requests.csv", REQUESTS), "calendar": write("calendar.csv", CALENDAR),
            "school": write("school.toml", SCHOOL), "db": tmp_path / "ledger.sqlite",
            "contacts": write("contacts.csv", ["Student ID,Contact Name,Relationship,Parental Responsibility,Salutation,"
                                               "Email,Address 1,Town,Postcode",
                                               "P1,Mrs Amina Khan,Mother,Yes,Mrs Khan,,1 High St,Newtown,NT1 1AA",
                                               "P2,Mr Ben Lee,Father,Yes,Mr Lee,,2 High St,Newtown,NT1 1AB"]),
            "tmp": tmp_path}


def triage_rows(run, s, *extra) -> dict[str, dict]:
    result = run("requests", s["requests"], "--policy", "primary-academy", "--exports", s["exports"], "--calendar",
                 s["calendar"], "--db", s["db"], "--as-of", "13/11/2026", "-f", "csv", *extra)
    assert result.exit_code == 0, result.stderr
    return {row["request_id"]: row for row in csv_frame(result.stdout).to_dicts()}


def test_each_request_is_routed_and_counted_as_by_hand(run, school):
    rows = triage_rows(run, school)
    assert list(rows) == ["R1", "R2", "R3", "R4", "R5", "R6", "R7"]  # by pupil, then first day
    r1 = rows["R1"]
    # exceptional leave: decided by the headteacher; five school days, ten sessions, all after the registers end
    assert (r1["route"], r1["decided_by"], r1["school_days"], r1["asked_sessions"]) == ("decide", "the headteacher",
                                                                                        "5.0", "10")
    assert (r1["code"], r1["declined_code"]) == ("C", "G")
    assert r1["notice"] == "asked 15 days before (the policy asks for 28)"
    # 18 of 20 attended now; the ten sessions asked for as absences: 18 of 30
    assert (r1["attendance_now"], r1["attendance_after"]) == ("90.0", "60.0")
    # religious observance: one day a festival, two days a school year (seed 002)
    assert (rows["R2"]["route"], rows["R2"]["asked_sessions"], rows["R2"]["grantable_sessions"]) == ("partial", "4", "2.0")
    assert (rows["R3"]["route"], rows["R3"]["grantable_sessions"]) == ("authorise", "2.0")
    assert (rows["R4"]["route"], rows["R4"]["grantable_sessions"]) == ("decline", "0.0")  # the two days are used
    # four requests from P1 received in the last six weeks: the policy sends three or more to review
    assert [rows[r]["requests_this_year"] for r in ("R1", "R2", "R3", "R4")] == ["4"] * 4
    assert rows["R1"]["review"] == "true"
    assert rows["R1"]["review_why"] == "for the attendance manager: 4 requests in 6 weeks"
    # P2: words the policy lists, found whatever their case; a day already in the registers adds nothing
    r5 = rows["R5"]
    assert r5["review_why"] == "for the attendance manager: mentions anxiety, bullying; 3 requests in 6 weeks"
    assert (r5["attendance_now"], r5["attendance_after"], r5["asked_sessions"]) == ("100.0", "100.0", "2")
    # a day of the Christmas holiday is no school day; leave over it covers only the days of term
    assert (rows["R6"]["asked_sessions"], rows["R6"]["school_days"]) == ("0", "0.0")
    assert (rows["R7"]["asked_sessions"], rows["R7"]["attendance_after"]) == ("4", "83.33")  # 20 of 24 (rounded down)
    assert rows["R6"]["notice"] == "covers no school day"
    assert (rows["R5"]["reason"], rows["R5"]["details"]) == ("Unwell", "Anxiety about BULLYING at the bus stop")
    assert rows["R7"]["days_counted"] == "school days"
    assert (r1["surname"], r1["forename"], r1["form"]) == ("Khan", "Sara", "3A")


def test_without_a_calendar_days_after_the_registers_are_counted_as_weekdays_and_say_so(run, school):
    result = run("requests", school["requests"], "--policy", "primary-academy", "--exports", school["exports"],
                 "--as-of", "13/11/2026", "-f", "csv")
    rows = {r["request_id"]: r for r in csv_frame(result.stdout).to_dicts()}
    assert rows["R6"]["asked_sessions"] == "1"  # 21/12 is a weekday; nothing says it is a holiday
    assert rows["R6"]["days_counted"] == "weekdays (the calendar does not cover every day: give --calendar)"
    assert rows["R5"]["days_counted"] == "school days"  # a day inside the registers
    assert {r["as_of"] for r in rows.values()} == {"2026-11-13"}  # every row says the day it is counted to


def test_review_and_undecided_filters_and_a_workbook(run, school, tmp_path):
    rows = triage_rows(run, school, "--review")
    assert sorted(rows) == ["R1", "R2", "R3", "R4", "R5", "R6", "R7"]  # three requests or more each, in six weeks
    assert decide(run, school, "R2", "--grant", "--reason", "Agreed.").exit_code == 0
    assert sorted(triage_rows(run, school, "--undecided")) == ["R1", "R3", "R4", "R5", "R6", "R7"]
    out = tmp_path / "requests.xlsx"
    result = run("requests", school["requests"], "-p", "primary-academy", "-e", school["exports"], "--calendar",
                 school["calendar"], "--db", school["db"], "--as-of", "13/11/2026", "-o", out)
    assert result.exit_code == 0, result.stderr
    sheet = pl.read_excel(out)
    assert sheet.height == 7 and sheet["Request id"].to_list()[0] == "R1"


def test_every_row_is_accounted_for(write):
    path = write("r.csv", [REQUESTS_HEADER, REQUESTS[1], ",,,,,,,,", REQUESTS[1], REQUESTS[2]])
    read = read_requests([path])
    assert (read.rows, read.table.height, read.duplicates, read.blank) == (4, 2, 1, 1)
    assert read.accounted() == "4 rows in 1 file: 2 requests, 1 repeated rows merged, 1 blank rows"


def test_bad_rows_are_named_by_line_value_and_fix(write):
    path = write("r.csv", [REQUESTS_HEADER,
                           "A1,P1,Holiday,16/11/2026,20/11/2026,,x,,01/11/2026",
                           "A2,P1,Day trip,16/11/2026,,,x,,01/11/2026",
                           "A3,,Illness,16/11/2026,,,x,,01/11/2026",
                           "A4,P1,Illness,31/11/2026,,,x,,01/11/2026",
                           "A5,P1,Illness,20/11/2026,16/11/2026,,x,,01/11/2026",
                           "A6,P1,Illness,16/11/2026,,evening,x,,01/11/2026"])
    with pytest.raises(InputError) as caught:
        read_requests([path])
    text = caught.value.describe()
    assert text.splitlines()[0] == "The requests file cannot be used as they stand; nothing was read."
    assert f"{path}, line 4: no pupil or student id; column 'Student ID'" in text
    assert f"{path}, line 5: not a day-first date; column 'From'; value '31/11/2026'" in text
    assert f"{path}, line 6: last day before the first day; column 'To'; value '16/11/2026'" in text
    assert f"{path}, line 3: not a request type; column 'Type'; value 'Day trip'" in text
    assert f"{path}, line 7: not a part of the day; column 'Session'; value 'evening'" in text
    assert "line 2" not in text  # "Holiday" is a request for leave: exceptional circumstances


def test_one_id_for_two_different_requests_is_refused(write):
    path = write("r.csv", [REQUESTS_HEADER, REQUESTS[1], REQUESTS[1].replace("20/11/2026", "27/11/2026")])
    with pytest.raises(InputError) as caught:
        read_requests([path])
    assert "request id used for two different requests (" in caught.value.describe()
    assert "line 2 and " in caught.value.describe() and "line 3)" in caught.value.describe()


def test_requests_without_ids_get_the_same_id_every_time(write):
    rows = ["Pupil ID,Absence Type,Start Date,End Date", "P1,illness,16/11/2026,16/11/2026",
            "P2,medical,17/11/2026,17/11/2026"]
    first = read_requests([write("a.csv", rows)])
    again = read_requests([write("b.csv", [rows[0], rows[2], rows[1]])])
    assert sorted(first.table["request_id"]) == sorted(again.table["request_id"])
    assert all(len(i) == 9 and i.startswith("R") for i in first.table["request_id"])
    assert first.notes and "No request id column" in first.notes[0]


def test_a_missing_column_is_named_with_the_headers_seen(run, write):
    path = write("r.csv", ["Student ID,When,Type", "P1,16/11/2026,illness"])
    result = run("requests", path, "-p", "primary-academy")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {path}: no first day (From, Start Date, First Day, or Date for one day) "
                                    "column (headers seen: Student ID, When, Type).")
    mapped = run("requests", path, "-p", "primary-academy", "--map", "When=date_from", "-f", "csv")
    assert mapped.exit_code == 0 and csv_frame(mapped.stdout)["date_from"].to_list() == ["2026-11-16"]


def decide(run, s, *args):
    return run("requests", "decide", *args, "--requests", s["requests"], "--policy", "primary-academy",
               "--calendar", s["calendar"], "--db", s["db"], "--on", "13/11/2026")


def test_a_decision_is_recorded_once_and_never_changed(run, school):
    first = decide(run, school, "R1", "--partial", "--days", "3", "--reason", "Three days are agreed.")
    assert first.exit_code == 0, first.stderr
    row = csv_frame(first.stdout).to_dicts()[0]
    assert (row["granted_sessions"], row["granted_from"], row["granted_to"]) == ("6", "2026-11-16", "2026-11-18")
    again = decide(run, school, "R1", "--partial", "--days", "3", "--reason", "Three days are agreed.")
    assert again.exit_code == 0 and "0 decisions in" in again.stderr and "1 decision already recorded" in again.stderr
    changed = decide(run, school, "R1", "--decline", "--reason", "No.")
    assert changed.exit_code == 2
    assert changed.stderr.startswith(
        "Error: Request R1 was decided on 13/11/2026 (partly granted, code C, for the reason 'Three days are agreed.'); "
        "a decision, once recorded, is not changed (here: declined, 'No.'). Nothing was recorded.")
    # the same id used in another file for another pupil's request: never taken for the one decided
    other = school["tmp"] / "other.csv"
    other.write_text(REQUESTS_HEADER + "\nR1,P2,Illness,17/11/2026,17/11/2026,,Unwell,,13/11/2026\n", encoding="utf-8")
    reused = run("requests", "decide", "R1", "--grant", "--reason", "x", "--requests", other, "--policy",
                 "primary-academy", "--calendar", school["calendar"], "--db", school["db"], "--on", "13/11/2026")
    assert reused.exit_code == 2
    assert reused.stderr.startswith("Error: The id R1 was used for another request, decided on 13/11/2026: pupil P1, "
                                    "16/11/2026 to 20/11/2026 (exceptional); this one is pupil P2, 17/11/2026 to "
                                    "17/11/2026 (illness). Nothing was recorded.")
    listed = run("requests", other, "-p", "primary-academy", "--db", school["db"], "-f", "csv", "--as-of", "13/11/2026")
    assert csv_frame(listed.stdout)["decision"].to_list() == ["id used for another request, decided"]
    rows = triage_rows(run, school)
    assert (rows["R1"]["decision"], rows["R1"]["decided_on"]) == ("partial", "2026-11-13")
    assert rows["R2"]["decision"] is None


def test_bad_decisions_record_nothing(run, school, write):
    decisions = write("d.csv", ["request_id,decision,reason,from,to",
                                "R1,granted,Agreed.,,",
                                "R9,granted,Agreed.,,",
                                "R2,partial,One day.,23/11/2026,27/11/2026",
                                "R7,maybe,Hmm.,,"])
    result = run("requests", "import", decisions, "-r", school["requests"], "-p", "primary-academy",
                 "--db", school["db"], "--calendar", school["calendar"])
    assert result.exit_code == 1
    assert f"{decisions}, line 5: not a decision; column 'decision'; value 'maybe'" in result.stderr
    fixed = write("d2.csv", ["request_id,decision,reason,from,to", "R1,granted,Agreed.,,", "R9,granted,Agreed.,,",
                             "R2,partial,One day.,23/11/2026,27/11/2026"])
    result = run("requests", "import", fixed, "-r", school["requests"], "-p", "primary-academy", "--db", school["db"],
                 "--calendar", school["calendar"])
    nocal = run("requests", "import", fixed, "-r", school["requests"], "-p", "primary-academy", "--db", school["db"])
    assert nocal.exit_code == 1 and ("the school days of R2 from 23/11/2026 are not known (no calendar covers them)"
                                     in nocal.stderr)
    assert result.exit_code == 1
    assert f"{fixed}, line 3: no request with this id in the requests files; column 'request_id'; value 'R9'" in result.stderr
    assert "days granted 23/11/2026–27/11/2026 are not inside the request (23/11/2026–24/11/2026)" in result.stderr
    assert not school["db"].exists() or sqlite3.connect(school["db"]).execute(
        "select count(*) from decisions").fetchone() == (0,)


def _letters(run, s, *extra):
    return run("requests", "letters", s["requests"], "-p", "primary-academy", "-e", s["exports"], "--calendar",
               s["calendar"], "--db", s["db"], "--out", s["tmp"] / "out", "--contacts", s["contacts"], "--school",
               s["school"], "--date", "16/11/2026", "-f", "txt", *extra)


def test_decision_letters_say_the_days_and_codes_and_are_written_once(run, school):
    assert decide(run, school, "R1", "--partial", "--from", "16/11/2026", "--to", "18/11/2026", "--reason",
                  "Three days are agreed for the wedding.").exit_code == 0
    assert decide(run, school, "R7", "--decline", "--declined-code", "O", "--reason",
                  "We cannot agree leave on the first days of term.").exit_code == 0
    assert decide(run, school, "R3", "--grant", "--reason", "Festival.").exit_code == 0  # the policy names no letter
    dry = _letters(run, school, "--dry-run")
    assert dry.exit_code == 0 and not (school["tmp"] / "out").exists()
    result = _letters(run, school)
    assert result.exit_code == 0, result.stderr
    manifest = csv_frame(result.stdout)
    assert manifest.select("request_id", "decision", "letter", "granted_sessions", "code", "declined_code").rows() == [
        ("R1", "partial", "leave-granted", "6", "C", "G"), ("R7", "decline", "leave-declined", "0", "C", "O")]
    out = school["tmp"] / "out"
    text = (out / manifest["file"][0]).read_text(encoding="utf-8")
    letter = " ".join(text.split())  # the text letter is wrapped: read it as one line
    # what the decision says, counted here from the request and the calendar, not taken from the template
    assert "away from 16 November 2026 to 20 November 2026 (5 days of school)" in letter
    assert ("We have agreed 3 days, 16 November 2026 to 18 November 2026, recorded as authorised absence (code C). "
            "We have not agreed the rest (2 days): if Sara is away then, it will be recorded as unauthorised (code G).") in letter
    assert "C: Leave of absence: exceptional circumstances; G: Holiday not agreed by the school." in letter
    table = [line.split() for line in text.splitlines() if line.strip().startswith(("Monday", "Tuesday", "Wednesday",
                                                                                        "Thursday", "Friday"))]
    assert [(day[1], day[-2], day[-1]) for day in table] == [("16", "C", "C"), ("17", "C", "C"), ("18", "C", "C"),
                                                             ("19", "G", "G"), ("20", "G", "G")]
    declined = " ".join((out / manifest["file"][1]).read_text(encoding="utf-8").split())
    assert "away from 22 December 2026 to 5 January 2027 (2 days of school)" in declined
    assert "it will be recorded as unauthorised absence (code O)" in declined
    assert "O: Absent in other or unknown circumstances." in declined
    assert sorted(p.name for p in out.iterdir()) == sorted([*manifest["file"], "manifest-decisions-2026-11-16.csv"])
    again = _letters(run, school)
    assert again.exit_code == 0 and "No decision letters to write" in again.stderr
    assert len(list(out.iterdir())) == 3
    db = sqlite3.connect(school["db"])
    assert db.execute("select request_id, guardian from decision_letters order by 1").fetchall() == [("R1", 1), ("R7", 1)]


@pytest.mark.parametrize("step", ["staged", "recorded"])
def test_a_killed_letters_run_records_nothing_and_the_next_run_writes_each_letter_once(run, school, step):
    assert decide(run, school, "R1", "--grant", "--reason", "Agreed.").exit_code == 0
    out = school["tmp"] / "out"
    args = ["requests", "letters", str(school["requests"]), "-p", "primary-academy", "-e", str(school["exports"]),
            "--calendar", str(school["calendar"]), "--db", str(school["db"]), "--out", str(out), "--contacts",
            str(school["contacts"]), "--school", str(school["school"]), "--date", "16/11/2026", "-f", "txt"]
    env = {**os.environ, "ATTENDANCE_TEST_KILL_AT": step}
    killed = subprocess.run([sys.executable, "-m", "attendance_cli", *args], env=env, capture_output=True, text=True)
    assert killed.returncode == 137
    db = sqlite3.connect(school["db"])
    assert db.execute("select count(*) from decision_letters").fetchone() == (0,)
    result = _letters(run, school)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["2026-11-16_P1_leave-granted_R1_g1.txt",
                                                     "manifest-decisions-2026-11-16.csv"]


def test_a_run_killed_while_moving_is_finished_by_the_next_run(run, school):
    assert decide(run, school, "R1", "--grant", "--reason", "Agreed.").exit_code == 0
    assert decide(run, school, "R7", "--decline", "--reason", "No.").exit_code == 0
    out = school["tmp"] / "out"
    args = ["requests", "letters", str(school["requests"]), "-p", "primary-academy", "-e", str(school["exports"]),
            "--calendar", str(school["calendar"]), "--db", str(school["db"]), "--out", str(out), "--contacts",
            str(school["contacts"]), "--school", str(school["school"]), "--date", "16/11/2026", "-f", "txt"]
    killed = subprocess.run([sys.executable, "-m", "attendance_cli", *args],
                            env={**os.environ, "ATTENDANCE_TEST_KILL_AT": "moving"}, capture_output=True, text=True)
    assert killed.returncode == 137
    assert any(p.name.startswith(".attendance-staging-") for p in out.iterdir())
    result = _letters(run, school)
    assert result.exit_code == 0
    assert "Finished an interrupted letters run: moved" in result.stderr
    assert "No decision letters to write" in result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["2026-11-16_P1_leave-granted_R1_g1.txt", "2026-11-16_P2_leave-declined_R7_g1.txt",
                     "manifest-decisions-2026-11-16.csv"]


def test_a_policy_without_requests_says_what_to_add(run, school):
    result = run("requests", school["requests"], "--policy", "college")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: The policy college says nothing about absence requests.")


def test_a_route_for_every_type_and_codes_from_the_code_table(tmp_path, write):
    from attendance_cli.errors import ConfigError
    from attendance_cli.rules import load_policy

    path = write("p.toml", 'name = "x"\n[requests]\n[[requests.route]]\ntype = "illness"\nroute = "authorise"\ncode = "I"\n')
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    assert ("requests: route: no route for appointment, exceptional, religious, other: give a [[requests.route]] for "
            "every type") in caught.value.message
    bad = write("q.toml", 'name = "x"\n[requests]\n[[requests.route]]\ntype = "illness"\nroute = "maybe"\ncode = "I"\n')
    with pytest.raises(ConfigError) as caught:
        load_policy(bad)
    assert "requests route 'illness': route: must be 'authorise', 'decline' or 'decide'" in caught.value.message


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 3), st.sampled_from(["all", "AM", "PM"])),
                min_size=1, max_size=8))
@settings(max_examples=60, deadline=None)
def test_religious_days_granted_never_pass_the_policys_limits(spans):
    """Whatever a family asks for, the sessions the policy would grant for religious observance are at
    most one day a request and two days a school year, never more than asked, and the route says
    which: authorise (all), partial (some), decline (none)."""
    from attendance_cli.requests.triage import Calendar, triage
    from attendance_cli.rules import load_policy

    policy = load_policy("primary-academy").requests
    first = dt.date(2026, 9, 7)
    rows = [{"request_id": f"R{i}", "pupil_id": "P1", "surname": None, "forename": None, "type": "religious",
             "date_from": first + dt.timedelta(days=start), "date_to": first + dt.timedelta(days=start + length),
             "sessions": part, "reason": "", "details": "", "received": first, "file": "f", "line": i + 2}
            for i, (start, length, part) in enumerate(spans)]
    from attendance_cli.ledger.requests import DECISION_SCHEMA
    from attendance_cli.requests.read import COLUMNS

    table = triage(pl.DataFrame(rows, schema=COLUMNS), policy, Calendar(), dt.date(2026, 12, 1), lessons=False,
                   attendance=None, pupils=None, decided=pl.DataFrame(schema=DECISION_SCHEMA))
    granted = table["grantable_sessions"].to_list()
    asked = table["asked_sessions"].to_list()
    assert sum(granted) <= 4
    for g, a, route in zip(granted, asked, table["route"].to_list()):
        assert 0 <= g <= min(a, 2)
        assert route == ("authorise" if g >= a else "partial" if g > 0 else "decline")


def test_a_letter_says_what_was_decided_even_if_the_file_changes_after(run, school):
    assert decide(run, school, "R1", "--partial", "--days", "2", "--reason", "Two days.").exit_code == 0
    changed = school["tmp"] / "requests.csv"
    changed.write_text(changed.read_text(encoding="utf-8").replace("R1,P1,Exceptional circumstances,16/11/2026,20/11/2026",
                                                                   "R1,P1,Exceptional circumstances,16/11/2026,18/11/2026"),
                       encoding="utf-8")
    result = _letters(run, school)
    assert result.exit_code == 1  # the file now says another request under the decided id
    assert "request R1 is pupil P1, 16/11/2026 to 18/11/2026 (exceptional), but the decision recorded under that id " \
           "is for pupil P1, 16/11/2026 to 20/11/2026 (exceptional); nothing was written." in " ".join(result.stderr.split())


def test_letters_for_a_pupil_not_in_the_registers_are_refused(run, school, write):
    requests = write("r9.csv", [REQUESTS_HEADER, "N1,P9,Exceptional circumstances,16/11/2026,16/11/2026,,Trip,,13/11/2026"])
    args = ["--requests", requests, "--policy", "primary-academy", "--calendar", school["calendar"], "--db", school["db"],
            "--on", "13/11/2026"]
    assert run("requests", "decide", "N1", "--decline", "--reason", "No.", *args).exit_code == 0
    result = run("requests", "letters", requests, "-p", "primary-academy", "-e", school["exports"], "--calendar",
                 school["calendar"], "--db", school["db"], "--out", school["tmp"] / "out", "--school", school["school"],
                 "--date", "16/11/2026", "-f", "txt")
    assert result.exit_code == 1 and not (school["tmp"] / "out").exists()
    assert result.stderr.startswith("Error: Pupil P9, whose request was decided, is not in the registers given")


def test_decisions_need_the_ledger_dates_and_codes_that_make_sense(run, school, tmp_path):
    base = ["--requests", school["requests"], "--policy", "primary-academy", "--calendar", school["calendar"]]
    fresh = run("requests", "decide", "R1", "--grant", "--reason", "x", *base)  # no --db: no ledger started silently
    assert fresh.exit_code == 2 and "There is no ledger at" in fresh.stderr
    db = ["--db", school["db"]]
    early = run("requests", "decide", "R1", "--grant", "--reason", "x", "--on", "30/10/2026", *base, *db)
    assert early.exit_code == 1 and "decided before the request was received (01/11/2026)" in early.stderr
    later = run("requests", "decide", "R1", "--grant", "--reason", "x", "--on", "01/01/2099", *base, *db)
    assert later.exit_code == 1 and "decided on a day still to come" in later.stderr
    present = run("requests", "decide", "R7", "--decline", "--declined-code", "C", "--reason", "x", "--on", "13/11/2026",
                  *base, *db)
    assert present.exit_code == 1
    assert "--declined-code C: a authorised code (Leave of absence: exceptional circumstances)" in present.stderr
    days = run("requests", "decide", "R2", "--partial", "--days", "2", "--reason", "x", "--on", "13/11/2026", *base, *db)
    assert days.exit_code == 1 and "--days 2: R2 covers 2 school days" in days.stderr
    missing = run("requests", "letters", school["requests"], "-p", "primary-academy", "-e", school["exports"],
                  "--db", tmp_path / "typo.sqlite", "--out", tmp_path / "out", "--school", school["school"])
    assert missing.exit_code == 2 and f"There is no ledger at {tmp_path / 'typo.sqlite'}" in missing.stderr


def test_route_codes_must_be_what_the_route_says(run, write, school):
    policy = write("p.toml", 'name = "x"\nextends = "primary-academy"\n[requests]\n' + "".join(
        f'[[requests.route]]\ntype = "{t}"\nroute = "authorise"\ncode = "{code}"\ndeclined_code = "{declined}"\n'
        for t, code, declined in (("illness", "/", "O"), ("appointment", "M", "M"), ("exceptional", "C", "G"),
                                  ("religious", "R", "O"), ("other", "C", "O"))))
    result = run("policy", "check", policy)
    assert result.exit_code == 1
    assert "requests route 'illness': code: '/' is a present code" in result.stderr
    assert "requests route 'appointment': declined_code: 'M' is a authorised code" in result.stderr
    listed = run("requests", school["requests"], "-p", policy)
    assert listed.exit_code == 1 and "requests route 'illness': code: '/' is a present code" in listed.stderr


def test_review_words_are_found_in_their_forms_and_overlaps_flagged(run, write):
    requests = write("u.csv", ["Reference,Student ID,Type,From,To,Reason,Details,Timestamp",
                               "U1,S1,Illness,07/12/2026,07/12/2026,Ill,I was assaulted,01/12/2026",
                               "U2,S2,Other,07/12/2026,07/12/2026,Mental-health day,,01/12/2026",
                               "U3,S3,Other,07/12/2026,07/12/2026,mental  health,,01/12/2026",
                               "U4,S3,Illness,07/12/2026,08/12/2026,Flu,,01/12/2026"])
    result = run("requests", requests, "-p", "university", "--as-of", "04/12/2026", "-f", "csv")
    rows = {r["request_id"]: r for r in csv_frame(result.stdout).to_dicts()}
    assert rows["U1"]["review_why"] == "for the Student Support Officer: mentions assaulted"
    assert rows["U2"]["review_why"] == "for the Student Support Officer: mentions mental-health"
    assert rows["U3"]["review"] == "true" and rows["U4"]["review"] == "false"
    assert rows["U3"]["notice"] == "overlaps U4" and rows["U4"]["notice"] == "overlaps U3"


def test_a_map_wins_over_an_alias(run, write):
    requests = write("m.csv", ["Pupil Ref,Student ID,Type,From", "P1,OLD1,Illness,16/11/2026"])
    result = run("requests", requests, "-p", "primary-academy", "--map", "Pupil Ref=pupil_id", "-f", "csv",
                 "--as-of", "16/11/2026")
    assert result.exit_code == 0, result.stderr
    assert csv_frame(result.stdout)["pupil_id"].to_list() == ["P1"]
    bad = run("requests", requests, "-p", "primary-academy", "--map", "Pupil Ref=mark")
    assert bad.exit_code == 2 and "--map: mark is not a field of a request." in bad.stderr
