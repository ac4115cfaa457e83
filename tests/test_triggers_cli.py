"""`attendance triggers`, `history` and `policy` as an officer (or a cron job) uses them, with a real
SQLite ledger: what is new, recording once, stale events, a busy ledger, exact messages."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import ARBOR_HEADER, csv_frame, weekdays

MONDAY = dt.date(2025, 9, 1)
TRIGGER_HEADER = ("pupil_id,surname,forename,year_group,form,rule_id,stage,status,value,threshold,measure,window_start,"
                  "window_end,first_met_on,evidence_sessions,evidence,letter,ladder,description,as_of")

#: dfe-national without the six weeks its state letters wait for (these registers are days long)
NATIONAL = str(Path(__file__).parent / "policies" / "dfe-national-any-length.toml")


def days(count: int, start: dt.date = MONDAY) -> list[dt.date]:
    return weekdays(start, count)


def export(path: Path, marks: dict[str, list[str]], start: dt.date = MONDAY) -> Path:
    """An Arbor export: each pupil's marks fill consecutive weekday sessions from `start`; a
    background pupil is present every session so the school is open."""
    length = max(len(m) for m in marks.values())
    slots = [(d, s) for d in days((length + 1) // 2, start) for s in ("AM", "PM")][:length]
    rows = []
    for pupil, pupil_marks in {"BG": ["/"] * length, **marks}.items():
        rows += [f"{pupil},Surname{pupil},Fore,Year 4,4A,{d:%d/%m/%Y},{s},{m}," for (d, s), m in zip(slots, pupil_marks)]
    path.write_text("\n".join([ARBOR_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def week_one(tmp_path):
    # P1: 10 unauthorised sessions in the first week (penalty notice, and 100% absence: PA and SA)
    return export(tmp_path / "week1.csv", {"P1": ["O", "O", "N", "N", "G", "G", "U", "O", "O", "O"], "P2": ["/"] * 10})


def test_triggers_lists_new_events_and_records_nothing_without_record(run, week_one, tmp_path):
    db = tmp_path / "ledger.sqlite"
    result = run("triggers", week_one, "--policy", NATIONAL, "--db", db, "-f", "csv")
    assert result.exit_code == 0
    table = csv_frame(result.stdout)
    assert result.stdout.splitlines()[0] == TRIGGER_HEADER
    assert table.select("pupil_id", "rule_id", "stage", "status", "value", "threshold").rows() == [
        ("P1", "penalty-notice", "1", "new", "10", "10 or more"),
        ("P1", "persistent-absence", "1", "new", "0.00", "attendance 90% or less"),
        ("P1", "severe-absence", "2", "new", "0.00", "attendance 50% or less"),
    ]
    penalty = table.row(0, named=True)
    assert penalty["evidence"] == ("01/09/2025 AM O; 01/09/2025 PM O; 02/09/2025 AM N; 02/09/2025 PM N; 03/09/2025 AM G; "
                                   "03/09/2025 PM G; 04/09/2025 AM U; 04/09/2025 PM O; 05/09/2025 AM O; 05/09/2025 PM O")
    assert (penalty["window_start"], penalty["window_end"], penalty["first_met_on"]) == ("2025-09-01", "2025-09-05", "2025-09-05")
    assert "3 new events for 1 pupil." in result.stderr
    assert not db.exists()  # reading never creates a ledger


def test_record_once_then_only_what_is_new(run, week_one, tmp_path):
    db = tmp_path / "ledger.sqlite"
    first = run("triggers", week_one, "--policy", NATIONAL, "--db", db, "--new", "--record", "-f", "csv")
    assert first.exit_code == 0 and len(csv_frame(first.stdout)) == 3
    assert f"Recorded 3 events in {db}." in first.stderr
    again = run("triggers", week_one, "--policy", NATIONAL, "--db", db, "--new", "--record", "-f", "csv")
    assert again.stdout.strip() == TRIGGER_HEADER  # nothing new: nothing listed, nothing recorded twice
    assert "0 new events for 0 pupils; 2 recorded states still met." in again.stderr
    assert f"Recorded 0 events in {db}." in again.stderr
    # without --new the states still show, as recorded; the penalty notice's sessions are used up
    everything = csv_frame(run("triggers", week_one, "--policy", NATIONAL, "--db", db, "-f", "csv", "-q").stdout)
    assert everything.select("rule_id", "status").rows() == [("persistent-absence", "recorded"), ("severe-absence", "recorded")]
    with sqlite3.connect(db) as connection:
        assert connection.execute("select count(*) from events").fetchone() == (3,)
        assert connection.execute("select count(*) from evidence").fetchone() == (30,)


def test_a_week_later_only_new_sessions_count_and_states_left_are_closed(run, tmp_path):
    db = tmp_path / "ledger.sqlite"
    first = export(tmp_path / "w1.csv", {"P1": ["O"] * 10, "P2": ["/"] * 10})
    assert run("triggers", first, "--policy", NATIONAL, "--db", db, "--record", "-q").exit_code == 0
    # two more weeks: P1 misses one session in 20 (11 of 30: no longer severely absent, still persistently);
    # one new unauthorised session is not 10
    second = export(tmp_path / "w2.csv", {"P1": ["/"] * 19 + ["O"], "P2": ["/"] * 20}, start=MONDAY + dt.timedelta(days=7))
    result = run("triggers", first, second, "--policy", NATIONAL, "--db", db, "--new", "--record", "-f", "csv")
    assert result.stdout.strip() == TRIGGER_HEADER
    assert "Recorded 0 events" in result.stderr and "1 state closed: no longer met" in result.stderr
    history = csv_frame(run("history", "P1", "--db", db, "-f", "csv").stdout)
    assert history.select("date", "entry", "rule_id").rows() == [
        ("2025-09-05", "event", "penalty-notice"), ("2025-09-05", "event", "persistent-absence"),
        ("2025-09-05", "event", "severe-absence"), ("2025-09-19", "left", "severe-absence")]


def test_a_changed_mark_behind_a_recorded_event_is_stale(run, week_one, tmp_path):
    db = tmp_path / "ledger.sqlite"
    assert run("triggers", week_one, "--policy", NATIONAL, "--db", db, "--record", "-q").exit_code == 0
    amended = tmp_path / "amended.csv"
    amended.write_text(week_one.read_text().replace("02/09/2025,AM,N,", "02/09/2025,AM,I,"), encoding="utf-8")
    result = run("triggers", amended, "--policy", NATIONAL, "--db", db, "-f", "csv")
    stale = csv_frame(result.stdout).filter(pl.col("status") == "stale")
    assert stale.select("rule_id", "evidence").rows() == [
        ("penalty-notice", "recorded 05/09/2025; marks changed since: 02/09/2025 AM N → I")]
    assert "Warning: 1 recorded event stale: the marks behind it have changed since." in result.stderr
    new_only = run("triggers", amended, "--policy", NATIONAL, "--db", db, "--new", "-f", "csv")
    assert new_only.stdout.strip() == TRIGGER_HEADER
    assert "(run without --new to list them)" in new_only.stderr


def test_a_busy_ledger_waits_then_stops_without_writing_or_recording(run, week_one, tmp_path):
    db = tmp_path / "ledger.sqlite"
    assert run("triggers", week_one, "--policy", NATIONAL, "--db", db, "--record", "-q").exit_code == 0
    more = export(tmp_path / "more.csv", {"P3": ["O"] * 10})
    out = tmp_path / "week.csv"
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another cron job is recording
    try:
        result = run("triggers", week_one, more, "--policy", NATIONAL, "--db", db, "--record", "--wait", "0.2",
                     "-o", out, "-q")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert result.exit_code == 1
    assert str(db) in result.stderr and "another" in result.stderr.lower()
    assert not out.exists()  # no output without the record, no record without the output
    with sqlite3.connect(db) as connection:
        assert connection.execute("select count(*) from events").fetchone() == (3,)


def test_output_file_and_record_together(run, week_one, tmp_path):
    db, out = tmp_path / "ledger.sqlite", tmp_path / "week.csv"
    result = run("triggers", week_one, "--policy", NATIONAL, "--db", db, "--new", "--record", "-o", out, "-q")
    assert result.exit_code == 0
    assert len(csv_frame(out.read_text(encoding="utf-8"))) == 3
    assert not list(tmp_path.glob(".week.csv.*"))  # no temporary files left behind


def test_as_of_evaluates_the_register_on_that_date(run, week_one, tmp_path):
    result = run("triggers", week_one, "--policy", NATIONAL, "--as-of", "04/09/2025", "--db", tmp_path / "l.sqlite",
                 "-f", "csv", "-q")
    table = csv_frame(result.stdout)
    assert table.select("rule_id", "value").rows() == [("persistent-absence", "0.00"), ("severe-absence", "0.00")]
    assert set(table["window_end"]) == {"2025-09-04"}


def test_a_lesson_policy_refuses_session_registers(run, week_one, tmp_path):
    result = run("triggers", week_one, "--policy", "university", "--codes", "dfe", "--db", tmp_path / "l.sqlite")
    assert result.exit_code == 2
    assert result.stderr == ("Error: The 'university' policy is for lesson registers, but these exports are session (AM/PM) "
                             "registers.\n  Fix: Use a school policy such as dfe-national, or give the lesson exports.\n")


def test_policy_commands(run, tmp_path):
    listing = run("policy", "list").stdout
    for name in ("dfe-national", "primary-academy", "absence-levels", "college", "university"):
        assert name in listing
    rules = csv_frame(run("policy", "show", "dfe-national", "-f", "csv").stdout)
    assert rules["rule_id"].to_list() == ["persistent-absence", "severe-absence", "penalty-notice", "cme-10-days",
                                          "deletion-20-days", "unresolved-n"]
    assert rules.filter(pl.col("rule_id") == "penalty-notice")["condition"].item() == "10 or more sessions with codes G, N, O, U"
    mine = tmp_path / "my-school.toml"
    assert run("policy", "init", "primary-academy", mine).exit_code == 0
    assert 'name = "my-school"' in mine.read_text(encoding="utf-8")
    assert run("policy", "check", mine).stdout == (f"{mine}: OK. Policy 'my-school', 16 rules, code table 'dfe', "
                                                   "calendar inferred, 4 bands.\n")
    again = run("policy", "init", "primary-academy", mine)
    assert (again.exit_code, again.stderr) == (2, f"Error: {mine} already exists.\n  Fix: Choose another name, or pass "
                                                  "--force to overwrite it.\n")
    mine.write_text(mine.read_text(encoding="utf-8").replace('late = true', 'lates = true', 1), encoding="utf-8")
    bad = run("policy", "check", mine)
    assert bad.exit_code == 1
    assert f"Error: Policy {mine} has problems:\n  rule 'punctuality-letter': lates: is not a known key; allowed:" in bad.stderr


def test_a_policy_naming_a_code_its_table_lacks_is_refused_before_reading(run, week_one, tmp_path):
    policy = tmp_path / "typo.toml"
    policy.write_text('name = "typo"\n[[rule]]\nid = "holidays"\nkind = "count"\ncodes = ["GG"]\nat_least = 2\n',
                      encoding="utf-8")
    result = run("triggers", week_one, "--policy", policy, "--db", tmp_path / "l.sqlite")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Policy {policy} names codes its code table does not have:\n"
                                    "  rule 'holidays': codes: 'GG' is not a code in the 'dfe' table\n")


def test_history_of_an_unknown_pupil(run, tmp_path):
    result = run("history", "NOPE", "--db", tmp_path / "missing.sqlite")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Nothing is known about pupil 'NOPE' (no ledger at ")


def test_history_with_exports_gives_attendance_per_half_term_then_events(run, week_one, tmp_path):
    db = tmp_path / "ledger.sqlite"
    assert run("triggers", week_one, "--policy", NATIONAL, "--db", db, "--record", "-q").exit_code == 0
    result = run("history", "P1", week_one, "--db", db, "-f", "csv")
    timeline = csv_frame(result.stdout)
    assert timeline.row(0) == ("2025-09-01", "attendance", None, "Autumn 1 2025/26", None, "0.00", "attendance %",
                               "10 possible sessions, 0 authorised and 10 unauthorised absences, 1 late")
    assert timeline["entry"].to_list() == ["attendance", "event", "event", "event"]


def test_an_as_of_date_before_the_data_is_refused_not_answered_with_an_empty_list(run, week_one, tmp_path):
    result = run("triggers", week_one, "--policy", NATIONAL, "--as-of", "01/09/2024", "--db", tmp_path / "l.sqlite")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == ("Error: --as-of 01/09/2024 is before the first mark in the exports (01/09/2025).\n"
                             "  Fix: Give a date from 01/09/2025 to 05/09/2025, or leave --as-of out to evaluate as of "
                             "the last date in the data.\n")
