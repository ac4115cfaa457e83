"""Failures as a user (or a cron job) meets them: one `Error: ...` line and the documented exit code,
never a traceback. A full disk, no permission, a file where a folder should be, Ctrl-C, a broken
contacts file, missing files, windows with no school day, a ledger that is not there; and the
terminal tables on an 80-column screen.

A full disk or a refused folder is simulated by making the writing function raise the system's
own error (the tests may run as root, where permissions refuse nothing)."""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attendance_cli.errors import FileSystemError
from tests.conftest import ARBOR_HEADER, PUNCTUALITY_LETTER, SCHOOL, csv_frame, session_rows

SAMPLES = Path(__file__).parent.parent / "sample_data"
INTERRUPTED = "Interrupted: nothing was written or recorded.\n"
NO_SPACE_FIX = "  Fix: Free some space on that disk (or write somewhere else), then run again.\n"
POLICY = """name = "late-letters"
codes = "dfe"
school = "school.toml"
""" + PUNCTUALITY_LETTER


@pytest.fixture
def school(tmp_path):
    """A policy with one letter, the school's settings, and an export where S1 and S2 were late
    three times: two letters."""
    (tmp_path / "school.toml").write_text(SCHOOL, encoding="utf-8")
    (tmp_path / "policy.toml").write_text(POLICY, encoding="utf-8")
    rows = [ARBOR_HEADER]
    for pupil, surname in (("S1", "Smith"), ("S2", "Jones"), ("S3", "Khan")):
        late = pupil != "S3"
        marks = ["L" if late and index in (2, 4, 6) else ("/" if index % 2 == 0 else "\\") for index in range(20)]
        rows += session_rows(pupil, dt.date(2026, 11, 2), marks, surname=surname, forename="Amy", year="Year 4",
                             form="4R", minutes={2: 5, 4: 5, 6: 5} if late else None)
    export = tmp_path / "marks.csv"
    export.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return tmp_path, export


def letters(run, folder: Path, export: Path, *extra):
    return run("letters", export, "--policy", folder / "policy.toml", "--db", folder / "ledger.sqlite",
               "--date", "16/11/2026", "-f", "txt", "-q", *extra)


@pytest.fixture
def two_weeks(arbor):
    """A week of school, a week's holiday, a week of school (1 to 19 September 2025)."""
    rows = session_rows("P1", dt.date(2025, 9, 1), ["/", "\\"] * 5) + session_rows("P1", dt.date(2025, 9, 15),
                                                                                 ["/", "\\"] * 5)
    return arbor("two-weeks.csv", rows)


def refusing(method: str, inside: Path, error: OSError):
    """A replacement for Path.`method` that raises `error` for paths inside `inside` (a full disk, a
    refused folder), and writes everything else."""
    real = getattr(Path, method)

    def replacement(self, *args, **kwargs):
        if inside in (self, *self.parents):
            raise error
        return real(self, *args, **kwargs)

    return replacement


def no_space() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # write() names no file


# -- 1. the operating system refuses a file ---------------------------------------------------------


def test_letters_out_below_a_file_is_one_line_naming_the_file(run, school):
    folder, export = school
    (folder / "afile").write_text("not a folder\n")
    result = letters(run, folder, export, "--out", folder / "afile" / "sub")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (f"Error: cannot write {folder / 'afile' / 'sub'}: {folder / 'afile'} is a file, not a "
                             "folder\n  Fix: Choose a path whose folders are folders, or move the file away.\n")


def test_letters_into_a_folder_that_refuses_writing_names_the_folder_not_the_staging(run, school, monkeypatch):
    folder, export = school
    out = folder / "letters"
    out.mkdir()
    denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(out / ".attendance-staging-x"))
    monkeypatch.setattr(Path, "mkdir", refusing("mkdir", out, denied))
    result = letters(run, folder, export, "--out", out)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: cannot write {out}: Permission denied\n"
                             "  Fix: Check the permissions of the file and its folder, or use another path.\n")
    assert list(out.iterdir()) == []


def test_letters_on_a_full_disk_stop_with_one_line_and_leave_nothing(run, school, monkeypatch):
    folder, export = school

    def full(job):
        raise no_space()

    monkeypatch.setattr("attendance_cli.letters.render.produce_batch", full)
    result = letters(run, folder, export, "--out", folder / "out")
    assert (result.exit_code, result.stderr) == (1, "Error: cannot write a file: No space left on device\n" + NO_SPACE_FIX)
    assert not (folder / "out").exists()  # made by this run, removed again


