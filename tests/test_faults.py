"""The fault corpus for the commands that record or write a file as one step: a real process killed
at each step of `triggers --record` and of `report` (and any `-o` output), then run again. The
promise: an event is never recorded unless the run showed it (recorded events are always in the
output written), a killed run's events are shown again by the next run and recorded once, and a
killed run's temporary files (which hold pupil data) are gone after the next run.

(`letters`, `requests letters`, `digest` and `slips --per-pupil` have theirs in test_letters,
test_requests and test_bad_inputs.)"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import ARBOR_HEADER, session_rows


def attendance(*args, cwd: Path, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"ATTENDANCE_TEST_KILL_AT": kill_at} if kill_at else {})}
    return subprocess.run([sys.executable, "-m", "attendance_cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """Three pupils over two weeks: P1 absent unauthorised throughout, P2 absent 3 sessions in 20, P3 always
    present."""
    rows = (session_rows("P1", dt.date(2026, 9, 7), ["O"] * 20)
            + session_rows("P2", dt.date(2026, 9, 7), ["I", "I", "O"] + ["/", "\\"] * 8 + ["/"], surname="Lee")
            + session_rows("P3", dt.date(2026, 9, 7), ["/", "\\"] * 10, surname="Khan"))
    path = tmp_path / "week.csv"
    path.write_text("\n".join([ARBOR_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def recorded(ledger: Path) -> list[tuple[str, str]]:
    if not ledger.exists():
        return []
    with sqlite3.connect(ledger) as db:
        return sorted(db.execute("select pupil_id, rule_id from events").fetchall())


def listed(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return sorted(pl.read_csv(path, infer_schema=False).select("pupil_id", "rule_id").rows())


def leftovers(folder: Path) -> list[str]:
    """Hidden files a run leaves: temporary parts and lock files (the ledger's own lock stays with it)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".part")


#: The steps of `triggers --record -o FILE`, in order, and what a run killed there has done.
STEPS = {
    "locked": "nothing shown, nothing recorded",
    "shown": "the file in place, nothing recorded",
    "committed": "the file in place, its events recorded",
    "output-written": "the file in place, its events recorded",
}
#: What the policy finds in `export` (P1's unauthorised absence: 10 school days missed, a penalty notice;
#: two weeks are too few sessions for the persistent-absence rules).
EVERY = [("P1", "cme-10-days"), ("P1", "penalty-notice")]


@pytest.mark.parametrize("step", list(STEPS))
def test_triggers_record_killed_at_each_step_then_run_again(step, export, tmp_path):
    ledger, out = tmp_path / "ledger.sqlite", tmp_path / "new.csv"
    command = ["triggers", export, "--policy", "dfe-national", "--db", ledger, "--record", "--new", "-o", out, "-q"]
    killed = attendance(*command, cwd=tmp_path, kill_at=step)
    assert killed.returncode == 137, killed.stderr
    shown, kept = listed(out), recorded(ledger)
    assert set(kept) <= set(shown)  # never an event recorded that was not shown
    every = EVERY
    expected = {"locked": ([], []), "shown": (every, [])}.get(step, (every, every))
    assert (shown, kept) == expected, STEPS[step]
    first = out.read_bytes() if out.exists() else b""

    again = attendance(*command, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert recorded(ledger) == every  # each event recorded once, whatever the first run did
    if kept:  # already recorded: nothing new to show
        assert listed(out) == []
    else:  # shown again (or for the first time), and now recorded
        assert listed(out) == every
        assert not first or out.read_bytes() == first
    assert leftovers(tmp_path) == []  # no temporary file of pupils' events, no lock file


def test_triggers_record_to_stdout_killed_after_showing_shows_again(export, tmp_path):
    ledger = tmp_path / "ledger.sqlite"
    command = ["triggers", export, "--policy", "dfe-national", "--db", ledger, "--record", "--new", "-f", "csv", "-q"]
    killed = attendance(*command, cwd=tmp_path, kill_at="shown")
    assert killed.returncode == 137
    assert len(killed.stdout.splitlines()) == 1 + len(EVERY) and recorded(ledger) == []  # printed, not committed
    again = attendance(*command, cwd=tmp_path)
    assert again.stdout == killed.stdout  # the same events, still new
    assert recorded(ledger) == EVERY


@pytest.mark.parametrize("command", [["report", "--out", "report.html"], ["summary", "-o", "summary.xlsx"]])
def test_a_file_output_killed_before_it_is_in_place_is_cleared_by_the_next_run(command, export, tmp_path):
    args = [command[0], export, *command[1:], "-q"]
    target = tmp_path / command[-1]
    killed = attendance(*args, cwd=tmp_path, kill_at="output-written")
    assert killed.returncode == 137
    assert not target.exists()  # never half a file
    assert [name for name in leftovers(tmp_path) if name.endswith(".part")]  # the killed run's part (pupil data)
    again = attendance(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert target.stat().st_size > 1000
    assert leftovers(tmp_path) == []  # the part and the lock file gone with the next write


def test_a_folder_where_the_write_lock_goes_is_named_and_nothing_is_written(export, tmp_path):
    (tmp_path / ".summary.csv.lock").mkdir()
    done = attendance("summary", export, "-o", "summary.csv", "-q", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[0] == ("Error: cannot write summary.csv: a folder .summary.csv.lock stands where its "
                                           "lock file goes.")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".summary.csv.lock", "week.csv"]
