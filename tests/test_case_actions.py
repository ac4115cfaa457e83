"""`attendance case record`, `case import`, `case list` and the actions in `history`: what the school did
about a case, in a real SQLite ledger, through the real command line (in-process)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from attendance_cli.ledger import Ledger, LetterRun
from attendance_cli.rules.policy import ACTIONS
from tests.conftest import SCHOOL, csv_frame
from tests.test_ledger_safety import POLICY, register

TODAY = dt.date.today()
EVENTS_IN = {
    "key": pl.Int64, "rule_id": pl.String, "ladder": pl.String, "stage": pl.Int64, "kind": pl.String,
    "pupil_id": pl.String, "value": pl.String, "threshold": pl.String, "measure": pl.String,
    "window_start": pl.Date, "window_end": pl.Date, "first_met_on": pl.Date, "letter": pl.String,
    "decision": pl.String,
}
LETTERS_IN = {"key": pl.Int64, "pupil_id": pl.String, "letter": pl.String, "guardian": pl.Int64, "recipient": pl.String,
              "channel": pl.String, "email": pl.String, "file": pl.String, "letter_date": pl.Date}
LADDERS = "Use one of its ladders: punctuality, persistent-absence."


def day(offset: int = 0) -> str:
    """A date `offset` days from today, as an officer types it."""
    return f"{TODAY + dt.timedelta(days=offset):%d/%m/%Y}"


def _event(key: int, pupil: str, rule: str, ladder: str, stage: int, letter: str | None) -> dict:
    return {"key": key, "rule_id": rule, "ladder": ladder, "stage": stage, "kind": "state", "pupil_id": pupil,
            "value": "5", "threshold": "3 or more", "measure": "late marks", "window_start": TODAY - dt.timedelta(days=10),
            "window_end": TODAY, "first_met_on": TODAY, "letter": letter, "decision": "letter" if letter else None}


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A ledger as of today: S1 at stage 2 of punctuality (one letter, to two guardians), S2 persistently absent."""
    path = tmp_path / "ledger.sqlite"
    events = pl.DataFrame([_event(1, "S1", "punctuality-letter", "punctuality", 1, None),
                           _event(2, "S1", "punctuality-meeting", "punctuality", 2, "punctuality-meeting"),
                           _event(3, "S2", "persistent-absence", "persistent-absence", 1, None)], schema=EVENTS_IN)
    letters = pl.DataFrame([{"key": 2, "pupil_id": "S1", "letter": "punctuality-meeting", "guardian": g,
                             "recipient": name, "channel": "post", "email": None, "file": f"S1-{g}.pdf",
                             "letter_date": TODAY} for g, name in ((1, "Mrs Smith"), (2, "Mr Smith"))], schema=LETTERS_IN)
    with Ledger(path) as book:
        result = book.record("safety", TODAY, events, pl.DataFrame(schema={"key": pl.Int64, "date": pl.Date,
                                                                             "session": pl.String, "code": pl.String}),
                             pl.DataFrame(schema={"rule_id": pl.String, "pupil_id": pl.String}), letters=letters,
                             letter_run=LetterRun(str(tmp_path), str(tmp_path / ".attendance-staging-1")))
        book.finish_letter_run(result.letter_run_id)
    (tmp_path / "policy.toml").write_text(POLICY, encoding="utf-8")
    (tmp_path / "school.toml").write_text(SCHOOL, encoding="utf-8")
    return path


def actions(path: Path) -> list[tuple]:
    with Ledger(path, create=False) as book:
        return book.actions().select("pupil_id", "ladder", "action", "date", "until", "note").rows()


def case(run, path: Path, *args):
    return run("case", *args, "--db", path)


# -- recording one action ---------------------------------------------------------------------------


def test_each_action_kind_is_recorded_with_its_date_until_and_note(run, ledger):
    for index, action in enumerate(ACTIONS):
        until = ["--until", day(10)] if action in ("hold", "evidence-received") else []
        result = case(run, ledger, "record", "S1", "--ladder", "punctuality", "--action", action, "--date", day(-index),
                      *until, "--note", f"note {index}")
        assert result.exit_code == 0, result.stderr
        end = f", until {day(10)}" if until else ""
        assert result.stderr == (f"Recorded {action} for pupil S1 on the punctuality case ({day(-index)}{end}) "
                                 f"in {ledger}.\n")
    recorded = actions(ledger)
    assert sorted(row[2] for row in recorded) == sorted(ACTIONS)
    by_action = {row[2]: row for row in recorded}
    assert by_action["hold"][4] == by_action["evidence-received"][4] == TODAY + dt.timedelta(days=10)
    assert by_action["meeting-held"] == ("S1", "punctuality", "meeting-held", TODAY - dt.timedelta(days=1), None, "note 1")


