"""What keeps the ledger from sending a letter twice, or losing one: recovery of a killed letters run
from another working directory, --as-of dates a recording run refuses (after the exports, before a
run already recorded), and one letter per ladder in a run. Real parts throughout: a real SQLite
ledger, the real command line (in-process, or a child process for the kills)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from attendance_cli.errors import UsageError
from attendance_cli.ledger import Ledger
from tests.conftest import ARBOR_HEADER, PUNCTUALITY_LETTER, SCHOOL, csv_frame, weekdays

# a two-stage punctuality ladder and a state rule, each naming a letter
POLICY = """name = "safety"
codes = "dfe"
school = "school.toml"

""" + PUNCTUALITY_LETTER + """
[[rule]]
id = "punctuality-meeting"
kind = "count"
late = true
window = "half-term"
at_least = 5
ladder = "punctuality"
stage = 2
letter = "punctuality-meeting"

[[rule]]
id = "persistent-absence"
kind = "attendance"
absence_at_least = 10
window = "ytd"
letter = "persistent-absence"
"""
START = dt.date(2026, 11, 2)  # Monday; the exports run to Friday 13/11/2026
# morning marks by school day (0 = Monday 2/11); every other session is present
PUPILS = {
    "S1": ("Smith", "Amy", {0: "L", 1: "L", 2: "L", 3: "L", 4: "L"}),  # 5 lates in week 1: both stages at once
    "S2": ("Khan", "Omar", {5: "L", 6: "L", 7: "L"}),  # 3 lates in week 2: stage 1
    "S3": ("Jones", "Ben", {0: "O"}),  # 1 of 10 sessions missed by 6/11 (10%: persistent), 1 of 20 by 13/11 (5%)
}


def register(path: Path, days: int = 10) -> Path:
    rows = [ARBOR_HEADER]
    for pupil_id, (surname, forename, mornings) in PUPILS.items():
        for index, day in enumerate(weekdays(START, days)):
            mark = mornings.get(index, "/")
            minutes = "10" if mark == "L" else ""
            rows.append(f"{pupil_id},{surname},{forename},Year 4,4R,{day:%d/%m/%Y},AM,{mark},{minutes}")
            rows.append(f"{pupil_id},{surname},{forename},Year 4,4R,{day:%d/%m/%Y},PM,\\,")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def school(tmp_path: Path) -> tuple[Path, Path]:
    """(folder, export): the school's settings and policy, and two weeks of register."""
    (tmp_path / "school.toml").write_text(SCHOOL, encoding="utf-8")
    (tmp_path / "policy.toml").write_text(POLICY, encoding="utf-8")
    return tmp_path, register(tmp_path / "marks.csv")


def letters(run, folder: Path, export: Path, *extra):
    return run("letters", export, "--policy", folder / "policy.toml", "--db", folder / "ledger.sqlite",
               "--date", "16/11/2026", "-f", "txt", *extra)


def triggers(run, folder: Path, export: Path, *extra):
    return run("triggers", export, "--policy", folder / "policy.toml", "--db", folder / "ledger.sqlite",
               "-f", "csv", *extra)


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchall()


def recorded_files(folder: Path) -> list[str]:
    return [row[0] for row in rows(folder / "ledger.sqlite", "select file from letters order by file")]


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def stagings(folder: Path) -> list[Path]:
    return sorted(folder.glob(".attendance-staging-*"))


# -- 1. a killed run finished from another working directory ------------------------------------


def _killed_in(cwd: Path, folder: Path, export: Path) -> subprocess.CompletedProcess:
    """A letters run started in `cwd` with relative --db and --out, killed while moving its files."""
    env = {**os.environ, "ATTENDANCE_TEST_KILL_AT": "moving", "ATTENDANCE_NO_PROGRESS": "1"}
    killed = subprocess.run([sys.executable, "-m", "attendance_cli", "letters", str(export), "--policy",
                             str(folder / "policy.toml"), "--db", "ledger.sqlite", "--out", "k2", "-f", "txt",
                             "--as-of", "06/11/2026", "--date", "09/11/2026", "-q"],
                            cwd=cwd, capture_output=True, text=True, env=env)
    assert killed.returncode == 137, killed.stderr
    return killed


