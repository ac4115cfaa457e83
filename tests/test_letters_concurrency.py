"""Never lost, never twice: two recording runs at once on one ledger and one letters folder, a run
started in another folder without --db, and Ctrl-C at each step of a recording run.

Real parts throughout: a real SQLite ledger file, real locks, and real child processes
(`python -m attendance_cli ...`) that the tests pause at a named step (ATTENDANCE_TEST_HOOKS and
ATTENDANCE_TEST_PAUSE_AT, see `attendance_cli.locks.checkpoint`), start a second run against, or
interrupt with SIGINT as Ctrl-C does."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attendance_cli import locks
from tests.conftest import ARBOR_HEADER, PUNCTUALITY_LETTER, SCHOOL, weekdays

POLICY = 'name = "concurrency"\ncodes = "dfe"\n\n' + PUNCTUALITY_LETTER
START = dt.date(2026, 11, 2)  # Monday; two school weeks
LATE = {"S1": ("Smith", "Amy"), "S2": ("Khan", "Omar"), "S3": ("Jones", "Ben")}  # 3 lates each: 3 letters
NOTHING = "Interrupted: nothing was written or recorded.\n"
no_sigint = pytest.mark.skipif(sys.platform == "win32", reason="Ctrl-C is a console event on Windows, not SIGINT")


@pytest.fixture
def school(tmp_path: Path) -> Path:
    """A folder with the school settings, the policy and a two-week register."""
    (tmp_path / "school.toml").write_text(SCHOOL, encoding="utf-8")
    (tmp_path / "policy.toml").write_text(POLICY, encoding="utf-8")
    rows = [ARBOR_HEADER]
    for pupil_id, (surname, forename) in LATE.items():
        for index, day in enumerate(weekdays(START, 10)):
            mark, minutes = ("L", "10") if index < 3 else ("/", "")
            rows.append(f"{pupil_id},{surname},{forename},Year 4,4R,{day:%d/%m/%Y},AM,{mark},{minutes}")
            rows.append(f"{pupil_id},{surname},{forename},Year 4,4R,{day:%d/%m/%Y},PM,\\,")
    (tmp_path / "marks.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "hooks").mkdir()
    return tmp_path


def arguments(folder: Path, command: str = "letters", *extra: str | Path, db: bool = True) -> list[str]:
    args = [command, folder / "marks.csv", "--policy", folder / "policy.toml"]
    if db:
        args += ["--db", folder / "ledger.sqlite"]
    if command == "letters":
        args += ["--school", folder / "school.toml", "--date", "16/11/2026", "-f", "txt"]
    else:
        args += ["-f", "csv"]
    return [str(a) for a in (*args, *extra)]


def start(folder: Path, *args: str | Path, pause: str | None = None, hooks: Path | None = None,
          command: str = "letters") -> subprocess.Popen:
    """A child process running the command, telling `hooks` (a folder) each step it reaches."""
    env = {**os.environ, "ATTENDANCE_NO_PROGRESS": "1", "ATTENDANCE_TEST_HOOKS": str(hooks or folder / "hooks")}
    env.pop("ATTENDANCE_TEST_PAUSE_AT", None)
    if pause:
        env["ATTENDANCE_TEST_PAUSE_AT"] = pause
    return subprocess.Popen([sys.executable, "-m", "attendance_cli", *arguments(folder, command, *args)], cwd=folder,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def reached(marker: Path, process: subprocess.Popen, timeout: float = 30) -> None:
    """Wait until the child has reached the step `marker` names."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            _, stderr = process.communicate()
            pytest.fail(f"the run ended (exit {process.returncode}) before {marker.name}: {stderr}")
        assert time.monotonic() < deadline, f"the run did not reach {marker.name}"
        time.sleep(0.02)


def finish(process: subprocess.Popen) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchall()


def recorded(db: Path) -> list[str]:
    return [row[0] for row in rows(db, "select file from letters order by file")]


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def stagings(folder: Path) -> list[Path]:
    return sorted(folder.glob(".attendance-staging-*"))


def every_letter_in_place(folder: Path) -> None:
    db, out = folder / "ledger.sqlite", folder / "out"
    files = recorded(db)
    assert len(files) == 3 and len(set(files)) == 3
    assert visible(out) == sorted([*files, "manifest-2026-11-13.csv"])  # every recorded letter, nothing else
    assert stagings(out) == []
    assert rows(db, "select state from letter_runs") == [("done",)] * len(rows(db, "select 1 from letter_runs"))