def test_the_same_action_on_the_same_case_and_date_is_recorded_once(run, ledger):
    args = ("record", "S1", "--ladder", "punctuality", "--action", "Meeting held", "--date", day(-1))
    assert case(run, ledger, *args).exit_code == 0
    again = case(run, ledger, *args, "--note", "a second note")
    assert again.exit_code == 0
    assert again.stderr == (f"Already recorded: meeting-held for pupil S1 on the punctuality case ({day(-1)}) in "
                            f"{ledger}; nothing changed.\n")
    assert actions(ledger) == [("S1", "punctuality", "meeting-held", TODAY - dt.timedelta(days=1), None, "")]


def test_a_hold_without_until_is_refused(run, ledger):
    result = case(run, ledger, "record", "S1", "--ladder", "punctuality", "--action", "hold", "--date", day())
    assert result.exit_code == 2
    assert result.stderr == ("Error: --action hold needs --until DATE: the date the case is on hold until.\n"
                             "  Fix: Add --until dd/mm/yyyy, on or after --date.\n")
    assert actions(ledger) == []


def test_an_unknown_action_is_refused_listing_the_actions(run, ledger):
    result = case(run, ledger, "record", "S1", "--ladder", "punctuality", "--action", "phoned", "--date", day())
    assert result.exit_code == 2
    assert result.stderr == ("Error: --action 'phoned' is not an action the ledger records.\n"
                             "  Fix: Use one of: evidence-received, meeting-held, notice-issued, notice-waived, referred, "
                             "closed, hold.\n")


def test_an_unknown_ladder_is_refused_with_a_policy_listing_its_ladders(run, ledger):
    policy = ledger.parent / "policy.toml"
    result = case(run, ledger, "record", "S1", "--ladder", "punctualty", "--action", "closed", "--date", day(),
                  "--policy", policy)
    assert result.exit_code == 2
    assert result.stderr == f"Error: --ladder 'punctualty' is not a ladder of the policy safety.\n  Fix: {LADDERS}\n"
    listed = case(run, ledger, "list", "--ladder", "punctualty", "--policy", policy)
    assert listed.exit_code == 2 and LADDERS in listed.stderr
    assert case(run, ledger, "record", "S1", "--ladder", "punctuality", "--action", "closed", "--date", day(),
                "--policy", policy).exit_code == 0


@pytest.mark.parametrize(("extra", "message"), [
    (("--action", "meeting-held", "--date", day(), "--until", day()),
     "Error: --until is only for hold (the date the case is on hold until) and evidence-received (the date the "
     "evidence covers absences up to), not for meeting-held.\n  Fix: Leave out --until.\n"),
    (("--action", "hold", "--date", day(), "--until", day(-1)),
     f"Error: --until '{day(-1)}' is before the action's date ({day()}).\n  Fix: Give a date on or after {day()}.\n"),
    (("--action", "closed", "--date", day(1)),
     f"Error: --date '{day(1)}' is after today ({day()}).\n"
     "  Fix: Record what the school has done once it is done, on the day it was done.\n"),
    (("--action", "closed", "--date", "31/02/2026"),
     "Error: --date '31/02/2026' is not a date.\n  Fix: Write dates day first: dd/mm/yyyy, e.g. 20/11/2026.\n"),
])
def test_dates_that_cannot_be_recorded_are_refused(run, ledger, extra, message):
    result = case(run, ledger, "record", "S1", "--ladder", "punctuality", *extra)
    assert (result.exit_code, result.stderr) == (2, message)
    assert actions(ledger) == []


