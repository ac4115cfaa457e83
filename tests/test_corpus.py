"""The bad-input corpus: every bad export, calendar, code table and option, run through every command
that reads it. Each run must exit with the code in the golden file, say the exact first line there
(the same line whichever command read the file), show no traceback, and write nothing: no output,
no ledger, no lock file, no staging folder.

The golden file (tests/golden/bad-inputs.txt) is one line per run: case, command, exit code, the
first line of the message with the file's path as {file} (and, after " / ", the problems listed under
it down to the one naming the file: a row's line, column and value). After a deliberate change of wording:
UPDATE_GOLDEN=1 pytest tests/test_corpus.py, and read the diff before committing."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ARBOR_HEADER, SCHOOL, session_rows

GOLDEN = Path(__file__).parent / "golden" / "bad-inputs.txt"

# -- the bad files ---------------------------------------------------------------------------------

#: Two weeks of one pupil's marks, from Monday 7 September 2026: the good rows each case spoils one of.
GOOD = session_rows("1", dt.date(2026, 9, 7), ["/", "\\"] * 10)


def _export(rows: list[str]) -> bytes:
    return ("\n".join([ARBOR_HEADER, *rows]) + "\n").encode()


def _spoilt(line: int, old: str, new: str) -> bytes:
    """The good export with one data row's `old` text made `new` (`line`: its 0-based data row)."""
    rows = list(GOOD)
    assert old in rows[line]
    rows[line] = rows[line].replace(old, new, 1)
    return _export(rows)


def _minutes(value: str) -> bytes:
    rows = list(GOOD)
    rows[3] = rows[3].rsplit(",", 1)[0] + "," + value
    return _export(rows)


def _workbook(path: Path, error: str | None = None, rows: int = 1) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Register")
    sheet.write_row(0, 0, ARBOR_HEADER.split(","))
    for r in range(1, rows + 1):
        sheet.write_row(r, 0, ["1", "Smith", "Amy", "Year 3", "3A", "07/09/2026", "AM", "/", ""])
    if error:  # a formula whose saved result is an Excel error, in the Mark column
        sheet.write_formula(1, 7, "=1/0", None, error)
    book.close()


def _fake_parquet(path: Path) -> None:
    path.write_bytes(b"PAR1" + bytes(range(256)) * 2)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


