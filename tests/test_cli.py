"""The command line as a user meets it: exact errors, exit codes, output formats, safety in Excel."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from attendance_cli.cli import app
from tests.conftest import ARBOR_HEADER, csv_frame, session_rows

PUPIL_HEADER = ("pupil_id,surname,forename,year_group,form,possible_sessions,attended_sessions,authorised_absences,"
                "unauthorised_absences,late_before_close,late_after_close,minutes_late,attendance_pct,"
                "persistent_absence,severe_absence,days_missed")
#: what every windowed result carries in a file or a pipe: what it counted, and as of when
STAMP = ",window,window_start,window_end,as_of"


@pytest.fixture
def register(arbor):
    rows = (session_rows("000101", dt.date(2025, 9, 1), ["/", "\\"] * 9 + ["L", "N"], minutes={18: 6})
            + session_rows("000102", dt.date(2025, 9, 1), ["I", "I", "/", "\\"], surname="O’Brien", forename="Zoë",
                           form="3B"))
    return arbor("register.csv", rows)


def test_summary_csv_golden(run, register):
    result = run("summary", register, "-f", "csv", "-q")
    assert result.exit_code == 0
    assert result.stdout == (
        PUPIL_HEADER + STAMP + "\n"
        "000101,Smith,Amy,Year 3,3A,20,19,0,1,1,0,6,95.0,false,false,0.5,"
        "school year 2025/26: every date in the data,2025-09-01,2025-09-12,2025-09-12\n"
        "000102,O’Brien,Zoë,Year 3,3B,4,2,2,0,0,0,0,50.0,true,true,1.0,"
        "school year 2025/26: every date in the data,2025-09-01,2025-09-12,2025-09-12\n"
    )
    assert result.stderr == ""


def test_csv_is_the_default_when_piped_and_diagnostics_go_to_stderr(run, register):
    result = run("summary", register)  # CliRunner's stdout is not a terminal
    assert result.stdout.splitlines()[0] == PUPIL_HEADER + STAMP
    assert result.stderr == (
        "Read 1 file (arbor-sessions): 24 marks for 2 pupils, 01/09/2025 to 12/09/2025; counting school year 2025/26: "
        "every date in the data.\n")


def test_group_summary(run, register):
    result = run("summary", register, "--by", "form", "-f", "csv", "-q")
    frame = csv_frame(result.stdout)
    assert frame.columns[:3] == ["form", "pupils", "possible_sessions"]
    assert frame.select("form", "possible_sessions", "attendance_pct", "persistent_absence_pct").rows() == [
        ("3A", "20", "95.0", "0.0"), ("3B", "4", "50.0", "100.0"), ("All pupils", "24", "87.5", "50.0")]


def test_group_rates_are_ratios_of_summed_sessions_not_means(run, register):
    frame = csv_frame(run("summary", register, "--by", "year_group", "-f", "csv", "-q").stdout)
    # (19 + 2) / (20 + 4), not the mean of 95% and 50%
    assert float(frame["attendance_pct"][0]) == pytest.approx(21 / 24 * 100)
    assert frame["persistent_absence_pct"][0] == "50.0"


def test_json_output(run, register):
    rows = json.loads(run("summary", register, "-f", "json", "-q").stdout)
    assert rows[1] == {
        "pupil_id": "000102", "surname": "O’Brien", "forename": "Zoë", "year_group": "Year 3", "form": "3B",
        "possible_sessions": 4, "attended_sessions": 2, "authorised_absences": 2, "unauthorised_absences": 0,
        "late_before_close": 0, "late_after_close": 0, "minutes_late": 0, "attendance_pct": 50.0,
        "persistent_absence": True, "severe_absence": True, "days_missed": 1.0,
        "window": "school year 2025/26: every date in the data", "window_start": "2025-09-01",
        "window_end": "2025-09-12", "as_of": "2025-09-12"}


def test_xlsx_and_parquet_outputs_read_back(run, register, tmp_path):
    xlsx, parquet = tmp_path / "s.xlsx", tmp_path / "s.parquet"
    assert run("summary", register, "-o", xlsx, "-q").exit_code == 0
    assert run("summary", register, "-o", parquet, "-q").exit_code == 0
    from_excel = pl.read_excel(xlsx)
    from_parquet = pl.read_parquet(parquet)
    from attendance_cli.formatting import heading

    assert from_excel.columns == [heading(c) for c in (PUPIL_HEADER + STAMP).split(",")]  # in words
    from_excel = from_excel.rename(dict(zip(from_excel.columns, (PUPIL_HEADER + STAMP).split(","))))
    assert from_parquet["as_of"].to_list() == [dt.date(2025, 9, 12)] * 2  # a date, as in the sheet
    assert from_excel["attendance_pct"].to_list() == [95.0, 50.0]  # numbers stay numbers
    assert from_parquet["pupil_id"].to_list() == ["000101", "000102"]  # identifiers stay text


def test_formula_injection_is_neutralised_in_csv_and_xlsx(run, arbor, tmp_path):
    names = ["=cmd|' /C calc'!A0", "+SUM(A1)", "-2+3", "@HYPERLINK(\"x\")"]
    rows = [f"{i},{name},Amy,Year 3,3A,01/09/2025,AM,/," for i, name in enumerate(names)]
    path = arbor("evil.csv", rows)
    frame = csv_frame(run("summary", path, "-f", "csv", "-q").stdout)
    assert frame["surname"].to_list() == ["'" + n for n in names]
    xlsx = tmp_path / "evil.xlsx"
    run("summary", path, "-o", xlsx, "-q")
    assert pl.read_excel(xlsx)["Surname"].to_list() == ["'" + n for n in names]
    assert pl.read_excel(xlsx)["Possible sessions"].to_list() == [1, 1, 1, 1]


def test_csv_files_open_in_excel_with_names_intact_follow_the_umask_and_stdout_stays_plain(run, arbor, tmp_path):
    # Excel reads a CSV without a byte-order mark in the Windows code page: Zoë would become ZoÃ«
    path = arbor("names.csv", ["1,Nowak,Zoë,Year 3,3A,01/09/2025,AM,/,"])
    out = tmp_path / "summary.csv"
    assert run("summary", path, "-o", out, "-q").exit_code == 0
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfpupil_id,surname,forename,")
    assert data.decode("utf-8-sig").splitlines()[1].startswith("1,Nowak,Zoë,Year 3,3A,")
    piped = run("summary", path, "-f", "csv", "-q").stdout
    assert piped.startswith("pupil_id,surname,forename,")
    # the file's permissions follow the user's umask, like any file they save
    mask = os.umask(0o027)
    try:
        assert run("summary", path, "-o", out, "-q").exit_code == 0
    finally:
        os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o640


def test_unknown_code_error_is_exact_and_writes_nothing(run, arbor, tmp_path):
    path = arbor("bad.csv", session_rows("P1", dt.date(2025, 9, 1), ["/", "Q9", "/", "Q9"]))
    out = tmp_path / "out.csv"
    result = run("summary", path, "-o", out)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: 2 rows could not be used; nothing was written.\n"
        f"  - {path}, lines 3, 5: unknown code; column 'Mark'; value 'Q9'\n"
        "        Expected: a code in the 'dfe' table: / /\\ // \\ L K V P W B J C1 M J1 S C2 C T R I E H F G U O N X D Q Y Y1 Y2 Y3 Y4 Y5 Y6 Y7 Z #\n"
        "        Fix: Correct the mark in the MIS, or use a code table that defines it (--codes college, or your own "
        "table with --codes FILE; 'attendance codes' lists the active table).\n"
        "  Fix: Correct the rows in the MIS and export again, or pass --lenient to set them aside in a rejects file "
        "and carry on.\n")
    assert not out.exists() and list(tmp_path.glob("*.part")) == []


def test_lenient_writes_rejects_and_exits_3(run, arbor, tmp_path):
    path = arbor("bad.csv", session_rows("P1", dt.date(2025, 9, 1), ["/", "Q9", "/", "\\"]))
    rejects = tmp_path / "rejects.csv"
    result = run("summary", path, "--lenient", "--rejects", rejects, "-f", "csv")
    assert result.exit_code == 3
    assert csv_frame(result.stdout)["possible_sessions"].to_list() == ["3"]
    assert "1 row rejected (see " in result.stderr
    frame = pl.read_csv(rejects, infer_schema=False)
    assert frame.columns == ["file", "line", "reason", "column", "value", "expected", "fix", "pupil_id", "date", "session", "mark"]
    assert frame.rows(named=True) == [{
        "file": str(path), "line": "3", "reason": "unknown code", "column": "Mark", "value": "Q9",
        "expected": "a code in the 'dfe' table: / /\\ // \\ L K V P W B J C1 M J1 S C2 C T R I E H F G U O N X D Q Y Y1 Y2 "
                    "Y3 Y4 Y5 Y6 Y7 Z #",
        "fix": "Correct the mark in the MIS, or use a code table that defines it (--codes college, or your own table "
               "with --codes FILE; 'attendance codes' lists the active table).",
        "pupil_id": "P1", "date": "01/09/2025", "session": "PM", "mark": "Q9"}]


@pytest.mark.parametrize(("rows", "expected"), [
    (["P1,A,B,3,3A,01/09/2025,AM,/,", ",A,B,3,3A,01/09/2025,PM,/,"],
     "line 3: missing pupil id; column 'Student ID'; value ''"),
    (["P1,A,B,3,3A,1st Sept,AM,/,"], "line 2: not a day-first date; column 'Date'; value '1st Sept'"),
    (["P1,A,B,3,3A,01/09/2025,Lunch,/,"], "line 2: not a session; column 'Session'; value 'Lunch'"),
    (["P1,A,B,3,3A,01/09/2025,AM,L,ten"], "line 2: minutes late is not a whole number; column 'Minutes Late'; value 'ten'"),
    (["P1,O,Brien,B,3,3A,01/09/2025,AM,/,5"], "line 2: more fields than the header; column '(past the last column)'; "
                                              "value '5'"),
    # a long first row (Polars sizes the file from it), its extra fields after empty ones
    (["P1,A,B,3,3A,01/09/2025,AM,/,,,,x", "P1,A,B,3,3A,01/09/2025,PM,/,"],
     "line 2: more fields than the header; column '(past the last column)'; value 'x'"),
])
def test_each_bad_row_names_file_line_column_and_value(run, arbor, rows, expected):
    path = arbor("bad.csv", rows)
    result = run("summary", path)
    assert result.exit_code == 1
    assert f"{path}, {expected}" in result.stderr


def test_trailing_empty_fields_are_not_an_error(run, arbor):
    path = arbor("trailing.csv", ["P1,A,B,3,3A,01/09/2025,AM,/,,,", "P1,A,B,3,3A,01/09/2025,PM,\\,"])
    assert csv_frame(run("summary", path, "-q").stdout)["possible_sessions"].to_list() == ["2"]


def test_unreadable_layout_lists_the_headers_seen(run, write):
    path = write("what.csv", ["Pupil,Colour,Shoe size", "Amy,Red,3"])
    result = run("summary", path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {path}: cannot tell what kind of export this is.\n"
        "  Fix: The first non-blank row has the headers 'Pupil', 'Colour', 'Shoe size'. Expected a register with a "
        "pupil id, a date, a session (AM/PM) or lesson times, and a mark (e.g. 'Student ID, Date, Session, Mark'), or "
        "a grid with a column per 'dd/mm/yyyy AM'. Map unknown headers with --map \"Header=field\" (fields: pupil_id, "
        "date, session, mark, ...).\n")


@pytest.mark.parametrize("lines", [
    ["LearnerId,LearnerCode,Surname,YearGroup,PossibleAttendances,Authorised,Unauthorised,AttendancePercentage",
     "1,000869,Nowak,Year 10,120,6,2,93.3"],
    ["Attendance summary, autumn term", "Pupil,Possible,Present,Attendance %", "Amy,100,95,95%"],
])
def test_a_summary_of_totals_is_refused_as_not_a_register(run, write, lines):
    path = write("summary.csv", lines)
    result = run("summary", path)
    assert result.exit_code == 1
    assert f"Error: {path}: this is a summary of totals per pupil (" in result.stderr
    assert "Fix: Figures are worked out from the marks, never copied from a summary" in result.stderr


def test_missing_column_error_suggests_a_map(run, write):
    path = write("nomark.csv", ["Student ID,Date,Session,Register", "1,01/09/2025,AM,/"])
    result = run("summary", path)
    assert result.stderr == (
        f"Error: {path}: the header row (line 1) has no column for mark.\n"
        "  Fix: Headers seen: 'Student ID', 'Date', 'Session', 'Register'. Map the right columns with --map, "
        "e.g. --map \"Register=mark\".\n")
    assert run("summary", path, "--map", "Register=mark", "-q").exit_code == 0


def test_usage_errors_exit_2(run, register):
    assert run("summary", register, "--window", "fortnight").exit_code == 2
    assert run("summary", "no-such-file.csv").exit_code == 2
    result = run("summary", register, "--by", "shoe_size")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --by 'shoe_size' is not a column of these exports.\n  Fix: Group by one of: year_group, form,")
    result = run("summary", register, "--as-of", "13/13/2025", "--window", "week")
    assert (result.exit_code, result.stderr) == (2, "Error: --as-of '13/13/2025' is not a date.\n  Fix: Write dates day first: dd/mm/yyyy, e.g. 20/11/2026.\n")


def test_ingest_report_accounts_for_every_row(run, write):
    path = write("r.csv", ["Title line", ARBOR_HEADER, "1,A,B,3,3A,01/09/2025,AM,/,", "1,A,B,3,3A,01/09/2025,PM,,", "",
                           "Total,,,,,,,1,"])
    result = run("ingest", path)
    assert result.exit_code == 0
    assert "  rows        6 lines = 1 above the header + 1 header + 4 rows\n" in result.stdout
    assert "              4 rows = 2 accepted + 0 rejected + 2 report furniture (all accounted for)\n" in result.stdout
    assert "  skipped     line 5 (blank row), line 6 (report text)\n" in result.stdout
    report = json.loads(run("ingest", path, "-f", "json").stdout)
    assert (report["files"][0]["accepted"], report["files"][0]["furniture"], report["files"][0]["balanced"]) == (2, 2, True)
    assert report["codes"] == [{"code": "/", "meaning": "Present (AM register)", "category": "present", "marks": 1}]
    assert report["unmarked"] == 1


def test_every_command_has_help_with_examples(run):
    for command in ("ingest", "summary", "codes", "calendar", "sample"):
        result = run(command, "--help")
        assert result.exit_code == 0
        assert "Examples:\n    attendance " + command in result.stdout, command


def test_readme_documents_every_command():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for command in app.registered_commands:
        assert f"attendance {command.name}" in readme, command.name
    assert "make demo" in readme and "make test" in readme


def test_module_entry_point_works_and_help_does_not_import_polars():
    result = subprocess.run([sys.executable, "-m", "attendance_cli", "--help"], capture_output=True, text=True, check=True)
    assert "Usage: python -m attendance_cli" in result.stdout
    # polars is not imported for --help (measured properly by make bench)
    probe = subprocess.run([sys.executable, "-c", "import sys, attendance_cli.cli; print('polars' in sys.modules)"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "False"


def test_broken_pipe_prints_no_traceback(register):
    script = (f"import subprocess, sys; p = subprocess.Popen([sys.executable, '-m', 'attendance_cli', 'summary', "
              f"{str(register)!r}, {str(register)!r}, '--duplicates', 'keep-last', '-f', 'csv', '-q'], stdout=subprocess.PIPE, "
              "stderr=subprocess.PIPE); p.stdout.close(); err = p.stderr.read(); p.wait(); print(err.decode())")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "Traceback" not in result.stdout


def test_terminal_table_keeps_the_grouping_column_and_says_what_it_left_out(run, register):
    result = run("summary", register, "--by", "year_group", "-f", "table", "-q")
    assert result.exit_code == 0
    assert "Year 3" in result.stdout and "Attend" in result.stdout
    assert "Not shown here:" in result.stdout and "year_group" not in result.stdout.split("Not shown here:")[1]


def test_a_conflict_inside_one_file_counts_both_rows(run, write, tmp_path):
    path = write("twice.csv", ["Student ID,Date,Session,Mark", "1,01/09/2025,AM,/", "1,01/09/2025,AM,O"])
    result = run("summary", path)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: 2 rows could not be used; nothing was written.\n"
                                    f"  - {path}, lines 2, 3: conflicting duplicate: pupil 1 on 01/09/2025 AM: "
                                    "twice.csv line 2 has '/'; twice.csv line 3 has 'O'\n")
    lenient = run("summary", path, "--lenient", "--rejects", tmp_path / "r.csv", "-f", "csv")
    assert lenient.exit_code == 3
    assert lenient.stderr == f"Read 1 file (arbor-sessions): no marks.\n2 rows rejected (see {tmp_path / 'r.csv'}).\n"


def test_a_header_only_export_has_no_marks(run, write):
    result = run("summary", write("empty.csv", ["Student ID,Date,Session,Mark"]), "-f", "csv")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [PUPIL_HEADER + STAMP]
    assert result.stderr == "Read 1 file (arbor-sessions): no marks.\n"