def test_a_full_disk_in_the_worker_processes_is_one_line_and_leaves_no_letter(tmp_path):
    # a real failure in the workers: files larger than the limit cannot be written (EFBIG), in the
    # parent and in every worker it starts; 265 letters, so they are typeset by the worker processes
    files = [str(p) for p in sorted(SAMPLES.glob("primary_arbor_2025-26_*.csv"))]
    script = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY)); "
              "sys.argv[0] = 'attendance'; from attendance_cli.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", script, "letters", *files, "--policy", "primary-academy",
                             "--school", str(SAMPLES / "primary_school.toml"), "--db", str(tmp_path / "ledger.sqlite"),
                             "--out", str(tmp_path / "out"), "-q"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "ATTENDANCE_NO_PROGRESS": "1"})
    # the letter being written is in the hidden staging folder: the folder given is named
    assert (result.returncode, result.stderr) == (1, f"Error: cannot write {tmp_path / 'out'}: File too large\n")
    assert not (tmp_path / "out").exists() and not (tmp_path / "ledger.sqlite").exists()


def test_summary_to_a_full_disk_names_the_file_and_leaves_no_part_file(run, register, tmp_path, monkeypatch):
    target = tmp_path / "full-disk" / "sum.csv"
    monkeypatch.setattr(Path, "open", refusing("open", target.parent, no_space()))
    result = run("summary", register, "-o", target, "-q")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: cannot write {target}: No space left on device\n" + NO_SPACE_FIX
    assert list(target.parent.iterdir()) == []


def test_an_os_error_shows_its_traceback_with_debug(run, register, tmp_path, monkeypatch):
    target = tmp_path / "full-disk" / "sum.csv"
    monkeypatch.setattr(Path, "open", refusing("open", target.parent, no_space()))
    with pytest.raises(FileSystemError) as raised:
        run("--debug", "summary", register, "-o", target, "-q")
    assert isinstance(raised.value.__cause__, OSError)  # the system's error, in the traceback


def test_digest_pdf_on_a_full_disk_names_the_file_and_removes_the_folders_it_made(run, register, tmp_path,
                                                                                  monkeypatch):
    out = tmp_path / "mnt" / "dg"
    monkeypatch.setattr(Path, "write_bytes", refusing("write_bytes", out, no_space()))
    result = run("digest", register, "--by", "form", "--out", out, "-f", "pdf", "-q")
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot write {out / 'digest-3A.pdf'}: No space left on device\n" + NO_SPACE_FIX
    assert not (tmp_path / "mnt").exists()


def test_digest_into_a_folder_that_was_there_keeps_it(run, register, tmp_path, monkeypatch):
    out = tmp_path / "dg"
    out.mkdir()
    for method in ("write_bytes", "write_text"):
        monkeypatch.setattr(Path, method, refusing(method, out, no_space()))
    assert run("digest", register, "--by", "form", "--out", out, "-f", "html", "-q").exit_code == 1
    assert out.is_dir() and list(out.iterdir()) == []


def test_contacts_with_an_unclosed_quote_name_file_and_line_but_not_the_guardian(run, school):
    folder, export = school
    contacts = folder / "guardians.csv"
    contacts.write_text("pupil_id,guardian_name,email\nS1,Ann Smith,ann@example.org\n"
                        'S2,"Secret Guardian,secret@example.org\nS3,Omar Khan,omar@example.org\n', encoding="utf-8")
    result = letters(run, folder, export, "--out", folder / "out", "--contacts", contacts)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: {contacts}, line 3: not valid CSV: a quoted field is not closed, or has text after its closing "
        "quote; no letter was written.\n"
        '  Fix: Correct the quotes on that line (a field with a quote in it is written "like ""this"""), or save the '
        "file again as CSV from the program it came from.\n")
    assert "Secret" not in result.stderr and "secret@" not in result.stderr


# -- 2. Ctrl-C --------------------------------------------------------------------------------------


