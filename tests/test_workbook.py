"""Registers saved as spreadsheet workbooks (.xlsx) read as the CSV export would be."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from attendance_cli.errors import InputError
from tests.conftest import ARBOR_HEADER, pupil, read, stats

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def workbook(path: Path, sheets: dict[str, list[list[object]]], date_cells: bool = True) -> Path:
    """Write rows to sheets; datetimes become date-formatted cells, other values as they are."""
    book = xlsxwriter.Workbook(str(path))
    date_format = book.add_format({"num_format": "dd/mm/yyyy"})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, dt.datetime) and date_cells:
                    sheet.write_datetime(r, c, value, date_format)
                elif value is not None:
                    sheet.write(r, c, value)
    book.close()
    return path


def test_a_register_saved_as_a_workbook_gives_the_csv_figures(tmp_path):
    # the sample week, every cell written as text: the same figures as the CSV
    csv_path = SAMPLE / "primary_arbor_2026-27_week-47.csv"
    rows = pl.read_csv(csv_path, infer_schema=False)
    book = workbook(tmp_path / "week.xlsx", {"Register": [rows.columns, *[list(r) for r in rows.iter_rows()]]})
    assert stats([book]).equals(stats([csv_path]))


def test_date_cells_serial_numbers_numbers_and_title_rows(tmp_path):
    header = ARBOR_HEADER.split(",")
    rows = [["Attendance by session"], [], header,
            ["000869", "Nowak", "Zoë", "Year 3", "3A", dt.datetime(2025, 9, 1), "AM", "L", 12],
            ["000869", "Nowak", "Zoë", "Year 3", "3A", dt.datetime(2025, 9, 1), "PM", "O", None],
            # dates kept as bare numbers: 45902 is Tuesday 02/09/2025
            ["000869", "Nowak", "Zoë", "Year 3", "3A", 45902, "AM", "/", None],
            ["000869", "Nowak", "Zoë", "Year 3", "3A", 45902, "PM", "I", None],
            [869, "O’Brien", "Siobhán", 3, "3A", "03/09/2025", "AM", "/", 0]]
    result = read([workbook(tmp_path / "register.xlsx", {"Sheet1": rows})])
    figures = pupil(stats([tmp_path / "register.xlsx"]), "000869")
    assert (figures["possible_sessions"], figures["attended_sessions"], figures["authorised_absences"],
            figures["unauthorised_absences"], figures["minutes_late"]) == (4, 2, 1, 1, 12)
    other = pupil(stats([tmp_path / "register.xlsx"]), "869")  # Excel made the id a number: no zeros to restore
    assert (other["surname"], other["year_group"], other["possible_sessions"]) == ("O’Brien", "Year 3", 1)
    report = result.report.files[0]
    assert (report.layout, report.header_line, report.above_header, report.accepted) == ("arbor-sessions", 3, 2, 5)
    assert report.encoding_note == "read from the workbook's sheet 'Sheet1'"


def test_a_bad_cell_is_named_by_its_sheet_row(tmp_path):
    header = ARBOR_HEADER.split(",")
    rows = [["Attendance by session\nAutumn term"], header,  # a title over two lines in its cell
            ["1", "Nowak\n(known as Novak)", "B", "Year 3", "3A", dt.datetime(2025, 9, 1), "AM", "/", None],
            ["1", "Nowak", "B", "Year 3", "3A", dt.datetime(2025, 9, 1), "PM", "Q9", None]]
    path = workbook(tmp_path / "bad.xlsx", {"Register": rows})
    with pytest.raises(InputError) as raised:
        read([path])
    assert f"{path}, line 4: unknown code; column 'Mark'; value 'Q9'" in raised.value.describe()


def test_a_grid_with_merged_date_headers(tmp_path):
    path = tmp_path / "grid.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Register")
    date_format = book.add_format({"num_format": "dd/mm/yyyy"})
    sheet.write_row(0, 0, ["Student ID", "Surname", "Forename"])
    for day in range(2):  # each date spans its AM and PM columns
        sheet.merge_range(0, 3 + 2 * day, 0, 4 + 2 * day, dt.datetime(2025, 9, 1 + day), date_format)
    sheet.write_row(1, 0, ["", "", "", "AM", "PM", "AM", "PM"])
    sheet.write_row(2, 0, ["1001", "Nowak", "Zoë", "/", "\\", "I", "I"])
    sheet.write_row(3, 0, ["Total", "", "", "1", "1", "0", "0"])
    book.close()
    result = read([path])
    assert result.report.files[0].layout == "arbor-grid"
    assert result.report.files[0].furniture_lines == [(4, "report text")]
    row = pupil(stats([path]), "1001")
    assert (row["possible_sessions"], row["attended_sessions"], row["authorised_absences"]) == (4, 2, 2)


def test_serial_numbers_are_dates_only_in_workbooks(write):
    path = write("serial.csv", [ARBOR_HEADER, "1,A,B,3,3A,45902,AM,/,"])
    with pytest.raises(InputError) as raised:
        read([path])
    assert "line 2: not a day-first date; column 'Date'; value '45902'" in raised.value.describe()


def test_several_sheets_with_data_are_not_guessed_between(tmp_path):
    header = ARBOR_HEADER.split(",")
    row = ["1", "A", "B", "Year 3", "3A", dt.datetime(2025, 9, 1), "AM", "/", None]
    path = workbook(tmp_path / "two.xlsx", {"Autumn": [header, row], "Notes": [["checked by HT"]], "Empty": []})
    with pytest.raises(InputError) as raised:
        read([path])
    assert raised.value.describe().splitlines()[0] == (
        f"{path}: 2 sheets hold data ('Autumn', 'Notes'); which one is the register is not guessed.")
    empty = workbook(tmp_path / "empty.xlsx", {"Sheet1": []})
    with pytest.raises(InputError, match="the workbook has no data on any sheet"):
        read([empty])


def test_a_workbook_named_csv_is_still_read_as_a_workbook(tmp_path):
    header = ARBOR_HEADER.split(",")
    path = workbook(tmp_path / "register.xlsx", {"Register": [header, ["1", "A", "B", "Year 3", "3A",
                                                                         dt.datetime(2025, 9, 1), "AM", "/", None]]})
    renamed = path.rename(tmp_path / "register.csv")
    assert pupil(stats([renamed]), "1")["possible_sessions"] == 1