def test_a_missing_ledger_is_refused_and_not_created(run, tmp_path, monkeypatch):
    missing = tmp_path / "nosuch.sqlite"
    result = case(run, missing, "record", "S1", "--ladder", "punctuality", "--action", "closed", "--date", day())
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: There is no ledger at {missing}: an action is recorded in the ledger of "
                                    "the case's events, and recording one never creates a ledger.\n")
    assert not missing.exists()
    # the default ledger, in the working directory
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ATTENDANCE_DB", raising=False)
    result = run("case", "record", "S1", "--ladder", "punctuality", "--action", "closed", "--date", day())
    assert result.exit_code == 2 and "There is no ledger at attendance-ledger.sqlite" in result.stderr
    good = tmp_path / "good.csv"
    good.write_text(f"pupil_id,ladder,action,date\nS1,punctuality,closed,{day()}\n", encoding="utf-8")
    assert case(run, missing, "import", good).exit_code == 2
    assert case(run, missing, "list").exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.csv"]


def test_the_ledger_comes_from_attendance_db_without_db(run, ledger, monkeypatch):
    monkeypatch.setenv("ATTENDANCE_DB", str(ledger))
    result = run("case", "record", "S2", "--ladder", "persistent-absence", "--action", "referred", "--date", day())
    assert result.exit_code == 0, result.stderr
    assert actions(ledger) == [("S2", "persistent-absence", "referred", TODAY, None, "")]


# -- importing a file -------------------------------------------------------------------------------


def test_an_import_with_a_bad_row_records_nothing_and_names_the_line_and_value(run, ledger, tmp_path):
    bad = tmp_path / "actions.csv"
    bad.write_text("Student ID,Ladder,Action,Date,Until,Note\n"
                   f"S1,punctuality,meeting-held,{day(-2)},,private family matter\n"
                   f"S2,persistent-absence,hold,{day(-1)},,private family matter\n"
                   "S2,persistent-absence,closed,40/11/2026,,private family matter\n", encoding="utf-8")
    result = case(run, ledger, "import", bad)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {bad}: 2 of 3 rows cannot be recorded; nothing was recorded.\n")
    assert f"{bad}, line 3: a hold needs the date the case is on hold until; column 'Until'\n" in result.stderr
    assert f"{bad}, line 4: not a date; column 'Date'; value '40/11/2026'\n" in result.stderr
    assert "private" not in result.stderr
    assert actions(ledger) == []


def test_a_bad_ladder_in_an_import_is_refused_with_the_policy(run, ledger, tmp_path):
    bad = tmp_path / "actions.csv"
    bad.write_text(f"pupil_id,ladder,action,date\nS1,lateness,closed,{day()}\n", encoding="utf-8")
    result = case(run, ledger, "import", bad, "--policy", ledger.parent / "policy.toml")
    assert result.exit_code == 1
    assert f"line 2: not a ladder of the policy safety; column 'ladder'; value 'lateness'" in result.stderr
    assert "Expected: punctuality, persistent-absence" in result.stderr
    assert actions(ledger) == []


def test_a_note_with_an_unquoted_comma_is_refused_without_showing_it(run, ledger, tmp_path):
    bad = tmp_path / "actions.csv"
    bad.write_text(f"pupil_id,ladder,action,date,note\nS1,punctuality,closed,{day()},moved, new school\n",
                   encoding="utf-8")
    result = case(run, ledger, "import", bad)
    assert result.exit_code == 1
    assert f"{bad}, line 2: more cells than the header row has columns (6, not 5)" in result.stderr
    assert "new school" not in result.stderr and actions(ledger) == []


def test_a_good_import_records_every_row_and_a_second_import_records_none(run, ledger, tmp_path):
    good = tmp_path / "actions.csv"
    good.write_text("Student ID,Ladder,Action,Date,Until,Note\n"
                    f"S1,punctuality,meeting-held,{day(-2)},,\"met mum, agreed plan\"\n"
                    f"S1,punctuality,hold,{day(-1)},{day(7)},\n"
                    "\n"
                    f"S2,persistent-absence,evidence-received,{day(-1)},{day(-1)},GP letter\n", encoding="utf-8")
    first = case(run, ledger, "import", good)
    assert first.exit_code == 0, first.stderr
    assert first.stderr == f"Recorded 3 actions from {good} in {ledger}.\n"
    assert actions(ledger) == [
        ("S1", "punctuality", "meeting-held", TODAY - dt.timedelta(days=2), None, "met mum, agreed plan"),
        ("S1", "punctuality", "hold", TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=7), ""),
        ("S2", "persistent-absence", "evidence-received", TODAY - dt.timedelta(days=1), TODAY - dt.timedelta(days=1),
         "GP letter")]
    again = case(run, ledger, "import", good)
    assert again.exit_code == 0
    assert again.stderr == f"Recorded 0 actions from {good} in {ledger} (3 already recorded).\n"
    assert len(actions(ledger)) == 3