def test_ctrl_c_prints_one_line_and_exits_130(run, register, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("attendance_cli.outputs.write_frame", interrupted)
    result = run("summary", register, "-o", tmp_path / "s.csv", "-q")
    assert (result.exit_code, result.stdout, result.stderr) == (130, "", INTERRUPTED)
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="sends Ctrl-C to the process group, as a terminal does")
def test_ctrl_c_while_workers_typeset_letters_gives_no_worker_traceback_and_leaves_nothing(tmp_path):
    files = [str(p) for p in sorted(SAMPLES.glob("primary_arbor_2025-26_*.csv"))]
    out = tmp_path / "out"
    # every event of the year gets its letter (not only those of the last fortnight): enough letters
    # for the workers to be typesetting when Ctrl-C comes
    policy = tmp_path / "many.toml"
    policy.write_text('extends = "primary-academy"\nletter_within = 300\n', encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "attendance_cli", "letters", *files, "--policy", str(policy), "--school",
         str(SAMPLES / "primary_school.toml"), "--db", str(tmp_path / "ledger.sqlite"), "--out", str(out), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "ATTENDANCE_NO_PROGRESS": "1"})
    deadline = time.monotonic() + 60
    while not list(out.glob(".attendance-staging-*/*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # the workers have started writing letters
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (130, INTERRUPTED)
    assert not out.exists() or list(out.iterdir()) == []


# -- 3. a window with no school day -----------------------------------------------------------------


def test_summary_refuses_a_week_after_the_data_as_digest_does(run, register):
    result = run("summary", register, "--window", "week", "--as-of", "01/01/2030")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "Error: The window week of 31/12/2029: 31/12/2029 to 01/01/2030 holds no school day of the exports, which run "
        "from 01/09/2025 to 12/09/2025.\n"
        "  Fix: Check --as-of, --from and --to (dates are day first), or leave them out to use the last date in the "
        "data.\n")
    assert run("digest", register, "--by", "form", "--out", "dg", "--as-of", "01/01/2030").stderr == result.stderr


def test_summary_refuses_a_holiday_week_but_counts_a_school_week(run, two_weeks):
    holiday = run("summary", two_weeks, "--window", "week", "--as-of", "10/09/2025")
    assert holiday.exit_code == 2
    assert holiday.stderr.startswith("Error: The window week of 08/09/2025: 08/09/2025 to 10/09/2025 holds no school "
                                     "day of the exports")
    school = run("summary", two_weeks, "--window", "week", "--as-of", "17/09/2025", "-f", "csv", "-q")
    assert school.exit_code == 0
    assert csv_frame(school.stdout)["possible_sessions"].to_list() == ["6"]


def test_summary_refuses_from_and_to_outside_the_data(run, register):
    result = run("summary", register, "--from", "01/01/2030")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "Error: The window chosen dates: from 01/01/2030 holds no date of the exports, which run from 01/09/2025 to "
        "12/09/2025.\n  Fix: Check --from and --to (dates are day first).\n")
    inside = run("summary", register, "--from", "01/08/2025", "--to", "01/09/2025", "-f", "csv", "-q")
    assert inside.exit_code == 0


# -- 4. the ledger of history ---------------------------------------------------------------------


def test_history_with_a_ledger_given_that_is_not_there_is_refused(run, register, tmp_path):
    result = run("history", "000101", register, "--db", tmp_path / "nosuch.sqlite")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"Error: There is no ledger at {tmp_path / 'nosuch.sqlite'} (--db).\n"
        "  Fix: Check the path: it is the file `attendance triggers --record` and `attendance letters` record in. "
        "Leave --db out to use the default ledger.\n")


