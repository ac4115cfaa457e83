"""The rules are evaluated a batch of pupils at a time (rules.engine.BATCH_MARKS), so that a trust's
year never has every working table in memory at once. Nothing a rule finds may depend on where
the batches fall: the same registers and the same ledger give the same events, evidence, ledger
and letters-to-be, in batches of one pupil or in one batch of the whole school; a store read a
batch at a time gives what its exports give."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import attendance_cli.rules.engine as engine
from attendance_cli.ingest.store import Store
from tests.conftest import ARBOR_HEADER, Run, csv_frame

#: 13 school weeks from Monday 1 September 2025, with the October half-term week off
DAYS = [dt.date(2025, 9, 1) + dt.timedelta(days=d) for d in range(7 * 14)
        if (dt.date(2025, 9, 1) + dt.timedelta(days=d)).weekday() < 5
        and not dt.date(2025, 10, 27) <= dt.date(2025, 9, 1) + dt.timedelta(days=d) <= dt.date(2025, 10, 31)]
SESSIONS = [(day, half) for day in DAYS for half in ("AM", "PM")]
#: mostly present; absences, lates, term-time holidays, unresolved N and closures in runs
CODES = st.sampled_from(["/", "\\", "/", "\\", "L", "N", "U", "G", "O", "I", "M", "B", "#", "X"])


@st.composite
def registers(draw) -> list[str]:
    """Rows of an Arbor export: a few pupils, each with runs of one code at a time."""
    ids = draw(st.lists(st.sampled_from([f"P{n:02d}" for n in range(1, 30)]), min_size=2, max_size=7, unique=True))
    rows = []
    for pupil in ids:
        marks: list[str] = []
        while len(marks) < len(SESSIONS):
            marks += [draw(CODES)] * draw(st.integers(1, 30))
        start = draw(st.sampled_from([0, 0, 0, 20, 61])) if rows else 0  # some join late
        for (day, half), mark in list(zip(SESSIONS, marks))[start:]:
            rows.append(f"{pupil},S{pupil},F{pupil},Year 5,5A,{day:%d/%m/%Y},{half},{mark},{'7' if mark == 'L' else ''}")
    return rows


def _ledger(path: Path) -> list[tuple]:
    """Every table's rows, with the times they were written left out."""
    def row(values: tuple) -> str:
        return repr(tuple("(time)" if isinstance(v, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z?", v) else v
                          for v in values))

    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type = 'table' order by name")]
        return [(t, sorted(map(row, db.execute(f"select * from {t}").fetchall()))) for t in tables]


def _year(folder: Path, rows: list[str], batch: int, policy: str) -> tuple[list[str], list[tuple]]:
    """Triggers recorded week by week with one ledger, then the table as of the last day."""
    register = folder / "register.csv"
    register.write_text("\n".join([ARBOR_HEADER, *rows]) + "\n", encoding="utf-8")
    db = folder / "ledger.sqlite"
    run = Run()
    outputs = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "BATCH_MARKS", batch)
        for friday in [d for d in DAYS if d.weekday() == 4][2::3]:
            result = run("triggers", register, "--policy", policy, "--as-of", f"{friday:%d/%m/%Y}", "--record",
                         "--db", db, "-f", "csv", "-q")
            assert result.exit_code == 0, result.stderr
            outputs.append(result.stdout)
        result = run("triggers", register, "--policy", policy, "--db", db, "-f", "csv", "-q")
        assert result.exit_code == 0, result.stderr
        outputs.append(result.stdout)
    return outputs, _ledger(db)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=registers(), policy=st.sampled_from(["dfe-national", "primary-academy"]))
def test_batches_of_one_pupil_find_and_record_what_the_whole_school_finds(tmp_path_factory, rows, policy):
    whole = _year(tmp_path_factory.mktemp("whole"), rows, 10**9, policy)
    batched = _year(tmp_path_factory.mktemp("batches"), rows, 1, policy)
    assert batched == whole


def test_a_store_read_a_batch_at_a_time_gives_the_exports_triggers(tmp_path, monkeypatch):
    rows = []
    for n in range(12):
        codes = ["/"] * len(SESSIONS)
        for i in range(n * 3, n * 3 + 4 * n):  # pupil n: 4n sessions of N from session 3n
            codes[i] = "N"
        rows += [f"P{n:02d},S,F,Year 5,5A,{day:%d/%m/%Y},{half},{mark},"
                 for (day, half), mark in zip(SESSIONS, codes)]
    register = tmp_path / "register.csv"
    register.write_text("\n".join([ARBOR_HEADER, *rows]) + "\n", encoding="utf-8")
    run = Run()
    assert run("ingest", register, "-o", tmp_path / "store.parquet").exit_code == 0
    monkeypatch.setattr(engine, "BATCH_MARKS", 200)  # about one pupil (122 sessions each) a batch
    reads = []
    real = Store.compact

    def counted(self, *args, **kwargs):
        reads.append(kwargs.get("pupils"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Store, "compact", counted)
    common = ["--policy", "dfe-national", "--db", tmp_path / "none.sqlite", "-f", "csv", "-q"]
    from_csv = run("triggers", register, *common)
    from_store = run("triggers", tmp_path / "store.parquet", *common)
    assert from_csv.exit_code == from_store.exit_code == 0
    assert from_store.stdout == from_csv.stdout
    found = csv_frame(from_csv.stdout)
    assert found.filter(pl.col("rule_id") == "unresolved-n")["pupil_id"].to_list() == [f"P{n:02d}" for n in range(1, 12)]
    assert reads == [(n, n) for n in range(12)]  # the store's marks were read one pupil at a time