# -- two runs at once ------------------------------------------------------------------------------


def test_a_second_run_waits_for_the_first_and_then_writes_nothing_new(run, school):
    out, db = school / "out", school / "ledger.sqlite"
    first = start(school, "--out", out, "-q", pause="staged")
    reached(school / "hooks" / "staged", first)  # its letters are in staging, not yet recorded
    waiting_hooks = school / "hooks-2"
    waiting_hooks.mkdir()
    second = start(school, "--out", out, "--wait", "30", hooks=waiting_hooks)
    reached(waiting_hooks / "lock-busy", second)  # waiting for the first run's lock, before its recovery
    assert len(stagings(out)) == 1  # the first run's staging folder is still there
    # the lock file holds no personal data, and is not taken for a letter
    lock = out / ".attendance-letters.lock"
    assert lock.read_text(encoding="ascii").startswith(f"pid {first.pid} since ")
    # a run that will not wait stops with the message, and touches nothing
    busy = run(*arguments(school, "letters", "--out", out, "--wait", "0"))
    assert (busy.exit_code, busy.stdout) == (1, "")
    assert busy.stderr == (f"Error: Another letters run is using the letters folder {out}; waited 0 seconds for it to "
                           "finish.\n  Fix: Try again when it has finished, or give --wait SECONDS to wait longer.\n")
    (school / "hooks" / "staged").unlink()  # let the first run go on
    code, stderr = finish(first)
    assert code == 0, stderr
    code, stderr = finish(second)
    assert code == 0, stderr
    assert "No new letters." in stderr and "Removed" not in stderr
    every_letter_in_place(school)
    assert rows(db, "select count(*) from runs") == [(1,)] and len(rows(db, "select 1 from letters")) == 3
    assert not lock.exists()  # removed from the letters folder by the last run; the ledger's stays beside it
    assert (school / "ledger.sqlite.lock").exists()
    again = run(*arguments(school, "letters", "--out", out))
    assert again.exit_code == 0 and "No new letters." in again.stderr


def test_a_held_ledger_lock_stops_letters_and_triggers_record_but_not_a_look(run, school):
    db = school / "ledger.sqlite"
    assert run(*arguments(school, "letters", "--out", school / "out", "-q")).exit_code == 0
    message = (f"Error: Another letters or triggers --record run is using the ledger {db}; waited {{}} seconds for it "
               "to finish.\n  Fix: Try again when it has finished, or give --wait SECONDS to wait longer.\n")
    with locks.hold(locks.ledger_lock(db), 0, "the ledger"):
        began = time.monotonic()
        letters = run(*arguments(school, "letters", "--out", school / "other", "--wait", "0.3"))
        assert time.monotonic() - began >= 0.3
        assert (letters.exit_code, letters.stdout, letters.stderr) == (1, "", message.format("0.3"))
        assert not (school / "other").exists()  # the folder it made for its lock is gone again
        triggers = run(*arguments(school, "triggers", "--new", "--record", "--wait", "0"))
        assert (triggers.exit_code, triggers.stdout, triggers.stderr) == (1, "", message.format("0"))
        # looking needs no lock
        assert run(*arguments(school, "triggers", "--new")).exit_code == 0
        assert run(*arguments(school, "letters", "--out", school / "out", "--dry-run")).exit_code == 0
    assert rows(db, "select count(*) from runs") == [(1,)]


# -- a run started in another folder -----------------------------------------------------------------


