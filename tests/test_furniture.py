"""Report furniture in a wide grid is found by looking closely only at the rows that can be furniture:
the rows it finds are exactly those the rule, applied to every row, finds."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance_cli.ingest.furniture import furniture_kind, furniture_rows

HEADERS = ["Student ID", "Name", "Form", "Mon 01/09/2025", "", "Tue 02/09/2025", ""]
CELLS = [f"_c{i}" for i in range(len(HEADERS))]

#: what a cell of such a grid can hold: marks, ids, names, blanks, header names written another way,
#: and the first words of report text
cell = st.sampled_from([None, "", "  ", "/", "\\", "L", "N", "-", "AM", "PM", "1001", " 1002 ", "Nowak, Zoë", "7A",
                        "student_id", "STUDENT ID", "Form", " name ", "Mon 01/09/2025", "Total", "Totals: 12",
                        "Key: / present", "Printed 03/09/2025", "Form: 7A", "School: Brook Lane", "page 2"])


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(cell, min_size=len(HEADERS), max_size=len(HEADERS)), min_size=1, max_size=12),
       id_column=st.integers(0, 2), categories=st.booleans())
def test_the_furniture_found_is_what_the_rule_finds_on_every_row(rows, id_column, categories):
    # (a grid's mark cells are read as categories: those columns' values are looked at through them)
    marks = {c: pl.Categorical if categories and i >= 3 else pl.String for i, c in enumerate(CELLS)}
    text = pl.DataFrame({c: [r[i] for r in rows] for i, c in enumerate(CELLS)},
                        schema={c: pl.String for c in CELLS}).with_row_index("row")
    everywhere = (text.select("row", furniture_kind(CELLS, HEADERS, CELLS[id_column]).alias("kind"))
                  .filter(pl.col("kind").is_not_null()))
    table = text.with_columns(pl.col(c).cast(dtype) for c, dtype in marks.items())
    assert furniture_rows(table, CELLS, HEADERS, CELLS[id_column]).equals(everywhere)


def test_each_kind_of_furniture_is_found():
    rows = [["1001", "Nowak, Zoë", "7A", "/", "\\", "L", "/"],
            [None] * 7,  # blank row
            ["Student ID", "Name", "Form", "AM", "PM", "AM", "PM"],  # the header again (a new page)
            ["Total", None, None, "12", "11", "12", "10"],  # report text
            [None, "Printed by the MIS", None, None, None, None, None],  # report text, not under the id
            [None, None, "Please check the Y codes", None, None, None, None]]  # a note line
    table = pl.DataFrame({c: [r[i] for r in rows] for i, c in enumerate(CELLS)},
                         schema={c: pl.String for c in CELLS}).with_row_index("row")
    assert furniture_rows(table, CELLS, HEADERS, "_c0").rows() == [
        (1, "blank row"), (2, "repeated header"), (3, "report text"), (4, "report text"), (5, "note line")]
