"""Small numbers suppressed as the DfE's statistics do it (statistics.suppression), the whole-school row of
a grouped summary, and workbooks that open ready to read (read back with openpyxl)."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import openpyxl
import pytest
from hypothesis import given, settings, strategies as st

from attendance_cli.statistics.suppression import SMALL, checked, suppress
from tests.conftest import csv_frame, session_rows

COLUMNS = ("pupils", "possible_sessions", "unauthorised_absences", "minutes_late", "persistent_absence_pupils",
           "severe_absence_pupils")


def _values(rows, total, hidden, column, below):
    """Every value each hidden cell of `column` can take, found by trying every assignment: the hidden
    cells add up to the total less the shown cells; a listed group has a pupil and a possible session;
    PA and SA pupils are at most the group's pupils where those are shown."""
    cells = [i for i in range(len(rows)) if column in hidden[i]]
    rest = total[column] - sum(rows[i][column] for i in range(len(rows)) if column not in hidden[i])
    least = 1 if column in ("pupils", "possible_sessions") else 0
    caps = [rows[i]["pupils"] if column in SMALL and "pupils" not in hidden[i] else rest for i in cells]
    found = {i: set() for i in cells}
    for guess in itertools.product(*[range(least, cap + 1) for cap in caps]):
        if sum(guess) == rest:
            for i, value in zip(cells, guess):
                found[i].add(value)
    return found


groups = st.integers(1, 9).flatmap(lambda pupils: st.tuples(
    st.just(pupils), st.integers(pupils, 2 * pupils), st.integers(0, 4), st.integers(0, 3),
    st.integers(0, pupils)).flatmap(lambda t: st.integers(0, t[4]).map(lambda sa: dict(zip(COLUMNS, (*t, sa))))))


@settings(max_examples=300, deadline=None)
@given(st.lists(groups, min_size=1, max_size=4), st.integers(1, 6))
def test_no_hidden_cell_can_be_worked_out_from_the_shown_cells_and_the_total(rows, below):
    total = {c: sum(r[c] for r in rows) for c in COLUMNS}
    hidden, total_hidden = suppress(rows, total, below, COLUMNS)
    for i, row in enumerate(rows):  # primary: every small group, and every small PA or SA count
        if row["pupils"] < below:
            assert hidden[i] == set(checked(COLUMNS))
        for column in SMALL:
            if 0 < row[column] < below:
                assert column in hidden[i]
    if total["pupils"] < below:
        assert total_hidden == set(checked(COLUMNS))
    for column in COLUMNS:
        if column in total_hidden or total[column] == 0:  # a total of 0 says every group's is 0: nothing hidden
            continue
        for i, values in _values(rows, total, hidden, column, below).items():
            assert len(values) > 1, (column, i, rows, hidden)


def test_the_headline_subtraction_of_the_issue_is_closed():
    """Ethnicity groups of 1, 8 and 9 pupils under 5: the 1 is hidden, and the shown groups' pupils and PA
    counts would sum to the headline's, so a second group goes too."""
    rows = [{"pupils": 1, "persistent_absence_pupils": 0, "severe_absence_pupils": 0},
            {"pupils": 8, "persistent_absence_pupils": 5, "severe_absence_pupils": 0},
            {"pupils": 9, "persistent_absence_pupils": 6, "severe_absence_pupils": 0}]
    total = {"pupils": 18, "persistent_absence_pupils": 11, "severe_absence_pupils": 0}
    hidden, total_hidden = suppress(rows, total, 5, total_shown=True)
    assert "pupils" in hidden[0] and "pupils" in hidden[1] and not hidden[2] and not total_hidden


# -- summary --by: the whole school, suppression in every format ------------------------------------------------

DAYS = [dt.date(2026, 9, 7) + dt.timedelta(days=d) for d in range(5)]


@pytest.fixture
def forms(arbor):
    """Two weeks. Form A: 6 pupils, one absent throughout (PA); form B: 2 pupils, one ill a session; form C:
    5 pupils, one absent a session unauthorised."""
    rows = []
    for number in range(13):
        form = "A" if number < 6 else "B" if number < 8 else "C"
        marks = ["N"] * 20 if number == 0 else ["/", "\\"] * 10
        if number in (6, 12):
            marks[3] = "I" if number == 6 else "N"
        rows += session_rows(f"P{number:02d}", DAYS[0], marks, surname=f"S{number}", form=form)
    return arbor("forms.csv", rows)


def test_a_grouped_summary_ends_with_the_whole_school(run, forms):
    table = csv_frame(run("summary", forms, "--by", "form", "-f", "csv", "-q").stdout)
    assert table.select("form", "pupils", "possible_sessions", "persistent_absence_pupils").rows() == [
        ("A", "6", "120", "1"), ("B", "2", "40", "0"), ("C", "5", "100", "0"), ("All pupils", "13", "260", "1")]
    assert float(table["attendance_pct"][-1]) == 238 * 100 / 260  # from summed sessions