def _finish_from(run, elsewhere: Path, monkeypatch, folder: Path, export: Path):
    """The same letters run started again from another folder, with absolute paths."""
    monkeypatch.chdir(elsewhere)
    return run("letters", export, "--policy", folder / "policy.toml", "--db", folder / "ledger.sqlite",
               "--out", folder / "k2", "-f", "txt", "--as-of", "06/11/2026", "--date", "09/11/2026")


def test_the_ledger_keeps_the_letters_folder_as_an_absolute_path(school):
    folder, export = school
    _killed_in(folder, folder, export)
    assert rows(folder / "ledger.sqlite", "select folder, state from letter_runs") == [
        (str((folder / "k2").resolve()), "moving")]


def test_a_killed_run_is_finished_from_another_working_directory(run, school, tmp_path_factory, monkeypatch):
    folder, export = school
    _killed_in(folder, folder, export)
    out = folder / "k2"
    waiting = len(list(stagings(out)[0].iterdir()))
    assert waiting == len(recorded_files(folder))  # the letters and the manifest, less the one moved before the kill
    result = _finish_from(run, tmp_path_factory.mktemp("elsewhere"), monkeypatch, folder, export)
    assert result.exit_code == 0, result.stderr
    assert f"Finished an interrupted letters run: moved {waiting} recorded files into {out.resolve()}." in result.stderr
    assert "No new letters." in result.stderr
    assert stagings(out) == []
    assert visible(out) == sorted([*recorded_files(folder), "manifest-2026-11-06.csv"])
    assert rows(folder / "ledger.sqlite", "select state from letter_runs") == [("done",)]


def test_an_old_ledger_with_a_relative_folder_finds_the_staging_folder_in_out(run, school, tmp_path_factory,
                                                                               monkeypatch):
    folder, export = school
    _killed_in(folder, folder, export)
    with sqlite3.connect(folder / "ledger.sqlite") as connection:  # as the previous version stored it
        connection.execute("update letter_runs set folder = 'k2'")
    waiting = len(list(stagings(folder / "k2")[0].iterdir()))
    result = _finish_from(run, tmp_path_factory.mktemp("elsewhere"), monkeypatch, folder, export)
    assert result.exit_code == 0, result.stderr
    assert (f"Finished an interrupted letters run: moved {waiting} recorded files into {(folder / 'k2').resolve()}."
            in result.stderr)
    assert stagings(folder / "k2") == []
    assert visible(folder / "k2") == sorted([*recorded_files(folder), "manifest-2026-11-06.csv"])
    assert rows(folder / "ledger.sqlite", "select state from letter_runs") == [("done",)]


def test_a_missing_staging_folder_stops_the_run_and_leaves_it_unfinished(run, school, tmp_path_factory, monkeypatch):
    folder, export = school
    _killed_in(folder, folder, export)
    out = folder / "k2"
    staging = stagings(out)[0]
    shutil.rmtree(staging)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    result = _finish_from(run, elsewhere, monkeypatch, folder, export)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: An interrupted letters run recorded {len(recorded_files(folder))} letters in {folder / 'ledger.sqlite'}, "
        "but its staging folder "
        f"is not where it was expected: {out.resolve() / staging.name}.\n"
        "  Fix: Put the folder back there, or give --out the folder that holds it, and run attendance letters again "
        "to move the letters into place. Until then the run stays unfinished, so that no recorded letter is lost. If "
        "the folder is lost for good, run again with --abandon-unfinished: the run's letters are taken out of the "
        "ledger and written again.\n")
    assert rows(folder / "ledger.sqlite", "select state from letter_runs") == [("moving",)]
    # an old ledger's relative folder: every place it may be is named
    with sqlite3.connect(folder / "ledger.sqlite") as connection:
        connection.execute("update letter_runs set folder = 'k2'")
    result = _finish_from(run, elsewhere, monkeypatch, folder, export)
    assert result.exit_code == 1
    assert (f"is not where it was expected: {elsewhere.resolve() / 'k2' / staging.name} or "
            f"{out.resolve() / staging.name}.") in result.stderr
    assert rows(folder / "ledger.sqlite", "select state from letter_runs") == [("moving",)]