# -- listing the cases, and the history ----------------------------------------------------------------


def test_case_list_shows_the_stage_letters_and_actions(run, ledger):
    assert case(run, ledger, "record", "S1", "--ladder", "punctuality", "--action", "meeting-held",
                "--date", day(-3)).exit_code == 0
    assert case(run, ledger, "record", "S1", "--ladder", "punctuality", "--action", "hold", "--date", day(-1),
                "--until", day(14)).exit_code == 0
    assert case(run, ledger, "record", "S3", "--ladder", "punctuality", "--action", "evidence-received",
                "--date", day(-1), "--until", day()).exit_code == 0
    result = case(run, ledger, "list", "-f", "csv")
    assert result.exit_code == 0, result.stderr
    cases = csv_frame(result.stdout)
    assert cases.columns == ["pupil_id", "ladder", "stage", "last_event", "last_letter", "letters", "actions",
                             "on_hold_until"]
    iso = lambda offset: f"{TODAY + dt.timedelta(days=offset):%Y-%m-%d}"  # noqa: E731
    assert cases.rows() == [
        ("S1", "punctuality", "2", iso(0), iso(0), "1",
         f"meeting-held {day(-3)}; hold {day(-1)} until {day(14)}", iso(14)),
        ("S2", "persistent-absence", "1", iso(0), None, "0", None, None),
        ("S3", "punctuality", None, None, None, "0", f"evidence-received {day(-1)} (up to {day()})", None)]
    one = case(run, ledger, "list", "--pupil", "S2", "-f", "json")
    assert one.exit_code == 0 and '"pupil_id":"S2"' in one.stdout.replace(" ", "") and "S1" not in one.stdout
    # closing the case starts it again: no stage after the day it was closed
    assert case(run, ledger, "record", "S2", "--ladder", "persistent-absence", "--action", "closed",
                "--date", day()).exit_code == 0
    closed = csv_frame(case(run, ledger, "list", "--ladder", "persistent-absence", "-f", "csv").stdout)
    assert closed.select("pupil_id", "stage", "actions").rows() == [("S2", None, f"closed {day()}")]


def test_case_list_table_on_an_empty_ledger_says_so(run, tmp_path):
    path = tmp_path / "empty.sqlite"
    Ledger(path).close()
    result = case(run, path, "list", "-f", "table")
    assert result.exit_code == 0 and result.stderr == f"No cases in {path}.\n"


def test_history_shows_the_actions_with_the_events_of_a_real_run(run, tmp_path):
    (tmp_path / "school.toml").write_text(SCHOOL, encoding="utf-8")
    (tmp_path / "policy.toml").write_text(POLICY, encoding="utf-8")
    export, db = register(tmp_path / "marks.csv"), tmp_path / "ledger.sqlite"
    assert run("triggers", export, "--policy", tmp_path / "policy.toml", "--db", db, "--record", "-q",
               "-f", "csv").exit_code == 0
    before = csv_frame(run("history", "S1", "--db", db, "-f", "csv").stdout)
    assert case(run, db, "record", "S1", "--ladder", "punctuality", "--action", "meeting-held", "--date", "13/11/2026",
                "--note", "met Mrs Smith", "--policy", tmp_path / "policy.toml").exit_code == 0
    assert case(run, db, "record", "S1", "--ladder", "punctuality", "--action", "hold", "--date", "16/11/2026",
                "--until", "27/11/2026").exit_code == 0
    after = csv_frame(run("history", "S1", "--db", db, "-f", "csv").stdout)
    assert after.filter(pl.col("entry") != "action").equals(before)  # the events' lines as they were
    assert after.filter(pl.col("entry") == "action").select("date", "value", "detail").rows() == [
        ("2026-11-13", "meeting-held", "punctuality case; note: met Mrs Smith"),
        ("2026-11-16", "hold", "punctuality case; until 27/11/2026")]
    # a pupil with actions only has a history too
    assert case(run, db, "record", "S9", "--ladder", "punctuality", "--action", "evidence-received",
                "--date", "16/11/2026", "--until", "20/11/2026").exit_code == 0
    only = csv_frame(run("history", "S9", "--db", db, "-f", "csv").stdout)
    assert only.select("entry", "value", "detail").rows() == [
        ("action", "evidence-received", "punctuality case; covering absences up to 20/11/2026")]
