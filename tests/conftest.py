"""Shared helpers: tiny hand-built exports and a CLI runner with separate stdout and stderr."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterable
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from attendance_cli.cli import app
from attendance_cli.codes import load_code_table
from attendance_cli.ingest import IngestOptions, Tally, open_exports, tally
from attendance_cli.statistics import pupil_statistics

ARBOR_HEADER = "Student ID,Legal Surname,Legal Forename,Year Group,Registration Form,Date,Session,Mark,Minutes Late"


#: A school settings file for the commands that write to families (letters, slips).
SCHOOL = """name = "Brook Lane Primary Academy"
address = ["Brook Lane", "Newtown", "NT1 2AB"]
telephone = "01632 960123"
email = "attendance@brooklane.example.org"
signatory = "Ms J. Rivers"
signatory_role = "Attendance Lead"
"""

#: The first stage of a punctuality ladder, for policies written by the tests.
PUNCTUALITY_LETTER = """[[rule]]
id = "punctuality-letter"
kind = "count"
late = true
window = "half-term"
at_least = 3
ladder = "punctuality"
stage = 1
letter = "punctuality-1"
description = "3 late sessions this half term"
"""

def weekdays(start: dt.date, count: int) -> list[dt.date]:
    """`count` weekdays from `start` (inclusive): the school days of a hand-built register."""
    out, day = [], start
    while len(out) < count:
        if day.weekday() < 5:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def session_rows(pupil: str, start: dt.date, marks: Iterable[str], surname: str = "Smith", forename: str = "Amy",
                 year: str = "Year 3", form: str = "3A", minutes: dict[int, int] | None = None) -> list[str]:
    """Arbor long rows for one pupil: consecutive weekday sessions (AM, PM) from `start`."""
    rows, day, session = [], start, "AM"
    for index, mark in enumerate(marks):
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
        late = (minutes or {}).get(index, "")
        rows.append(f"{pupil},{surname},{forename},{year},{form},{day:%d/%m/%Y},{session},{mark},{late}")
        if session == "AM":
            session = "PM"
        else:
            session, day = "AM", day + dt.timedelta(days=1)
    return rows


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """write(name, text, encoding="utf-8") -> path of a file in a temporary folder."""

    def _write(name: str, text: str | list[str], encoding: str = "utf-8") -> Path:
        if isinstance(text, list):
            text = "\n".join(text) + "\n"
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        return path

    return _write


@pytest.fixture
def arbor(write: Callable[..., Path]) -> Callable[..., Path]:
    """arbor(name, rows) -> an Arbor long session export with the standard header."""

    def _arbor(name: str, rows: list[str]) -> Path:
        return write(name, [ARBOR_HEADER, *rows])

    return _arbor


def read(paths: list[Path], codes: str = "dfe", window=None, by=(), **options) -> Tally:
    return tally(open_exports(paths, IngestOptions(codes=load_code_table(codes), **options)), window, by)


def stats(paths: list[Path], codes: str = "dfe", window=None, **options) -> pl.DataFrame:
    return pupil_statistics(read(paths, codes, window, **options))


def pupil(frame: pl.DataFrame, pupil_id: str) -> dict:
    rows = frame.filter(pl.col("pupil_id") == pupil_id).to_dicts()
    assert len(rows) == 1, f"pupil {pupil_id} appears {len(rows)} times"
    return rows[0]


class Run:
    """Runs the CLI in-process; `.stdout`, `.stderr`, `.exit_code`, and `.csv` for CSV stdout."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str | Path):
        result = self.runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        return result


@pytest.fixture
def run() -> Run:
    return Run()


def csv_frame(text: str) -> pl.DataFrame:
    return pl.read_csv(io.StringIO(text), infer_schema=False)