def test_a_run_killed_after_moving_every_file_is_marked_done(run, school, tmp_path_factory, monkeypatch):
    folder, export = school
    _killed_in(folder, folder, export)
    out = folder / "k2"
    staging = stagings(out)[0]
    for path in staging.iterdir():  # as if killed between the last move and marking the run done
        path.rename(out / path.name)
    staging.rmdir()
    result = _finish_from(run, tmp_path_factory.mktemp("elsewhere"), monkeypatch, folder, export)
    assert result.exit_code == 0, result.stderr
    assert (f"Finished an interrupted letters run: its {len(recorded_files(folder))} recorded letters were already "
            f"in {out.resolve()}."
            in result.stderr)
    assert rows(folder / "ledger.sqlite", "select state from letter_runs") == [("done",)]


# -- 2. an --as-of after the exports is not recorded ----------------------------------------------


def test_recording_as_of_a_day_after_the_exports_is_refused(run, school):
    folder, export = school
    db = folder / "ledger.sqlite"
    first = triggers(run, folder, export, "--new", "--record", "--as-of", "06/11/2026")
    assert first.exit_code == 0 and f"Recorded 3 events in {db}." in first.stderr
    result = triggers(run, folder, export, "--new", "--record", "--as-of", "20/11/2027")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "Error: --as-of 20/11/2027 is after the last date in the exports (13/11/2026): recording as of a day the "
        "registers do not reach would close every open state, such as persistent absence, and send its letter "
        "again next time.\n"
        "  Fix: Export the registers up to 20/11/2027, or leave out --as-of to record as of 13/11/2026; to look "
        "ahead without recording, leave out --record.\n")
    out = folder / "out"
    written = letters(run, folder, export, "--out", out, "--as-of", "20/11/2027")
    assert (written.exit_code, written.stdout) == (2, "")
    assert written.stderr.endswith("again next time.\n  Fix: Export the registers up to 20/11/2027, or leave out "
                                   "--as-of to record as of 13/11/2026; to look ahead without recording, use "
                                   "--dry-run.\n")
    assert not out.exists()
    # nothing closed, nothing recorded
    assert rows(db, "select count(*), count(left_on) from events") == [(3, 0)]
    assert rows(db, "select as_of from runs") == [("2026-11-06",)]
    # looking ahead without recording is still allowed
    assert triggers(run, folder, export, "--as-of", "20/11/2027").exit_code == 0
    assert letters(run, folder, export, "--out", out, "--as-of", "20/11/2027", "--dry-run").exit_code == 0
    assert rows(db, "select count(*) from runs") == [(1,)]


# -- 3. an --as-of before a run already recorded is not recorded ---------------------------------