def test_history_without_the_default_ledger_says_events_are_not_shown(run, register, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ATTENDANCE_DB", raising=False)
    result = run("history", "000101", register, "-f", "csv")
    assert result.exit_code == 0
    assert csv_frame(result.stdout)["entry"].to_list() == ["attendance"]
    assert result.stderr == ("No ledger at attendance-ledger.sqlite: no events to show, only attendance (give the "
                             "ledger with --db if it is elsewhere).\n")


# -- 5. a missing file is exit 2, whichever option names it -------------------------------------


def test_a_missing_code_table_or_policy_file_is_exit_2(run, register, tmp_path):
    missing_codes = run("summary", register, "--codes", tmp_path / "nosuch.csv")
    assert (missing_codes.exit_code, missing_codes.stderr) == (2, (
        f"Error: Code table file {tmp_path / 'nosuch.csv'} does not exist.\n"
        "  Fix: Check the path (given with --codes, or the policy's `codes`), or use a preset: college, dfe.\n"))
    assert run("codes", "--codes", tmp_path / "nosuch.toml").exit_code == 2
    policy = tmp_path / "nosuch.toml"
    missing_policy = run("triggers", register, "--policy", policy)
    assert (missing_policy.exit_code, missing_policy.stderr) == (2, (
        f"Error: Policy file {policy} does not exist.\n"
        "  Fix: Give a preset (absence-levels, college, dfe-national, primary-academy, university) or start one with "
        f"'attendance policy init NAME {policy}'.\n"))
    for args in (["letters", register, "--policy", policy, "--dry-run"], ["slips", register, "--policy", policy, "--out",
                 tmp_path / "s.pdf"], ["digest", register, "--by", "form", "--out", tmp_path / "d", "--policy", policy],
                 ["report", register, "--out", tmp_path / "r.html", "--policy", policy], ["history", "000101", "--policy",
                 policy], ["policy", "show", policy], ["policy", "check", policy]):
        result = run(*args)
        assert (result.exit_code, result.stderr) == (2, missing_policy.stderr), args[0]


def test_a_missing_templates_folder_is_exit_2(run, school):
    folder, export = school
    result = letters(run, folder, export, "--templates", folder / "nosuchdir", "--dry-run")
    assert (result.exit_code, result.stderr) == (2, (
        f"Error: The letter templates folder {folder / 'nosuchdir'} does not exist.\n"
        "  Fix: Create it with `attendance templates copy FOLDER`, or correct the policy's `letters`.\n"))
    assert run("templates", "list", "--folder", folder / "nosuchdir").exit_code == 2


def test_a_missing_school_settings_file_for_letters_is_exit_2(run, school):
    folder, export = school
    assert letters(run, folder, export, "--school", folder / "nosuch.toml", "--dry-run").exit_code == 2


def test_readme_lists_the_missing_files_under_exit_2():
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (\d+) \| (.*) \|$", readme.split("## Exit codes", 1)[1], flags=re.M))
    for option in ("--calendar", "--codes", "--policy", "--contacts", "--templates", "--db"):
        assert option in rows["2"] and option not in rows["1"], option
    assert "130" in rows


# -- 6. examples in --help ----------------------------------------------------------------------


@pytest.mark.parametrize("command", [["templates"], ["templates", "list"], ["templates", "show"], ["templates", "copy"]])
def test_templates_help_has_examples(run, command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Examples:\n    attendance " + " ".join(command) in result.stdout


# -- 7. tables on an 80-column terminal ---------------------------------------------------------

def unbroken(table: str, values) -> None:
    """Every value appears whole in the table, and the table fits 80 columns."""
    assert max(len(line) for line in table.splitlines()) <= 80
    for value in values:
        assert value in table, f"{value!r} is split or missing"


@pytest.fixture
def narrow(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # the width of print_table's Rich console


def test_calendar_table_keeps_dates_whole(run, narrow):
    files = sorted(SAMPLES.glob("primary_arbor_2025-26_*.csv"))
    table = run("calendar", *files, "-f", "table").stdout
    dates = csv_frame(run("calendar", *files, "-f", "csv").stdout)
    unbroken(table, [dt.date.fromisoformat(d).strftime("%d/%m/%Y") for d in dates["start"].to_list() + dates["end"].to_list()])


def test_codes_table_keeps_codes_and_categories_whole_and_wraps_the_meaning(run, narrow):
    table = run("codes", "-f", "table").stdout
    codes = csv_frame(run("codes", "-f", "csv").stdout)
    unbroken(table, codes["category"].to_list() + ["category", "meaning"])
    assert all(re.search(rf"^│ {re.escape(code)} +│", table, flags=re.M) for code in codes["code"].to_list())
    assert "Not shown here:" in table


@pytest.fixture
def recorded(run, tmp_path):
    files = sorted(SAMPLES.glob("primary_arbor_2026-27_*.csv"))
    db = tmp_path / "ledger.sqlite"
    assert run("triggers", *files, "--policy", "primary-academy", "--db", db, "--record", "-q", "-f", "csv").exit_code == 0
    return files, db


def test_history_table_keeps_dates_and_rule_ids_whole_and_wraps_the_detail(run, recorded, narrow):
    files, db = recorded
    table = run("history", "000203", *files, "--db", db, "-f", "table").stdout
    timeline = csv_frame(run("history", "000203", *files, "--db", db, "-f", "csv").stdout)
    unbroken(table, timeline["date"].to_list() + timeline["rule_id"].to_list() + ["detail"])
    detail = table.splitlines()[1].split("┳")[-1]
    assert len(detail) >= 16  # the free text takes the wrapping, not a 5-character column


def test_triggers_table_keeps_ids_dates_and_headings_whole(run, recorded, narrow):
    files, db = recorded
    table = run("triggers", *files, "--policy", "primary-academy", "--db", db, "-f", "table", "-q").stdout
    found = csv_frame(run("triggers", *files, "--policy", "primary-academy", "--db", db, "-f", "csv", "-q").stdout)
    unbroken(table, found["pupil_id"].to_list() + found["rule_id"].to_list() + found["first_met_on"].to_list())
    assert not re.search(r"\bpolic\b|\bthresh\b|\bfirs\b", table)  # no heading split inside a word


@pytest.fixture
def register(arbor):
    rows = (session_rows("000101", dt.date(2025, 9, 1), ["/", "\\"] * 9 + ["L", "N"], minutes={18: 6})
            + session_rows("000102", dt.date(2025, 9, 1), ["I", "I", "/", "\\"], form="3B"))
    return arbor("register.csv", rows)