def test_suppressed_cells_read_c_in_csv_xlsx_and_the_table_and_null_in_json(run, forms, tmp_path):
    table = csv_frame(run("summary", forms, "--by", "form", "--suppress-below", "5", "-f", "csv", "-q").stdout)
    # B (2 pupils) is hidden; then B's pupils would be 13 - 6 - 5: C, the smallest shown, goes too...
    rows = {r["form"]: r for r in table.iter_rows(named=True)}
    assert [r["pupils"] for r in rows.values()] == ["6", "c", "c", "13"]
    assert set(rows["B"].values()) == {"B", "c", rows["B"]["window"], *[rows["B"][k] for k in ("window_start", "window_end", "as_of")]}
    # ...A's single PA pupil (1 to 4) is hidden with its percentage, and the school's (fewer than 5 too)
    assert rows["A"]["persistent_absence_pupils"] == "c" and rows["A"]["persistent_absence_pct"] == "c"
    assert rows["All pupils"]["persistent_absence_pupils"] == "c" and rows["A"]["attendance_pct"] != "c"
    data = json.loads(run("summary", forms, "--by", "form", "--suppress-below", "5", "-f", "json", "-q").stdout)
    assert [r["pupils"] for r in data] == [None if rows[r["form"]]["pupils"] == "c" else int(rows[r["form"]]["pupils"])
                                           for r in data]
    out = tmp_path / "forms.xlsx"
    assert run("summary", forms, "--by", "form", "--suppress-below", "5", "-o", out, "-q").exit_code == 0
    sheet = openpyxl.load_workbook(out)["summary"]
    shown = [[c.value for c in row] for row in sheet.iter_rows(min_row=2, max_col=2)]
    assert shown == [[r["form"], r["pupils"] if r["pupils"] == "c" else int(r["pupils"])] for r in rows.values()]
    about = dict(openpyxl.load_workbook(out)["About"].iter_rows(values_only=True))
    assert "Small numbers are suppressed ('c'): groups of fewer than 5 pupils" in about["Method"]
    terminal = run("summary", forms, "--by", "form", "--suppress-below", "5", "-f", "table", "-q").stdout
    assert "│ B          │      c │" in terminal and "│ All pupils │     13 │" in terminal


def test_suppress_below_needs_groups_and_a_blank_group_column_is_refused(run, forms, arbor):
    alone = run("summary", forms, "--suppress-below", "5", "-q")
    assert alone.exit_code == 2 and "--suppress-below is for tables of groups" in alone.stderr
    blank = arbor("blank.csv", session_rows("P1", DAYS[0], ["/"] * 4, year=""))
    result = run("summary", blank, "--by", "year_group", "-q")
    assert result.exit_code == 2
    assert "--by year_group: every pupil's year_group is blank in these exports (1 pupils)" in result.stderr
    assert "--map 'Column name=year_group'" in result.stderr


def test_a_workbook_opens_ready_to_read(run, forms, tmp_path):
    out = tmp_path / "forms.xlsx"
    assert run("summary", forms, "--by", "form", "-o", out, "-q").exit_code == 0
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["summary", "About"]
    sheet = book["summary"]
    headings = [c.value for c in sheet[1]]
    assert headings[:3] == ["Form", "Pupils", "Possible sessions"]
    assert "Attendance %" in headings and "Persistent absence %" in headings and "As of" in headings
    assert sheet["A1"].font.b and sheet["A1"].fill.fgColor.rgb == "FFDCE6F1"
    assert sheet.freeze_panes == "A2"
    (table,) = sheet.tables.values()
    assert table.autoFilter.ref == f"A1:{openpyxl.utils.get_column_letter(len(headings))}5"
    column = {h: openpyxl.utils.get_column_letter(i + 1) for i, h in enumerate(headings)}
    attendance = sheet[f"{column['Attendance %']}5"]
    assert attendance.value == 91.53 and attendance.number_format == "0.00"  # 238/260 = 91.538..., rounded down
    assert sheet[f"{column['Pupils']}5"].number_format == "#,##0"
    as_of = sheet[f"{column['As of']}2"]
    assert as_of.value == dt.datetime(2026, 9, 18) and as_of.number_format == "dd/mm/yyyy"
    assert sheet.column_dimensions[column["Window"]].width > 30  # as wide as its text
    assert sheet.page_setup.orientation == "landscape" and sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet.page_setup.fitToHeight == 0 and sheet.page_setup.fitToWidth in (None, 1)  # one page wide
    assert sheet.print_title_rows == "$1:$1"  # the header row on every printed page
    about = dict(book["About"].iter_rows(values_only=True))
    assert about["Window"].startswith("school year 2026/27")
    assert about["As of"] == dt.datetime(2026, 9, 18)
    assert about["Code table"] == "dfe" and about["Source files"].endswith("forms.csv")
    assert about["Method"].startswith("DfE method: attendance %") and "\"All pupils\", is the whole school" in about["Method"]
    assert about["Written by"].startswith("attendance ") and about["Generated"][:10].count("/") == 2