def test_a_recording_run_in_another_folder_without_db_refuses_to_start_a_ledger(run, school, tmp_path_factory,
                                                                                  monkeypatch):
    assert run(*arguments(school, "letters", "--out", school / "out", "-q")).exit_code == 0
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("ATTENDANCE_DB", raising=False)
    message = (
        "Error: There is no ledger at attendance-ledger.sqlite, so this run would start a new one, and write again "
        "every letter an existing ledger has recorded. The ledger is looked for in this order, the first that is "
        "set: --db (not given); the policy's `ledger` key (not set); the ATTENDANCE_DB environment variable (not "
        f"set); ./attendance-ledger.sqlite (in {Path.cwd()}).\n"
        "  Fix: Give --db PATH to the existing ledger, or --new-ledger to start a new one at attendance-ledger.sqlite.\n")
    result = run(*arguments(school, "letters", "--out", school / "out", db=False))
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message)
    result = run(*arguments(school, "triggers", "--new", "--record", db=False))
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message)
    assert list(elsewhere.iterdir()) == []  # no ledger, no lock file
    assert visible(school / "out") == sorted([*recorded(school / "ledger.sqlite"), "manifest-2026-11-13.csv"])
    # looking is fine without a ledger
    assert run(*arguments(school, "letters", "--out", school / "out", "--dry-run", db=False)).exit_code == 0
    # the ledger named by the environment is found
    monkeypatch.setenv("ATTENDANCE_DB", str(school / "ledger.sqlite"))
    found = run(*arguments(school, "letters", "--out", school / "out", db=False))
    assert found.exit_code == 0 and "No new letters." in found.stderr and "Created" not in found.stderr
    monkeypatch.delenv("ATTENDANCE_DB")
    # asked for, a new ledger is started here
    new = run(*arguments(school, "letters", "--out", elsewhere / "out", "--new-ledger", "-q", db=False))
    assert new.exit_code == 0, new.stderr
    assert new.stderr.endswith("letters are addressed to the parent or carer, for print.\n"
                               "Created a new ledger at attendance-ledger.sqlite.\n")
    assert len(recorded(elsewhere / "attendance-ledger.sqlite")) == 3
    again = run(*arguments(school, "letters", "--out", elsewhere / "out", "--new-ledger", "-q", db=False))
    assert again.exit_code == 0 and "Created" not in again.stderr  # there is one now: nothing new, nothing created
    # named with --db, a new ledger is fine, and said
    named = run(*arguments(school, "triggers", "--new", "--record", "-q", "--db", elsewhere / "named.sqlite", db=False))
    assert named.exit_code == 0, named.stderr
    assert named.stderr == (f"Recorded 3 events in {elsewhere / 'named.sqlite'}.\n"
                            f"Created a new ledger at {elsewhere / 'named.sqlite'}.\n")


# -- Ctrl-C ------------------------------------------------------------------------------------------


@no_sigint
def test_ctrl_c_while_the_letters_are_moved_says_they_are_recorded_and_the_next_run_moves_them(run, school):
    out, db = school / "out", school / "ledger.sqlite"
    child = start(school, "--out", out, "-q", pause="moving")
    reached(school / "hooks" / "moving", child)  # recorded, one file moved
    child.send_signal(signal.SIGINT)
    code, stderr = finish(child)
    assert (code, stderr) == (130, f"Interrupted: 3 letters were recorded in the ledger {db}; the next `attendance "
                                   f"letters` run with the same --out ({out.resolve()}) finishes moving them into "
                                   "the folder.\n")
    assert len(visible(out)) == 1 and len(stagings(out)) == 1
    assert rows(db, "select state from letter_runs") == [("moving",)]
    result = run(*arguments(school, "letters", "--out", out))
    assert result.exit_code == 0, result.stderr
    assert f"Finished an interrupted letters run: moved 3 recorded files into {out.resolve()}." in result.stderr
    assert "No new letters." in result.stderr
    every_letter_in_place(school)


@no_sigint
@pytest.mark.parametrize("step", ["locked", "staged", "recorded"])
def test_ctrl_c_before_the_ledger_commits_says_nothing_was_written(run, school, step):
    out, db = school / "out", school / "ledger.sqlite"
    child = start(school, "--out", out, "-q", pause=step)
    reached(school / "hooks" / step, child)
    child.send_signal(signal.SIGINT)
    assert finish(child) == (130, NOTHING)
    assert not out.exists()  # the folder this run made is gone, lock file and all
    assert not db.exists() or rows(db, "select count(*) from letters") == [(0,)]


@no_sigint
def test_ctrl_c_in_triggers_record_says_what_was_recorded(school):
    db = school / "ledger.sqlite"
    child = start(school, "--new", "--record", "-q", pause="locked", command="triggers")
    reached(school / "hooks" / "locked", child)
    child.send_signal(signal.SIGINT)
    assert finish(child) == (130, NOTHING)
    assert not db.exists()
    (school / "hooks" / "locked").unlink()
    child = start(school, "--new", "--record", "-q", pause="committed", command="triggers")
    reached(school / "hooks" / "committed", child)
    child.send_signal(signal.SIGINT)
    assert finish(child) == (130, f"Interrupted: 3 events were recorded in the ledger {db}.\n")
    assert rows(db, "select count(*) from events") == [(3,)]