#: name -> (file name, its bytes or a function making it)
EXPORTS: dict[str, tuple[str, bytes | Callable[[Path], None]]] = {
    "minutes late -30": ("minutes.csv", _minutes("-30")),
    "minutes late 1440": ("minutes.csv", _minutes("1440")),
    "a date in 1900": ("dates.csv", _spoilt(2, "08/09/2026", "01/01/1900")),
    "31 February": ("dates.csv", _spoilt(2, "08/09/2026", "31/02/2026")),
    "a month-first date": ("dates.csv", _spoilt(2, "08/09/2026", "09/30/2026")),
    "an unknown code": ("codes.csv", _spoilt(2, ",/,", ",ZZ,")),
    "a conflicting duplicate": ("twice.csv", _export([*GOOD, GOOD[0].replace(",/,", ",N,")])),
    "a NUL in a pupil id": ("ids.csv", _export([*GOOD, GOOD[0].replace("1,Smith", "1\0,Smith")])),
    "random bytes": ("export.csv", bytes((i * 7919 + 13) % 256 for i in range(3000))),
    "a gzip archive": ("export.csv", gzip.compress(_export(GOOD))),
    "a PDF": ("export.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256))),
    "a PNG image": ("export.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
    "a SQLite database": ("export.csv", b"SQLite format 3\x00" + bytes(500)),
    "CSV named .xlsx": ("export.xlsx", _export(GOOD)),
    "a web page named .xls": ("export.xls", b"<html><body><table><tr><td>1</td></tr></table></body></html>"),
    "an empty file": ("export.csv", b""),
    "no mark column": ("export.csv", b"Student ID,Date,Session\n1,07/09/2026,AM\n"),
    "an Excel error cell": ("export.xlsx", lambda path: _workbook(path, "#DIV/0!")),
    "a fake Parquet file": ("export.parquet", _fake_parquet),
    "a folder": ("exports", lambda path: path.mkdir()),
    "a named pipe": ("export.csv", _fifo),
}
if sys.platform == "win32":  # pragma: no cover
    del EXPORTS["a named pipe"]


def _make(folder: Path, name: str, content: bytes | Callable[[Path], None]) -> Path:
    path = folder / name
    if callable(content):
        content(path)
    else:
        path.write_bytes(content)
    return path


# -- the commands that read an export ---------------------------------------------------------------

REQUESTS = "Request ID,Student ID,Type,From,To,Requested On\nR1,1,holiday,01/10/2026,02/10/2026,01/09/2026\n"


def _trust_file(folder: Path, export: Path, calendar: Path | None = None) -> Path:
    path = folder / "trust.toml"
    path.write_text('name = "Test Trust"\n\n[[school]]\nname = "Oak Primary"\ndfe_number = "123/4567"\n'
                    f'phase = "primary"\nexports = [{str(export)!r}]\n'
                    + (f'calendar = {str(calendar)!r}\n' if calendar else ""), encoding="utf-8")
    return path


def _export_commands(x: Path, out: Path, setup: Path) -> dict[str, list]:
    """Each command that reads exports, reading `x`, told to write into `out` (which must stay empty)."""
    school, ledger = setup / "school.toml", setup / "ledger.sqlite"
    trust = lambda: _trust_file(out.parent, x)  # noqa: E731  (made only for the trust commands)
    return {
        "ingest": ["ingest", x, "-o", out / "store.parquet"],
        "summary": ["summary", x, "-o", out / "summary.csv"],
        "triggers --record": ["triggers", x, "-p", "dfe-national", "--db", out / "ledger.sqlite", "--record",
                              "-o", out / "triggers.csv"],
        "letters": ["letters", x, "-p", "primary-academy", "--school", school, "--db", out / "ledger.sqlite",
                    "--new-ledger", "--out", out / "letters"],
        "report": ["report", x, "--out", out / "report.html"],
        "slips": ["slips", x, "-p", "primary-academy", "--school", school, "--out", out / "slips.pdf"],
        "digest": ["digest", x, "--by", "form", "--out", out / "digests"],
        "history": ["history", "1", x, "--db", ledger, "-o", out / "history.csv"],
        "calendar": ["calendar", x, "-o", out / "calendar.csv"],
        "requests": ["requests", setup / "requests.csv", "-p", "primary-academy", "--exports", x,
                     "-o", out / "requests.csv"],
        "trust summary": lambda: ["trust", "summary", trust(), "--jobs", "1", "-o", out / "trust.csv"],
        "trust triggers": lambda: ["trust", "triggers", trust(), "--jobs", "1", "-o", out / "trust.csv"],
        "trust report": lambda: ["trust", "report", trust(), "--jobs", "1", "--out", out / "trust.html"],
    }


COMMANDS = list(_export_commands(Path("x"), Path("out"), Path("setup")))


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Path:
    """What the commands need besides the bad file: a school's settings, a requests file and a ledger."""
    folder = tmp_path_factory.mktemp("setup")
    (folder / "school.toml").write_text(SCHOOL, encoding="utf-8")
    (folder / "requests.csv").write_text(REQUESTS, encoding="utf-8")
    good = folder / "good.csv"
    good.write_bytes(_export(GOOD))
    from typer.testing import CliRunner

    from attendance_cli.cli import app

    made = CliRunner().invoke(app, ["triggers", str(good), "-p", "dfe-national", "--db", str(folder / "ledger.sqlite"),
                                    "--record", "-q"])
    assert made.exit_code == 0 and (folder / "ledger.sqlite").exists(), made.output
    return folder


# -- the golden file --------------------------------------------------------------------------------

def _golden() -> dict[tuple[str, str], str]:
    if not GOLDEN.exists():
        return {}
    lines = GOLDEN.read_text(encoding="utf-8").splitlines()
    return {tuple(line.split(" | ", 2)[:2]): line for line in lines if line and not line.startswith("#")}


SEEN: dict[tuple[str, str], str] = {}


def _check(case: str, command: str, exit_code: int, stderr: str, path: Path, out: Path) -> None:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    first = lines[0] if lines else ""
    if first.startswith("Usage:"):  # the command line's own check (a path that is a folder): its "Error:" line
        first = next((line for line in lines if "Error" in line), first)
    # and the problems listed under it, down to the first that names the file (a row's: its line, column and
    # value; a trust's: the school, then the school's own message)
    for line in lines[1:4]:
        if not line.strip().startswith("- "):
            break
        first += " / " + line.strip()
        if str(path) in line:
            break
    first = first.replace(str(path), "{file}").replace(str(out.parent), "{folder}")
    line = f"{case} | {command} | exit {exit_code} | {first}"
    SEEN[(case, command)] = line
    if os.environ.get("UPDATE_GOLDEN"):
        return
    expected = _golden().get((case, command))
    assert expected is not None, f"not in {GOLDEN.name} (UPDATE_GOLDEN=1 to add): {line}"
    assert line == expected
    left = sorted(p.relative_to(out.parent).as_posix() for p in out.rglob("*"))
    assert left == [], f"{command} left {left} after {case}"


@pytest.fixture(scope="module", autouse=True)
def _write_golden():
    yield
    if os.environ.get("UPDATE_GOLDEN") and SEEN:
        old = _golden()
        old.update(SEEN)
        GOLDEN.write_text("# case | command | exit code | first line of the message ({file}: the bad file)\n"
                          + "\n".join(old[key] for key in sorted(old)) + "\n", encoding="utf-8")


def _run(args: list, cwd: Path, timeout: float = 120) -> tuple[int, str]:
    """The command in-process (quick), or for a named pipe in its own process (a read that blocked
    would hang the tests)."""
    if any(isinstance(a, Path) and a.exists() and not a.is_file() and not a.is_dir() for a in args):
        done = subprocess.run([sys.executable, "-m", "attendance_cli", *map(str, args)], capture_output=True,
                              text=True, cwd=cwd, timeout=timeout)
        return done.returncode, done.stderr
    from typer.testing import CliRunner

    from attendance_cli.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stderr


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", list(EXPORTS))
def test_a_bad_export_through_every_command(case, command, setup, tmp_path):
    name, content = EXPORTS[case]
    path = _make(tmp_path, name, content)
    out = tmp_path / "out"
    out.mkdir()
    args = _export_commands(path, out, setup)[command]
    args = args() if callable(args) else args
    code, stderr = _run(args, tmp_path)
    _check(case, command, code, stderr, path, out)


def test_a_bad_export_reads_the_same_whichever_command_reads_it():
    """One file, one message: every single-school command says the same about each bad export (a folder
    named on the command line is refused by the command line itself, before any command runs)."""
    by_case: dict[str, set[str]] = {}
    for (case, command), line in _golden().items():
        if case in EXPORTS and not command.startswith("trust"):
            by_case.setdefault(case, set()).add(line.split(" | ", 3)[3])
    assert set(by_case) == set(EXPORTS)
    mixed = {case: lines for case, lines in by_case.items() if len(lines) > 1 and case != "a folder"}
    assert mixed == {}


# -- calendars --------------------------------------------------------------------------------------

def _calendar_csv(rows: list[str]) -> bytes:
    return ("name,start,end\n" + "\n".join(rows) + "\n").encode()


CALENDARS: dict[str, tuple[str, bytes]] = {
    "a month-first calendar": ("calendar.csv", _calendar_csv(["Autumn 1,09/03/2026,10/23/2026"])),
    "a 200-year half term": ("calendar.csv", _calendar_csv(["Autumn 1,03/09/2026,23/10/2226"])),
    "a half term ending before it starts": ("calendar.csv", _calendar_csv(["Autumn 1,23/10/2026,03/09/2026"])),
    "a calendar that is not TOML": ("calendar.toml", b"[[half_term]\nname = Autumn 1\n"),
    "an empty calendar": ("calendar.csv", b""),
    "a calendar with no half terms": ("calendar.toml", b"title = 'ours'\n"),
    "a calendar in a workbook": ("calendar.xlsx", b"PK\x03\x04" + bytes(200)),
}


def _calendar_commands(x: Path, cal: Path, out: Path, setup: Path) -> dict[str, list]:
    """Each command that reads a calendar file, reading the good export `x` with the calendar `cal`."""
    commands = _export_commands(x, out, setup)
    trust = lambda: _trust_file(out.parent, x, cal)  # noqa: E731
    given = {name: args + ["--calendar", cal] for name, args in commands.items()
             if name not in ("ingest", "trust summary", "trust triggers", "trust report")}
    given["summary"] += ["--window", "half-term"]  # a calendar is read for a named window
    given["trust summary"] = lambda: ["trust", "summary", trust(), "--jobs", "1", "--window", "half-term",
                                      "-o", out / "trust.csv"]
    given["trust triggers"] = lambda: ["trust", "triggers", trust(), "--jobs", "1", "-o", out / "trust.csv"]
    given["trust report"] = lambda: ["trust", "report", trust(), "--jobs", "1", "--out", out / "trust.html"]
    return given


CALENDAR_COMMANDS = list(_calendar_commands(Path("x"), Path("c"), Path("out"), Path("setup")))


@pytest.mark.parametrize("command", CALENDAR_COMMANDS)
@pytest.mark.parametrize("case", list(CALENDARS))
def test_a_bad_calendar_through_every_command(case, command, setup, tmp_path):
    _settings_case(case, command, CALENDARS[case], _calendar_commands, setup, tmp_path)


def _settings_case(case: str, command: str, bad: tuple[str, bytes], commands: Callable, setup: Path,
                   tmp_path: Path) -> None:
    """A good export read by `command` with the bad settings file `bad` (a calendar, a code table)."""
    path = _make(tmp_path, *bad)
    good = _make(tmp_path, "export.csv", _export(GOOD))
    out = tmp_path / "out"
    out.mkdir()
    args = commands(good, path, out, setup)[command]
    code, stderr = _run(args() if callable(args) else args, tmp_path)
    _check(case, command, code, stderr, path, out)


# -- code tables ------------------------------------------------------------------------------------

CODE_TABLES: dict[str, tuple[str, bytes]] = {
    "a code table that is not TOML": ("codes.toml", b"[[codes]\ncode = /\n"),
    "a code with no category": ("codes.csv", b"code,meaning,category\n/,Present AM,\n"),
    "a code with an unknown category": ("codes.csv", b"code,meaning,category\n/,Present AM,here\n"),
    "a code table with no code column": ("codes.csv", b"mark,meaning,category\n/,Present AM,present\n"),
    "an empty code table": ("codes.csv", b""),
    "a code table extending no preset": ("codes.toml", b'extends = "nowhere"\n'),
}


def _codes_commands(x: Path, codes: Path, out: Path, setup: Path) -> dict[str, list]:
    """Each command that reads a code table, reading the good export `x` with the table `codes`."""
    commands = _export_commands(x, out, setup)
    given = {name: args + ["--codes", codes] for name, args in commands.items()
             if name not in ("history", "trust summary", "trust triggers", "trust report")}
    given["codes"] = ["codes", "--codes", codes, "-o", out / "codes.csv"]
    return given


CODES_COMMANDS = list(_codes_commands(Path("x"), Path("c"), Path("out"), Path("setup")))


@pytest.mark.parametrize("command", CODES_COMMANDS)
@pytest.mark.parametrize("case", list(CODE_TABLES))
def test_a_bad_code_table_through_every_command(case, command, setup, tmp_path):
    _settings_case(case, command, CODE_TABLES[case], _codes_commands, setup, tmp_path)


# -- options ----------------------------------------------------------------------------------------

OPTIONS: dict[str, tuple[str, str]] = {
    "--as-of in 2100": ("--as-of", "01/01/2100"),
    "--as-of not a date": ("--as-of", "31/02/2026"),
    "--as-of month first": ("--as-of", "09/30/2026"),
}


def _option_commands(x: Path, option: str, value: str, out: Path, setup: Path) -> dict[str, list]:
    """Each command that takes `option`, reading the good export `x`."""
    commands = _export_commands(x, out, setup)
    takes = ("summary", "triggers --record", "letters", "report", "slips", "digest", "requests", "trust summary",
             "trust triggers", "trust report")
    given: dict[str, list | Callable[[], list]] = {}
    for name in takes:
        args = commands[name]
        given[name] = (lambda args=args: args() + [option, value]) if callable(args) else args + [option, value]
    return given


OPTION_COMMANDS = list(_option_commands(Path("x"), "--as-of", "", Path("out"), Path("setup")))


@pytest.mark.parametrize("command", OPTION_COMMANDS)
@pytest.mark.parametrize("case", list(OPTIONS))
def test_a_bad_option_through_every_command(case, command, setup, tmp_path):
    option, value = OPTIONS[case]
    good = _make(tmp_path, "export.csv", _export(GOOD))
    out = tmp_path / "out"
    out.mkdir()
    args = _option_commands(good, option, value, out, setup)[command]
    code, stderr = _run(args() if callable(args) else args, tmp_path)
    _check(case, command, code, stderr, good, out)


@pytest.mark.parametrize("command", ["triggers --record", "letters"])
@pytest.mark.parametrize("value", ["nan", "-1", "soon"])
def test_a_bad_wait_through_every_recording_command(command, value, setup, tmp_path):
    good = _make(tmp_path, "export.csv", _export(GOOD))
    out = tmp_path / "out"
    out.mkdir()
    code, stderr = _run(_export_commands(good, out, setup)[command] + ["--wait", value], tmp_path)
    _check(f"--wait {value}", command, code, stderr, good, out)