def test_recording_as_of_a_day_before_a_recorded_run_is_refused(run, school):
    folder, export = school
    db, out = folder / "ledger.sqlite", folder / "out"
    assert letters(run, folder, export, "--out", out, "--as-of", "06/11/2026").exit_code == 0
    # as of 13/11 S2's punctuality letter; S3 is no longer persistently absent (closed)
    second = letters(run, folder, export, "--out", out)
    assert second.exit_code == 0 and "Wrote 1 letter for 1 pupil" in second.stderr
    assert rows(db, "select pupil_id, left_on from events where rule_id = 'persistent-absence'") == [("S3", "2026-11-13")]
    sent = rows(db, "select count(*) from letters")
    result = letters(run, folder, export, "--out", out, "--as-of", "06/11/2026")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"Error: --as-of 06/11/2026 is before 13/11/2026, the as-of date of a run already recorded in the ledger "
        f"{db}. The ledger already holds a later run: recording an earlier one would count "
        "again what that run recorded or closed, and send letters again.\n"
        "  Fix: Leave out --as-of to record as of the last date in the exports (13/11/2026), or give a date from "
        "13/11/2026 on; to look back without recording, use --dry-run.\n")
    assert rows(db, "select count(*) from letters") == sent  # no second persistent-absence letter for S3
    recorded = triggers(run, folder, export, "--new", "--record", "--as-of", "06/11/2026")
    assert recorded.exit_code == 2
    assert recorded.stderr.endswith("to look back without recording, leave out --record.\n")
    assert rows(db, "select count(*) from runs") == [(2,)]
    # the same as-of again is fine (nothing new), and looking back without recording is allowed
    again = letters(run, folder, export, "--out", out, "--as-of", "13/11/2026")
    assert again.exit_code == 0 and "No new letters." in again.stderr
    assert triggers(run, folder, export, "--as-of", "06/11/2026").exit_code == 0
    dry = letters(run, folder, export, "--out", out, "--as-of", "06/11/2026", "--dry-run")
    # looking back, S3 is persistently absent again, but the family already had that letter this year
    assert dry.exit_code == 0
    assert csv_frame(dry.stdout).select("pupil_id", "decision").rows() == [("S3", "escalation")]
    assert "1 event for staff: past the case's last letter, the policy's next step (recorded)" in dry.stderr


def test_exports_that_end_before_a_recorded_run_are_refused_for_recording(run, school):
    folder, export = school
    db = folder / "ledger.sqlite"
    assert triggers(run, folder, export, "--new", "--record").exit_code == 0
    week_one = register(folder / "week1.csv", days=5)  # last week's export only
    result = letters(run, folder, week_one, "--out", folder / "out")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"Error: The exports end on 06/11/2026, before 13/11/2026, the as-of date of a run already recorded in the "
        f"ledger {db}. The ledger already holds a later run: recording an earlier one would "
        "count again what that run recorded or closed, and send letters again.\n"
        "  Fix: Give the exports up to 13/11/2026 or later (is the latest export missing?); to look back without "
        "recording, use --dry-run.\n")
    assert not (folder / "out").exists()


def test_the_ledger_itself_refuses_a_run_earlier_than_one_it_holds(tmp_path):
    import polars as pl

    empty = pl.DataFrame()
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.record("p", dt.date(2026, 11, 13), empty, empty, empty)
        # events are known by rule, whichever policy recorded them: another policy may not go back either
        with pytest.raises(UsageError):
            ledger.record("other", dt.date(2026, 11, 6), empty, empty, empty)
        ledger.record("p", dt.date(2026, 11, 13), empty, empty, empty)  # the same day again is fine
        with pytest.raises(UsageError) as refused:
            ledger.record("p", dt.date(2026, 11, 6), empty, empty, empty)
        assert refused.value.describe() == (
            f"Cannot record as of 06/11/2026 in the ledger {tmp_path / 'ledger.sqlite'}: it already holds a run as "
            "of 13/11/2026. The ledger already holds a later run: recording an earlier one would "
            "count again what that run recorded or closed, and send letters again.\n"
            "  Fix: Record as of 13/11/2026 or later.")
        assert ledger.runs()["as_of"].to_list() == [dt.date(2026, 11, 13), dt.date(2026, 11, 13)]


# -- 4. one letter per ladder in a run -------------------------------------------------------------


