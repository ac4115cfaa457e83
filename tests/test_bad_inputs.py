"""Bad inputs and hostile surroundings: each is one clear error (the exact first line), no traceback,
and nothing written; or, where the input is fine, the right result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ARBOR_HEADER, SCHOOL, csv_frame


def attendance(*args, cwd: Path, env: dict | None = None, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "attendance_cli", *map(str, args)], cwd=cwd, capture_output=True,
                          env={**os.environ, **(env or {})}, **options)


def test_results_in_a_pipe_are_utf8_whatever_the_console_code_page(tmp_path):
    export = tmp_path / "e.csv"
    export.write_text(f"{ARBOR_HEADER}\nS1,Nowak,Łukasz,Year 3,3A,02/11/2026,AM,/,\n", encoding="utf-8")
    for fmt in ("json", "csv"):
        done = attendance("summary", export, "-f", fmt, cwd=tmp_path, env={"PYTHONIOENCODING": "cp1252"})
        assert done.returncode == 0, done.stderr
        assert "Łukasz" in done.stdout.decode("utf-8")
    rows = json.loads(attendance("summary", export, "-f", "json", cwd=tmp_path,
                                 env={"PYTHONIOENCODING": "cp1252"}).stdout.decode("utf-8"))
    assert rows[0]["forename"] == "Łukasz"


def test_a_closed_stdout_is_said_at_once(tmp_path):
    export = tmp_path / "e.csv"
    export.write_text(f"{ARBOR_HEADER}\nS1,Nowak,Amy,Year 3,3A,02/11/2026,AM,/,\n", encoding="utf-8")
    done = subprocess.run(f'"{sys.executable}" -m attendance_cli summary "{export}" >&-', shell=True, cwd=tmp_path,
                          capture_output=False, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == ("Error: Standard output is closed, so the results have nowhere to go; "
                                           "nothing was read, written or recorded.")
    assert "Traceback" not in done.stderr


def test_an_output_file_whose_format_cannot_be_told_is_refused(run, arbor, tmp_path):
    export = arbor("e.csv", ["S1,Nowak,Amy,Year 3,3A,02/11/2026,AM,/,"])
    result = run("summary", export, "-o", tmp_path / "out.txt")
    assert result.exit_code == 2 and not (tmp_path / "out.txt").exists()
    assert result.stderr.splitlines()[0] == f"Error: Cannot tell the format of {tmp_path / 'out.txt'} from its name."
    table = run("summary", export, "-f", "table", "-o", tmp_path / "out.csv")
    assert table.exit_code == 2 and not (tmp_path / "out.csv").exists()
    assert table.stderr.splitlines()[0] == (f"Error: --format table is for the terminal; {tmp_path / 'out.csv'} "
                                            "would get nothing.")


def test_calendar_and_code_table_files_in_windows_1252_or_utf_16_are_read(run, arbor, tmp_path):
    export = arbor("e.csv", ["S1,Nowak,Amy,Year 3,3A,05/09/2025,AM,/,"])
    ansi = tmp_path / "ansi.csv"
    ansi.write_bytes("name,start,end\nAutumn 1 – first half,03/09/2025,24/10/2025\n".encode("cp1252"))
    unicode = tmp_path / "unicode.toml"
    unicode.write_bytes('[[half_term]]\nname = "Autumn 1 – first"\nstart = 2025-09-03\nend = 2025-10-24\n'
                        .encode("utf-16"))
    for calendar, name in ((ansi, "Autumn 1 – first half"), (unicode, "Autumn 1 – first")):
        result = run("calendar", export, "--calendar", calendar, "-f", "csv")
        assert result.exit_code == 0, result.stderr
        assert name in result.stdout
    codes = tmp_path / "codes.csv"
    codes.write_bytes("code,meaning,category\n/,Present – AM,present\n\\,Present – PM,present\n".encode("utf-16"))
    result = run("summary", export, "--codes", codes, "-f", "csv")
    assert result.exit_code == 0, result.stderr
    junk = tmp_path / "junk.toml"
    junk.write_bytes(bytes(range(256)) * 4)
    result = run("calendar", export, "--calendar", junk)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[0] == (f"Error: Calendar {junk} is not a text file this program can read (not "
                                             "UTF-8, UTF-16 or Windows-1252 text).")


def test_policy_check_finds_a_letter_with_no_template(run, write):
    policy = write("p.toml", 'name = "x"\nextends = "primary-academy"\n[[rule]]\nid = "punctuality-letter"\n'
                             'letter = "punctualty-1"\n')
    result = run("policy", "check", policy)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith("Error: There is no letter template 'punctualty-1.j2' (looked in ")
    assert run("policy", "check", "primary-academy").exit_code == 0


def test_the_code_table_attendance_codes_writes_reads_back_the_same(run, tmp_path):
    samples = Path(__file__).parent.parent / "sample_data"
    exports = [samples / "primary_arbor_2026-27_autumn_grid.csv", samples / "primary_arbor_2026-27_week-47.csv"]
    table = tmp_path / "codes.csv"
    assert run("codes", "-o", table).exit_code == 0
    mine = run("summary", *exports, "--codes", table, "-f", "csv")
    assert mine.exit_code == 0, mine.stderr
    assert mine.stdout == run("summary", *exports, "-f", "csv").stdout


def test_a_code_table_may_extend_a_preset_with_a_code_of_its_own(run, arbor, write):
    export = arbor("k.csv", ["S1,Nowak,Amy,Year 3,3A,05/09/2025,AM,SN,", "S1,Nowak,Amy,Year 3,3A,05/09/2025,PM,/,"])
    table = write("mine.toml", 'extends = "dfe"\nname = "mine"\n[[codes]]\ncode = "SN"\n'
                               'meaning = "Kept home by snow"\ncategory = "authorised"\n')
    result = run("summary", export, "--codes", table, "-f", "csv")
    assert result.exit_code == 0, result.stderr
    assert csv_frame(result.stdout).select("possible_sessions", "attended_sessions", "authorised_absences").row(0) == (
        "2", "1", "1")
    bad = write("bad.toml", 'extends = "mine.toml"\nname = "x"\ncodes = []\n')
    refused = run("summary", export, "--codes", bad)
    assert refused.exit_code == 1
    assert refused.stderr.splitlines()[0] == f"Error: Code table {bad}: extends = 'mine.toml' is not a preset code table."


def _workbook(path: Path, rows: list[list], errors: dict[tuple[int, int], str] | None = None) -> Path:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Register")
    for r, row in enumerate(rows):
        for col, value in enumerate(row):
            sheet.write(r, col, value)
    for (r, col), error in (errors or {}).items():  # a formula whose cached result is an error
        sheet.write_formula(r, col, "=1/0" if error == "#DIV/0!" else "=NA()", None, error)
    book.close()
    return path


def test_excel_error_cells_are_refused_where_they_stand(run, tmp_path):
    header = ARBOR_HEADER.split(",")
    rows = [header, ["S1", "Nowak", "Amy", "Year 3", "3A", "05/09/2025", "AM", "L", ""],
            ["S1", "Nowak", "Amy", "Year 3", "3A", "05/09/2025", "PM", "", ""]]
    book = _workbook(tmp_path / "register.xlsx", rows, {(2, 7): "#DIV/0!", (1, 8): "#N/A"})
    result = run("summary", book)
    assert result.exit_code == 1 and not result.stdout
    assert (f"{book}, line 2: an Excel error in the cell (its formula failed), not a value; column 'Minutes Late'; "
            "value '#N/A'") in result.stderr
    assert (f"{book}, line 3: an Excel error in the cell (its formula failed), not a value; column 'Mark'; "
            "value '#DIV/0!'") in result.stderr


def test_minutes_late_outside_a_day_are_said_to_be(run, arbor):
    export = arbor("m.csv", ["S1,Nowak,Amy,Year 3,3A,05/09/2025,AM,L,-30", "S1,Nowak,Amy,Year 3,3A,05/09/2025,PM,L,1440",
                             "S2,Lee,Bo,Year 3,3A,05/09/2025,AM,L,ten"])
    result = run("summary", export)
    assert result.exit_code == 1
    assert f"{export}, line 2: minutes late outside 0 to 1439; column 'Minutes Late'; value '-30'" in result.stderr
    assert f"{export}, line 3: minutes late outside 0 to 1439; column 'Minutes Late'; value '1440'" in result.stderr
    assert f"{export}, line 4: minutes late is not a whole number; column 'Minutes Late'; value 'ten'" in result.stderr


def test_a_workbook_that_unpacks_past_the_limit_is_refused_with_its_size(run, tmp_path, monkeypatch):
    from attendance_cli.ingest import workbook

    header = ARBOR_HEADER.split(",")
    book = _workbook(tmp_path / "big.xlsx", [header] + [["S1", "Nowak", "Amy", "Year 3", "3A", "05/09/2025", "AM", "/", ""]]
                     * 200)
    monkeypatch.setattr(workbook, "MAX_UNPACKED", 20_000)
    result = run("summary", book)
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"Error: {book}: the workbook unpacks to ") and "more than the 0 GB" not in first


def test_files_that_are_not_exports_are_named_as_what_they_are(run, tmp_path):
    import gzip

    export_text = f"{ARBOR_HEADER}\nS1,Nowak,Amy,Year 3,3A,05/09/2025,AM,/,\n"
    cases = {
        "random.csv": (bytes((i * 7919 + 13) % 256 for i in range(3000)), "this is not a text file (binary data: "),
        "report.csv": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "this is a PDF document, not a register export."),
        "export.csv": (gzip.compress(export_text.encode()), "this is a gzip archive, not a register export."),
        "export.xlsx": (export_text.encode(), "named .xlsx but it is text, not a spreadsheet workbook."),
        "report.xls": (b"<html><body><table><tr><td>1</td></tr></table></body></html>",
                       "named .xls but it is an HTML page, not a spreadsheet workbook."),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        result = run("summary", path)
        assert result.exit_code == 1, name
        assert result.stderr.splitlines()[0].startswith(f"Error: {path}: {message}"), (name, result.stderr)
        assert not result.stdout
    utf16 = tmp_path / "unicode.csv"
    utf16.write_bytes(export_text.encode("utf-16-le"))  # Excel's "Unicode text" without its mark still reads
    assert run("summary", utf16, "-f", "csv").exit_code == 0


def test_dates_outside_the_years_read_are_said_to_be(run, arbor):
    export = arbor("d.csv", ["S1,Nowak,Amy,Year 3,3A,01/01/1900,AM,/,", "S1,Nowak,Amy,Year 3,3A,02/01/2026,AM,/,"])
    result = run("summary", export)
    assert result.exit_code == 1
    assert f"{export}, line 2: a date outside 1990 to 2099; column 'Date'; value '01/01/1900'" in result.stderr
    fine = arbor("f.csv", ["S1,Nowak,Amy,Year 3,3A,02/01/2026,AM,/,"])
    late = run("summary", fine, "--as-of", "01/01/2100", "--window", "ytd")
    assert late.exit_code == 2
    assert late.stderr.splitlines()[0] == ("Error: --as-of '01/01/2100' is outside the years this program reads "
                                           "(1990 to 2099).")


def test_wait_inf_waits_for_a_busy_ledger_and_nan_is_refused(tmp_path, arbor):
    import sqlite3
    import time

    export = arbor("e.csv", [f"S1,Nowak,Amy,Year 3,3A,{d:02d}/11/2026,{s},O," for d in (2, 3, 4) for s in ("AM", "PM")])
    ledger = tmp_path / "ledger.sqlite"
    args = ["triggers", export, "--policy", "dfe-national", "--record", "--db", ledger]
    assert attendance(*args, cwd=tmp_path).returncode == 0
    db = sqlite3.connect(ledger, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")  # another run holding the ledger
    waiting = subprocess.Popen([sys.executable, "-m", "attendance_cli", *map(str, args), "--wait", "inf"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    assert waiting.poll() is None  # still waiting, not given up
    db.execute("COMMIT")
    db.close()
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    refused = attendance(*args, "--wait", "nan", cwd=tmp_path, text=True)
    assert refused.returncode == 2 and "is not a number of seconds" in refused.stderr


def test_a_half_term_window_long_after_the_calendar_ends_is_refused(run, arbor, write):
    export = arbor("e.csv", ["S1,Nowak,Amy,Year 3,3A,05/09/2025,AM,/,"])
    calendar = write("autumn1.csv", ["name,start,end", "Autumn 1,03/09/2025,24/10/2025"])
    result = run("summary", export, "--calendar", calendar, "--window", "half-term", "--as-of", "18/03/2026")
    assert result.exit_code == 2 and not result.stdout
    assert result.stderr.splitlines()[0] == (
        f"Error: The last half term in the calendar file {calendar} is Autumn 1 2025/26, which ended on 24/10/2025: "
        "18/03/2026 is long after it, so there is no half-term as of that date.")
    # in the holiday after it, the half term just ended is still the one meant
    fine = run("summary", export, "--calendar", calendar, "--window", "half-term", "--as-of", "31/10/2025", "-f", "csv")
    assert fine.exit_code == 0


def test_lenient_with_a_rejects_file_that_cannot_be_written_does_nothing(run, arbor, tmp_path):
    export = arbor("e.csv", [f"S1,Nowak,Amy,Year 3,3A,{d:02d}/11/2026,{s},O," for d in (2, 3, 4, 5, 6) for s in ("AM", "PM")]
                   + ["S2,Lee,Bo,Year 3,3A,02/11/2026,AM,??,"])
    ledger = tmp_path / "ledger.sqlite"
    nowhere = tmp_path / "missing-folder" / "rejects.csv"
    for args in (("summary", export, "-o", tmp_path / "out.csv"),
                 ("triggers", export, "--policy", "dfe-national", "--record", "--db", ledger, "-o", tmp_path / "t.csv"),
                 ("ingest", export, "-o", tmp_path / "store.parquet")):
        result = run(*args, "--lenient", "--rejects", nowhere)
        assert result.exit_code == 2, args
        assert result.stderr.splitlines()[0] == (
            f"Error: --rejects {nowhere}: the rejects file cannot be written (its folder {nowhere.parent} does not "
            "exist); nothing was read, written or recorded.")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.csv"]


def test_windows_device_names_and_shares_are_safe_paths():
    from pathlib import PureWindowsPath

    from attendance_cli.ledger.schema import sqlite_uri
    from attendance_cli.letters.facts import safe_name
    from attendance_cli.reports.naming import file_names

    for reserved in ("CON", "con", "PRN", "AUX", "NUL", "COM1", "LPT9"):
        name = safe_name(reserved)
        assert name.startswith(reserved + "-") and len(name) == len(reserved) + 9, name
    assert safe_name("S1042") == "S1042" and safe_name("A/1") == "A-1"
    names = file_names(["CON", "S1"])
    assert names["S1"] == "S1" and names["CON"] != "CON"
    assert sqlite_uri(PureWindowsPath(r"\\server\share\attendance\ledger.sqlite")) == \
        "file:////server/share/attendance/ledger.sqlite"
    assert sqlite_uri(PureWindowsPath(r"C:\Attendance\ledger.sqlite")) == "file:/C:/Attendance/ledger.sqlite"


def test_a_pupil_called_con_gets_a_file_windows_can_make(run, arbor, write, tmp_path):
    school = write("school.toml", SCHOOL)
    export = arbor("e.csv", ["CON,Nowak,Amy,Year 3,3A,02/11/2026,AM,/,", "CON,Nowak,Amy,Year 3,3A,02/11/2026,PM,/,"])
    out = tmp_path / "slips"
    result = run("slips", export, "--policy", "primary-academy", "--out", tmp_path / "all.pdf", "--per-pupil", out,
                 "--school", school, "-q")
    assert result.exit_code == 0, result.stderr
    names = [p.name for p in out.iterdir()]
    assert len(names) == 1 and names[0].startswith("CON-") and names[0].endswith(".pdf"), names


def test_a_truncated_or_fake_parquet_store_is_one_error(run, arbor, tmp_path):
    export = arbor("e.csv", ["S1,Nowak,Amy,Year 3,3A,02/11/2026,AM,/,"])
    store = tmp_path / "store.parquet"
    assert run("ingest", export, "-o", store).exit_code == 0
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(store.read_bytes()[:300])
    fake = tmp_path / "fake.parquet"
    fake.write_text("not parquet at all\n")
    for path in (cut, fake):
        result = run("summary", path)
        assert result.exit_code == 1 and not result.stdout
        assert result.stderr.splitlines()[0].startswith(f"Error: {path}: not a whole Parquet file (")


@pytest.mark.parametrize("step", ["digest-staged", "digest-moving"])
def test_a_digest_run_killed_while_moving_is_finished_by_the_next(tmp_path, step):
    from attendance_cli.cli.report_cmd import recover_digests

    samples = Path(__file__).parent.parent / "sample_data"
    exports = [samples / "primary_arbor_2026-27_autumn_grid.csv", samples / "primary_arbor_2026-27_week-47.csv"]
    week = ["digest", *exports, "--by", "form", "-f", "csv", "-q"]
    out, reference = tmp_path / "out", tmp_path / "reference"
    assert attendance(*week, "--out", out, "--as-of", "13/11/2026", cwd=tmp_path).returncode == 0
    last_week = {p.name: p.read_bytes() for p in out.iterdir()}
    assert attendance(*week, "--out", reference, cwd=tmp_path).returncode == 0
    this_week = {p.name: p.read_bytes() for p in reference.iterdir()}
    assert this_week != last_week and set(this_week) == set(last_week)
    killed = attendance(*week, "--out", out, cwd=tmp_path, env={"ATTENDANCE_TEST_KILL_AT": step})
    assert killed.returncode == 137
    assert any(p.name.startswith(".attendance-digest-") for p in out.iterdir())  # pupil data, left by the kill
    notes = recover_digests(out)
    assert notes and notes[0].startswith("Finished a run that was stopped while moving its")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == this_week  # all this week's, nothing hidden left


def test_a_digest_run_killed_while_writing_leaves_nothing_after_the_next(tmp_path):
    from attendance_cli.cli.report_cmd import recover_digests

    out = tmp_path / "out"
    staging = out / ".attendance-digest-x1"
    staging.mkdir(parents=True)
    (staging / "digest-4A.csv").write_text("pupil_id\nS1\n", encoding="utf-8")  # half a run: no .complete
    (out / "digest-4A.csv").write_text("last week\n", encoding="utf-8")
    assert recover_digests(out) == ["Removed .attendance-digest-x1: files of a run that was stopped before it had "
                                    "written them all."]
    assert [p.name for p in out.iterdir()] == ["digest-4A.csv"] and (out / "digest-4A.csv").read_text() == "last week\n"


@pytest.mark.skipif(sys.platform == "win32", reason="a file-size limit (RLIMIT_FSIZE) stands in for a full disk")
def test_a_letters_run_whose_ledger_cannot_be_written_leaves_nothing(tmp_path, write):
    import resource

    samples = Path(__file__).parent.parent / "sample_data"
    school = write("school.toml", SCHOOL)

    def full_disk() -> None:  # every file stops growing at 16 KB: the new ledger cannot be made
        resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))

    done = subprocess.run([sys.executable, "-m", "attendance_cli", "letters",
                           str(samples / "primary_arbor_2026-27_autumn_grid.csv"), "--policy", "primary-academy",
                           "--school", str(school), "--db", "ledger.sqlite", "--new-ledger", "--out", "out", "-f", "txt",
                           "--date", "23/11/2026", "-q"], cwd=tmp_path, preexec_fn=full_disk, capture_output=True,
                          text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[0] == "Error: Could not open the trigger ledger ledger.sqlite: disk I/O error."
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["school.toml"], left  # no letters, no staging folder, no 0-byte ledger, no lock file


@pytest.mark.skipif(sys.platform == "win32", reason="a file-size limit (RLIMIT_FSIZE) stands in for a full disk")
@pytest.mark.parametrize("name", ["out.xlsx", "out.parquet", "out.csv", "out.json"])
def test_a_full_disk_while_writing_an_output_is_one_error_and_leaves_no_file(tmp_path, name):
    import resource

    samples = Path(__file__).parent.parent / "sample_data"

    def full_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))

    done = subprocess.run([sys.executable, "-m", "attendance_cli", "summary",
                           str(samples / "primary_arbor_2026-27_autumn_grid.csv"), "-o", name, "-q"], cwd=tmp_path,
                          preexec_fn=full_disk, capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"Error: cannot write {name}: ")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary part


@pytest.mark.skipif(sys.platform == "win32", reason="named pipes (mkfifo) are POSIX")
def test_a_named_pipe_is_said_to_be_one(run, tmp_path):
    pipe = tmp_path / "export.csv"
    os.mkfifo(pipe)
    result = run("summary", pipe)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (f"Error: {pipe}: not a file but a pipe or a device; an export is read more "
                                             "than once, so it must be a file.")


def test_a_pupil_id_with_a_hidden_character_is_refused(run, arbor):
    export = arbor("nul.csv", ["S1,Nowak,Amy,Year 3,3A,02/11/2026,AM,/,", "S1\x00,Nowak,Amy,Year 3,3A,02/11/2026,PM,/,"])
    result = run("summary", export)
    assert result.exit_code == 1 and not result.stdout
    assert result.stderr.splitlines()[0] == ("Error: 1 pupil id(s) hold a hidden control character; nothing was "
                                             "written.")
    assert (f"{export}, line 3: pupil id holds a hidden control character; column 'Student ID'; value 'S1<0x00>'"
            in result.stderr)


def test_summary_counts_the_latest_school_year_unless_told_otherwise(run):
    """Two school years of exports: last year's leavers are not counted in this year's forms."""
    samples = Path(__file__).parent.parent / "sample_data"
    both = [*sorted(samples.glob("primary_arbor_2025-26_*.csv")), samples / "primary_arbor_2026-27_autumn_grid.csv"]
    default = run("summary", *both, "--by", "form", "-f", "csv")
    assert default.exit_code == 0, default.stderr
    assert ("counting school year 2026/27, the latest in the exports (earlier school years left out: --from, --to or "
            "--window count them)") in " ".join(default.stderr.split())
    this_year = run("summary", samples / "primary_arbor_2026-27_autumn_grid.csv", "--by", "form", "-f", "csv")
    stamp = ["window", "window_start", "window_end", "as_of"]
    counted, alone = csv_frame(default.stdout), csv_frame(this_year.stdout)
    assert counted.drop(stamp).equals(alone.drop(stamp))  # the same forms and pupils as this year's export alone
    # and each says what it counted: the school year from 1 August, or this year's export's own dates
    assert counted.select(stamp).unique().rows() == [(
        "school year 2026/27, the latest in the exports (earlier school years left out: --from, --to or --window count "
        "them): from 01/08/2026", "2026-08-01", "2026-11-20", "2026-11-20")]
    assert alone.select(stamp).unique().rows() == [("school year 2026/27: every date in the data", "2026-09-03",
                                                    "2026-11-20", "2026-11-20")]
    everything = run("summary", *both, "--by", "form", "-f", "csv", "--from", "01/08/2025")
    assert everything.stdout != default.stdout  # asked for, the earlier year is counted too
    as_of = run("summary", *both, "--as-of", "20/07/2026", "-f", "csv")
    assert "counting school year 2025/26 to 20/07/2026" in " ".join(as_of.stderr.split())


def test_a_per_pupil_slips_run_killed_while_moving_is_finished_by_the_next(tmp_path, write):
    samples = Path(__file__).parent.parent / "sample_data"
    school = write("school.toml", SCHOOL)
    slips = ["slips", samples / "primary_arbor_2026-27_week-47.csv", "--policy", "primary-academy", "--school", school,
             "--out", tmp_path / "all.pdf", "-q"]
    folder = tmp_path / "pupils"
    killed = attendance(*slips, "--per-pupil", folder, cwd=tmp_path, env={"ATTENDANCE_TEST_KILL_AT": "slips-moving"})
    assert killed.returncode == 137
    hidden = [p for p in folder.iterdir() if p.name.startswith(".attendance-slips-")]
    assert hidden and len([p for p in folder.iterdir() if p.suffix == ".pdf"]) == 1  # one moved before the kill
    again = attendance(*slips, "--per-pupil", folder, cwd=tmp_path, text=True)
    assert again.returncode == 0, again.stderr
    assert "Finished a run that was stopped while moving its" in again.stderr
    names = sorted(p.name for p in folder.iterdir())
    assert not any(n.startswith(".") for n in names) and len(names) > 100
