"""Row order never changes a figure: an export by pupil, by date or shuffled gives the same summary,
the same latest details, the same duplicates collapsed and the same conflicts.

Exports not kept by pupil are read on their own plan (each pupil's latest details found in the pass;
no session twice proven from a sorted hash per session): these tests hold both plans to the same
answers."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attendance_cli.errors import InputError
from attendance_cli.ingest.reader import _grouped
from tests.conftest import ARBOR_HEADER, read, session_rows, weekdays
from attendance_cli.statistics import pupil_statistics

MARKS = ["/", "\\", "L", "I", "O", "M", "#"]


def register(rng: random.Random, pupils: int, days: int) -> list[str]:
    """Rows by pupil: each pupil in 4A, moving to 4B part way through (or not), with a mix of marks."""
    rows = []
    for p in range(pupils):
        marks = [rng.choice(MARKS) for _ in range(days * 2)]
        switch = rng.randrange(days * 2 + 1)
        pupil = session_rows(f"P{p:03d}", dt.date(2025, 9, 1), marks, form="4A")
        rows += pupil[:switch] + [row.replace(",4A,", ",4B,") for row in pupil[switch:]]
    return rows


def day_first(row: str) -> str:
    date = row.split(",")[5]
    return date[6:] + date[3:5] + date[:2]


def figures(rows: list[str], write, name: str, grouped: bool = True):
    result = read([write(name, [ARBOR_HEADER, *rows])])
    assert result.export.files[0].grouped is grouped  # the plan meant for this order
    return pupil_statistics(result).sort("pupil_id"), result.report


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), pupils=st.integers(9, 30), days=st.integers(2, 8), copies=st.integers(0, 5))
def test_any_row_order_gives_the_same_figures_details_and_collapsed_copies(write, seed, pupils, days, copies):
    rng = random.Random(seed)
    rows = register(rng, pupils, days)
    rows += [rng.choice(rows) for _ in range(copies)]  # identical copies of some rows, anywhere
    by_pupil = sorted(rows, key=lambda r: r.split(",")[0])
    expected, report = figures(by_pupil, write, f"p{seed}.csv")
    by_date = sorted(rows, key=lambda r: (day_first(r), r.split(",")[6], r))
    shuffled = rows[:]
    rng.shuffle(shuffled)
    assert report.duplicates_collapsed == len(rows) - len(set(rows))
    for name, order in (("date", by_date), ("shuffled", shuffled)):
        got, got_report = figures(order, write, f"{name}{seed}.csv", grouped=False)
        assert got.equals(expected), name
        assert got_report.duplicates_collapsed == report.duplicates_collapsed, name


def test_an_export_by_date_is_read_on_the_plan_for_rows_not_kept_by_pupil():
    by_pupil = [["P1", "x"]] * 30 + [["P2", "x"]] * 30
    by_date = [[f"P{i % 12}", "x"] for i in range(60)]

    class Layout:  # only the columns _grouped looks at
        class columns:
            fields = {"pupil_id": 0}

    assert _grouped(by_pupil, Layout) is True
    assert _grouped(by_date, Layout) is False


def test_a_conflict_in_an_export_by_date_is_still_an_error(write):
    rows = register(random.Random(1), 20, 3)
    rows.sort(key=lambda r: (day_first(r), r.split(",")[6], r))  # by date
    line = rows[5].split(",")
    line[7] = "O" if line[7] != "O" else "/"
    rows.append(",".join(line))  # the same session with another mark
    with pytest.raises(InputError) as raised:
        read([write("conflict.csv", [ARBOR_HEADER, *rows])])
    assert f"conflicting duplicate: pupil {line[0]} on {line[5]} {line[6]}" in raised.value.describe()


def test_an_export_by_date_streamed_is_checked_for_duplicates_from_its_session_numbers(write, monkeypatch, tmp_path):
    # a large export by date: the pass writes each row's session number aside, every pupil is checked
    # from them, a conflict is still found, a copy still collapses, and the numbers' file is removed
    import tempfile

    from attendance_cli.ingest import validate

    monkeypatch.setattr(validate, "STREAMING_BYTES", 0)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    rows = register(random.Random(2), 20, 3)
    rows.sort(key=lambda r: (day_first(r), r.split(",")[6], r))
    copied = [*rows, rows[7]]  # an identical copy
    result = read([write("copy.csv", [ARBOR_HEADER, *copied])])
    assert result.report.duplicates_collapsed == 1
    assert result.report.marks == len(rows)
    line = rows[5].split(",")
    line[7] = "O" if line[7] != "O" else "/"
    with pytest.raises(InputError) as raised:
        read([write("conflict.csv", [ARBOR_HEADER, *rows, ",".join(line)])])
    assert f"conflicting duplicate: pupil {line[0]} on {line[5]} {line[6]}" in raised.value.describe()
    assert not list((tmp_path / "tmp").glob("attendance-*"))
