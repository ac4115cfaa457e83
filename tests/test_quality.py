"""The data-quality section of `attendance ingest`: unmarked sessions with pupils and dates (off-roll
grid cells apart), missing days, unresolved N, and marks outside enrolment, each counted by hand."""

from __future__ import annotations

import datetime as dt
import json

from tests.conftest import ARBOR_HEADER, csv_frame, session_rows

START = dt.date(2026, 11, 2)  # Monday; two school weeks to Friday 13/11/2026


def test_each_finding_is_counted_as_by_hand(run, write, tmp_path):
    # P1: N on Mon 02/11 AM (unresolved), N on Tue 03/11 AM (given a reason, I, in the later export);
    # no row at all on Wed 04/11 (a missing day); P2: an unmarked PM on Thu 12/11
    p1 = [r for r in session_rows("P1", START, ["N", "\\", "N", "\\"] + ["/", "\\"] * 8) if ",04/11/2026," not in r]
    p2 = session_rows("P2", START, ["/", "\\"] * 10)
    p2 = [r.replace(",12/11/2026,PM,\\,", ",12/11/2026,PM,,") for r in p2]
    first = write("first.csv", [ARBOR_HEADER, *p1, *p2])
    later = write("later.csv", [ARBOR_HEADER, "P1,Smith,Amy,Year 3,3A,03/11/2026,AM,I,"])
    unmarked = tmp_path / "unmarked.csv"
    result = run("ingest", first, later, "-f", "json", "--unmarked", unmarked, "--duplicates", "keep-last")
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)["data_quality"]
    assert (found["unmarked_on_roll"], found["unmarked_pupils"], found["unmarked_probably_not_on_roll"]) == (1, 1, 0)
    assert found["unmarked_examples"][0] | {"file": "x"} == {"pupil_id": "P2", "date": "2026-11-12", "session": "PM",
                                                            "file": "x", "line": 37, "on_roll": True}
    assert (found["missing_days"], found["missing_examples"]) == (1, [{"pupil_id": "P1", "date": "2026-11-04"}])
    assert found["unresolved_n"] == 1 and found["unresolved_n_examples"][0]["date"] == "2026-11-02"
    assert found["outside_enrolment"] == 0
    listed = csv_frame(unmarked.read_text(encoding="utf-8-sig"))
    assert listed.select("pupil_id", "date", "session", "on_roll").rows() == [("P2", "2026-11-12", "PM", "true")]
    text = run("ingest", first, later, "--duplicates", "keep-last").stdout
    assert "  unmarked    1 session left unmarked for 1 pupil on roll (--unmarked FILE lists them all)" in text
    assert "  missing     1 school day on which a pupil on roll has no row at all (1 pupil)" in text


def test_a_grids_blank_cells_before_a_pupils_first_mark_are_shown_apart(run, write):
    header = ["Student ID,Legal Surname,Legal Forename,Year Group,Registration Form,Mon 02/11/2026,,Tue 03/11/2026,,"
              "Wed 04/11/2026,",
              ",,,,,AM,PM,AM,PM,AM,PM"]
    grid = write("grid.csv", [*header, "G1,Lee,Bo,Year 3,3A,,,/,\\,/,",  # joined on Tuesday; Wed PM left unmarked
                              "G2,Lee,Al,Year 3,3A,/,\\,/,\\,/,\\"])
    result = run("ingest", grid, "-f", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    found = report["data_quality"]
    assert (found["unmarked_on_roll"], found["unmarked_probably_not_on_roll"]) == (1, 2)  # Wed PM; Mon AM and PM
    assert report["unmarked"] == 3  # the pass's own count: the two are one account
    assert found["missing_days"] == 0  # a grid has a cell for every day


def test_marks_outside_admission_and_leaving_dates_are_listed(run, write):
    rows = ["Student ID,Admission Date,Date,Session,Mark", "E1,04/11/2026,02/11/2026,AM,/", "E1,04/11/2026,03/11/2026,AM,/",
            "E1,04/11/2026,04/11/2026,AM,/"]
    result = run("ingest", write("e.csv", rows), "-f", "json")
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)["data_quality"]
    assert found["outside_enrolment"] == 2
    assert [e["date"] for e in found["outside_enrolment_examples"]] == ["2026-11-02", "2026-11-03"]