def test_only_the_highest_stage_of_a_ladder_met_in_a_run_gets_a_letter(run, school):
    folder, export = school
    db, out = folder / "ledger.sqlite", folder / "out"
    result = letters(run, folder, export, "--out", out, "--as-of", "06/11/2026")
    assert result.exit_code == 0, result.stderr
    # S1 met stage 1 (3 lates) and stage 2 (5 lates) in the same run: only the meeting letter
    assert visible(out) == ["2026-11-06_S1_punctuality-meeting.txt", "2026-11-06_S3_persistent-absence.txt",
                            "manifest-2026-11-06.csv"]
    assert (f"Wrote 2 letters for 2 pupils to {out} (manifest manifest-2026-11-06.csv); recorded 3 events.\n"
            "  1 event superseded by a higher stage of the same ladder (recorded, no letter)\n") in result.stderr
    manifest = csv_frame((out / "manifest-2026-11-06.csv").read_text(encoding="utf-8"))
    assert manifest.select("pupil_id", "letter", "rule_id", "stage", "decision").rows() == [
        ("S1", "punctuality-meeting", "punctuality-meeting", "2", "letter"),
        ("S3", "persistent-absence", "persistent-absence", "1", "letter"),
        ("S1", "punctuality-1", "punctuality-letter", "1", "superseded")]
    # the lower stage is recorded as handled, without a letter
    assert rows(db, "select e.pupil_id, e.rule_id, count(l.letter_id) from events e left join letters l "
                    "using (event_id) group by e.event_id order by e.event_id") == [
        ("S1", "punctuality-letter", 0), ("S1", "punctuality-meeting", 1), ("S3", "persistent-absence", 1)]
    # the meeting letter does not quote a first letter that was never sent
    meeting = " ".join((out / "2026-11-06_S1_punctuality-meeting.txt").read_text(encoding="utf-8").split())
    assert "We wrote to you on" not in meeting and "Amy has now been late 5 times this half term" in meeting
    # and the lower stage's letter is not sent later
    later = letters(run, folder, export, "--out", out)
    assert later.exit_code == 0, later.stderr
    assert rows(db, "select pupil_id, letter from letters order by letter_id") == [
        ("S1", "punctuality-meeting"), ("S3", "persistent-absence"), ("S2", "punctuality-1")]


def test_a_dry_run_says_how_many_lower_stages_would_be_superseded(run, school):
    folder, export = school
    result = letters(run, folder, export, "--out", folder / "out", "--as-of", "06/11/2026", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert csv_frame(result.stdout).select("pupil_id", "letter", "decision").rows() == [
        ("S1", "punctuality-meeting", "letter"), ("S3", "persistent-absence", "letter"),
        ("S1", "punctuality-1", "superseded")]
    assert ("Dry run: 2 letters for 2 pupils would be written (2 for print). Nothing was written or recorded.\n"
            "  1 event superseded by a higher stage of the same ladder (recorded, no letter)\n") in result.stderr


def test_a_follow_up_letter_without_an_earlier_letter_does_not_say_one_was_sent():
    from tests.test_letter_wording import context_for, render_text

    text, _ = render_text("medical-follow-up", context_for("medical-follow-up", earlier=False))
    text = " ".join(text.split())
    assert "We have written" not in text and "since then" not in text
    assert "Under our attendance policy, we can only authorise Zoë's absence for illness if you give us medical evidence." in text


def test_a_run_whose_staging_folder_is_lost_can_be_abandoned_and_its_letters_written_again(run, school, tmp_path_factory,
                                                                                         monkeypatch):
    folder, export = school
    _killed_in(folder, folder, export)
    lost = recorded_files(folder)
    out = folder / "k2"
    shutil.rmtree(stagings(out)[0])
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    result = run("letters", export, "--policy", folder / "policy.toml", "--db", folder / "ledger.sqlite", "--out", out,
                 "-f", "txt", "--as-of", "06/11/2026", "--date", "09/11/2026", "--abandon-unfinished")
    assert result.exit_code == 0, result.stderr
    assert (f"Abandoned an interrupted letters run whose staging folder is lost: its {len(lost)} letters (their "
            "events) were taken out of the ledger, and the 1 file of them already moved into the folder removed, so "
            "they are written again.") in " ".join(result.stderr.split())
    # the same letters, written again once, and the ledger as one run left it
    assert sorted(recorded_files(folder)) == sorted(lost)
    assert visible(out) == sorted([*lost, "manifest-2026-11-06.csv"])
    assert rows(folder / "ledger.sqlite", "select state from letter_runs") == [("done",)]
    again = run("letters", export, "--policy", folder / "policy.toml", "--db", folder / "ledger.sqlite", "--out", out,
                "-f", "txt", "--as-of", "06/11/2026", "--date", "09/11/2026")
    assert again.exit_code == 0 and visible(out) == sorted([*lost, "manifest-2026-11-06.csv"])
