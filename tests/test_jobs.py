"""The library layer (attendance_cli.jobs): each command prints what its job returns, and every
command honours a policy's settings the same way."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from pypdf import PdfReader

from attendance_cli import jobs
from attendance_cli.codes import load_code_table
from attendance_cli.dataset import Dataset
from attendance_cli.ingest import IngestOptions
from attendance_cli.outputs import stamped
from attendance_cli.rules import load_policy
from attendance_cli.rules.triggers import policy_settings
from tests.conftest import csv_frame
from tests.test_reports import BANDS_POLICY

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
SECONDARY = sorted(SAMPLES.glob("secondary_arbor_2025-26_autumn*.csv"))
PRIMARY = [SAMPLES / "primary_arbor_2025-26_autumn.csv"]


def data(paths: list[Path], codes: str = "dfe") -> Dataset:
    return Dataset.open(paths, IngestOptions(codes=load_code_table(codes)))


def cli_json(run, *args) -> list[dict]:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def as_json(frame: pl.DataFrame) -> list[dict]:
    """The frame as `--format json` writes it."""
    return json.loads(frame.write_json())


@pytest.mark.parametrize("extra, options", [
    ((), jobs.SummaryOptions()),
    (("--window", "ytd", "--by", "form"), jobs.SummaryOptions(jobs.WindowChoice("ytd"), by=("form",))),
    (("--window", "half-term", "--as-of", "15/10/2025", "--by", "year_group", "--cohort", "dfe"),
     jobs.SummaryOptions(jobs.WindowChoice("half-term", as_of=__import__("datetime").date(2025, 10, 15),
                                           dfe_cohort=True), by=("year_group",))),
])
def test_summary_json_is_the_library_result(run, extra, options):
    shown = cli_json(run, "summary", *SECONDARY, *extra)
    result = jobs.summary(data(SECONDARY), options)
    assert shown == as_json(stamped(result.table, result.stamp))  # with the window and as-of date
    assert len(shown) == result.table.height > 0


def test_triggers_json_is_the_library_result(run, tmp_path):
    ledger = tmp_path / "none.sqlite"
    shown = cli_json(run, "triggers", *SECONDARY, "--policy", "dfe-national", "--db", ledger)
    settings = policy_settings(load_policy("dfe-national"), db=ledger)
    result = jobs.triggers(data(SECONDARY), jobs.TriggersOptions(settings))
    assert shown == as_json(stamped(result.table, result.stamp))
    assert {row["as_of"] for row in shown} == {"2025-12-19"}
    assert len(shown) > 10
    new = cli_json(run, "triggers", *SECONDARY, "--policy", "dfe-national", "--db", ledger, "--new")
    new_result = jobs.triggers(data(SECONDARY), jobs.TriggersOptions(settings, new_only=True))
    assert new == as_json(stamped(new_result.table, new_result.stamp))


def test_ingest_json_report_is_the_library_report(run):
    from attendance_cli.cli.render import validation_json

    result = run("ingest", *PRIMARY, "--format", "json")
    assert result.exit_code == 0, result.stderr
    library = jobs.ingest(data(PRIMARY))
    assert json.loads(result.stdout) == json.loads(validation_json(library.report, [], library.quality))
    assert library.quality is not None and "data_quality" in json.loads(result.stdout)
    assert library.report.marks > 1000


def test_history_json_is_the_library_result(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ledger here
    monkeypatch.delenv("ATTENDANCE_DB", raising=False)
    first = jobs.summary(data(PRIMARY)).table["pupil_id"][0]
    shown = cli_json(run, "history", first, *PRIMARY)
    result = jobs.history(data(PRIMARY), jobs.HistoryOptions(first))
    assert shown == as_json(result.timeline)
    assert [row["entry"] for row in shown] == ["attendance"] * len(shown) and len(shown) == 2  # Autumn 1 and 2


def test_digest_csv_is_the_library_result(run, tmp_path):
    result = run("digest", *PRIMARY, "--by", "form", "--out", tmp_path / "d", "-f", "csv")
    assert result.exit_code == 0, result.stderr
    library = jobs.digest(data(PRIMARY), jobs.DigestOptions("form"))
    files = sorted((tmp_path / "d").iterdir())
    assert len(files) == len(library.groups) > 1
    for group, rows in library.groups.items():
        written = pl.read_csv(tmp_path / "d" / f"digest-{group}.csv", infer_schema=False)
        assert written.height == rows.height
        assert written["pupil_id"].to_list() == rows["pupil_id"].to_list()
        # the same rows as CSV text, each with the week, the school year and the as-of date
        expected = pl.read_csv(stamped(rows, library.stamp).write_csv().encode(), infer_schema=False)
        assert written.equals(expected, null_equal=True), group


def test_letters_dry_run_manifest_is_the_library_plan(run, tmp_path):
    ledger = tmp_path / "none.sqlite"
    result = run("letters", *PRIMARY, "--policy", "primary-academy", "--dry-run", "--db", ledger,
                 "--school", SAMPLES / "primary_school.toml", "--date", "01/12/2025")
    assert result.exit_code == 0, result.stderr
    manifest = csv_frame(result.stdout)
    from attendance_cli.letters.school import load_school

    settings = policy_settings(load_policy("primary-academy"), db=ledger, school=SAMPLES / "primary_school.toml")
    import datetime as dt

    run_ = jobs.letters(data(PRIMARY), jobs.LettersOptions(settings, load_school(settings.school).model_dump(),
                                                           letter_date=dt.date(2025, 12, 1)))
    letters = manifest.filter(pl.col("decision") == "letter")
    assert letters.height == len(run_.items) > 0
    assert sorted(letters["pupil_id"].to_list()) == sorted(item.pupil_id for item in run_.items)


def one_half_term_policy(tmp_path: Path) -> Path:
    calendar = tmp_path / "calendar.toml"
    # Autumn 1 split in two: the half-term rules count only from 06/10
    calendar.write_text('[[half_term]]\nname = "Autumn 1a"\nstart = 2025-09-01\nend = 2025-10-03\n'
                        '[[half_term]]\nname = "Autumn 1b"\nstart = 2025-10-06\nend = 2025-10-24\n', encoding="utf-8")
    policy = tmp_path / "policy.toml"
    policy.write_text(f'name = "one-half"\nextends = "primary-academy"\ncalendar = "{calendar.as_posix()}"\n',
                      encoding="utf-8")
    return policy


def test_digest_lists_the_same_new_events_as_triggers_new_with_the_policys_calendar(run, tmp_path):
    policy = one_half_term_policy(tmp_path)
    ledger = tmp_path / "none.sqlite"
    as_of = "24/10/2025"
    new = run("triggers", *PRIMARY, "--policy", policy, "--new", "--db", ledger, "--as-of", as_of, "-f", "csv")
    assert new.exit_code == 0, new.stderr
    events = csv_frame(new.stdout)
    assert events.height > 0
    expected = sorted(f"{r['pupil_id']}: {r['description']} ({r['value']})" for r in events.iter_rows(named=True))
    digest = run("digest", *PRIMARY, "--by", "form", "--policy", policy, "--db", ledger, "--as-of", as_of,
                 "--out", tmp_path / "d", "-f", "csv")
    assert digest.exit_code == 0, digest.stderr
    listed = pl.concat([pl.read_csv(f, infer_schema=False) for f in (tmp_path / "d").iterdir()])
    got = sorted(f"{r['pupil_id']}: {event}" for r in listed.iter_rows(named=True)
                 for event in (r["new_triggers"] or "").split("; ") if event)
    assert got == expected
    # and the calendar matters: inferred, the year's half terms give other windows and other events
    inferred = run("triggers", *PRIMARY, "--policy", "primary-academy", "--new", "--db", ledger, "--as-of", as_of,
                   "-f", "csv")
    assert csv_frame(inferred.stdout).height != events.height


def test_slips_are_headed_with_the_policys_school(run, tmp_path):
    school = tmp_path / "our-school.toml"
    school.write_text((SAMPLES / "primary_school.toml").read_text(encoding="utf-8")
                      .replace("Oakfield Primary Academy", "Larchwood Juniors"), encoding="utf-8")
    policy = tmp_path / "policy.toml"
    policy.write_text(BANDS_POLICY.replace('extends = "dfe-national"\n',
                                           f'extends = "dfe-national"\nschool = "{school.as_posix()}"\n'),
                      encoding="utf-8")
    out = tmp_path / "slips.pdf"
    result = run("slips", *PRIMARY, "--policy", policy, "--out", out)
    assert result.exit_code == 0, result.stderr
    first = " ".join(PdfReader(out).pages[0].extract_text().split())
    assert "Larchwood Juniors" in first and "Oakfield" not in first
    library = jobs.slips(data(PRIMARY), jobs.SlipsOptions(policy_settings(load_policy(str(policy)))))
    assert library.school["name"] == "Larchwood Juniors"
    assert len(PdfReader(out).pages) == 2 * len(library.rows)  # each slip on a sheet of its own (a blank back)


@pytest.mark.parametrize("spans", [
    ((dt.date(2025, 10, 13), dt.date(2025, 10, 17)), (dt.date(2025, 8, 1), dt.date(2025, 10, 17))),  # a week in a year
    ((dt.date(2025, 9, 1), dt.date(2025, 9, 30)), (dt.date(2025, 11, 3), dt.date(2025, 12, 19))),  # apart
])
def test_windows_counted_in_one_pass_give_each_windows_own_figures(spans):
    from attendance_cli.calendar import Window
    from attendance_cli.statistics import pupil_statistics

    windows = [Window(start, end, "chosen") for start, end in spans]
    names = ["surname", "forename", "year_group", "form"]
    together = data(SECONDARY)
    together.prepare(windows, attributes=names)
    assert all((w, (), tuple(names), True) in together._tallies for w in windows)  # counted in the one pass
    for window in windows:
        alone = pupil_statistics(data(SECONDARY).tally(window, attributes=names))
        shared = together.tally(window, attributes=names)
        assert pupil_statistics(shared).equals(alone)
        assert alone.height > 100
        direct = data(SECONDARY).tally(window, attributes=names).report  # the reading summary's figures too
        assert (shared.report.window, shared.report.pupils, shared.report.marks, shared.report.unmarked_in_window) == (
            direct.window, direct.pupils, direct.marks, direct.unmarked_in_window)


def test_streamed_the_marks_are_written_aside_by_the_checking_pass_and_the_events_are_the_same(tmp_path, monkeypatch):
    import subprocess
    import sys

    from attendance_cli.ingest import validate
    from attendance_cli.rules.triggers import find_triggers

    policy = load_policy("dfe-national")
    in_memory = find_triggers(data(SECONDARY), policy, None, None, None)
    monkeypatch.setattr(validate, "STREAMING_BYTES", 0)  # every file streamed, as a large one is
    streamed_data = data(SECONDARY)
    streamed = find_triggers(streamed_data, policy, None, None, None)
    assert streamed_data.checked.rows_file is not None and streamed_data.checked.rows_file.exists()
    assert streamed.table.equals(in_memory.table) and streamed.table.height > 10
    # a window counted from the rows set aside reads as a window counted from the exports
    from attendance_cli.calendar import Window

    ytd = Window(dt.date(2025, 8, 1), dt.date(2025, 10, 15), "chosen")
    aside = streamed_data.tally(ytd, attributes=["surname", "forename", "year_group", "form"])
    monkeypatch.setattr(validate, "STREAMING_BYTES", 1 << 40)
    alone = data(SECONDARY).tally(ytd, attributes=["surname", "forename", "year_group", "form"])
    assert (aside.report.marks, aside.report.pupils, aside.report.window) == (
        alone.report.marks, alone.report.pupils, alone.report.window)
    # the file of rows is the command's own: none is left behind when it ends
    env = {**__import__("os").environ, "ATTENDANCE_STREAMING_BYTES": "0", "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "attendance_cli", "triggers", *map(str, SECONDARY), "--policy",
                           "dfe-national", "--db", str(tmp_path / "none.sqlite"), "-f", "csv", "-q"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == in_memory.table.height + 1
    assert not list(tmp_path.glob("attendance-*"))


def test_a_temporary_copy_left_by_a_killed_command_is_removed_by_the_next(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys
    import tempfile

    from attendance_cli.ingest.encoding import temporary_file

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)  # a process that has ended
    stale = tmp_path / f"attendance-rows-{dead}-abc.arrow"
    stale.write_bytes(b"pupils' rows")
    alive = tmp_path / f"attendance-rows-{os.getppid()}-def.arrow"  # a running process's: kept
    alive.write_bytes(b"in use")
    handle, path = temporary_file("rows", ".arrow")
    os.close(handle)
    assert path.parent == tmp_path and path.name.startswith(f"attendance-rows-{os.getpid()}-")
    assert not stale.exists() and alive.exists()


def test_windows_counted_from_the_rows_set_aside_and_a_weeks_marks_give_each_windows_own_figures(monkeypatch):
    """A report or digest of a large export reads the week's (window's) marks from the rows the check
    wrote aside, and counts every window from those marks, or from one more pass over the rows: each
    window's figures are those of the window counted from the exports, and the week's marks are the
    marks in memory on those dates."""
    from attendance_cli.calendar import Window
    from attendance_cli.ingest import validate
    from attendance_cli.statistics import pupil_statistics

    names = ["surname", "forename", "year_group", "form"]
    week = Window(dt.date(2025, 10, 13), dt.date(2025, 10, 17), "a week")
    windows = [week, Window(dt.date(2025, 8, 1), dt.date(2025, 10, 17), "to the week"),  # within, before and after
               Window(dt.date(2025, 10, 14), dt.date(2025, 10, 16), "in the week"),  # within the week's marks
               Window(dt.date(2025, 9, 1), dt.date(2025, 12, 31), "every date"),  # the whole export's
               Window(dt.date(2025, 11, 10), dt.date(2025, 12, 19), "after")]
    monkeypatch.setattr(validate, "STREAMING_BYTES", 0)  # every file streamed, as a large one is
    aside = data(SECONDARY)
    aside.read_marks_once()
    assert aside.checked.rows_file is not None and aside._marks is None  # the year's marks not read into memory
    aside.calendar()
    marks = aside.marks_between(week.start, week.end)
    aside.prepare(windows, attributes=names)
    assert aside._marks is None
    monkeypatch.setattr(validate, "STREAMING_BYTES", 1 << 40)
    for window in windows:
        alone = pupil_statistics(data(SECONDARY).tally(window, attributes=names))
        assert pupil_statistics(aside.tally(window, attributes=names)).equals(alone), window.label
        assert alone.height > 100
    in_memory = data(SECONDARY).marks
    expected = (in_memory.frame.filter(week.expr()).join(in_memory.pupils, on="pupil")
                .select("pupil_id", "date", "session", "slot", "minutes_late"))
    read = marks.frame.join(marks.pupils, on="pupil").select("pupil_id", "date", "session", "slot", "minutes_late")
    assert read.equals(expected) and read.height > 1000
    assert marks.pupils.equals(in_memory.pupils)  # numbered as the marks in memory are (every pupil with a mark)
    assert marks.unmarked.sort(pl.all()).equals(in_memory.unmarked.filter(week.expr()).sort(pl.all()))
