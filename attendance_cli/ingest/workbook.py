"""Excel and OpenDocument workbooks read as the CSV text the same export would have been.

MIS reports are often downloaded as `.xlsx`, or a CSV is opened in Excel and saved as a
workbook. The register sheet is turned into CSV text, one line per sheet row, so every later
stage (header and layout detection, furniture, line numbers in messages, the checks) is the one
CSV exports get, and "line 12" in a message is row 12 of the sheet.

- Cells formatted as dates are written `dd/mm/yyyy` (with the time, if it has one); dates stored
  as bare numbers (Excel serial numbers such as 45903) are read as dates only in a date column
  (`dates.EXCEL_SERIAL`), never guessed elsewhere.
- Whole numbers are written without a decimal point (`5`, not `5.0`); an identifier Excel
  turned into a number has already lost any leading zeros, which cannot be recovered.
- A line break inside a cell becomes a space, so sheet rows and lines stay one to one.
- Only one sheet may hold data: with several, which one is the register is not guessed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

from attendance_cli.errors import InputError

#: The first bytes of a zip (xlsx, xlsm, ods) and of an OLE compound file (xls).
_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")


def is_workbook(path: Path, head: bytes) -> bool:
    """True for a workbook, whatever its name says (a workbook renamed .csv is still one)."""
    return head.startswith(_MAGIC) or path.suffix.lower() in SUFFIXES


def workbook_text(path: Path) -> tuple[str, str]:
    """(CSV text of the sheet that holds data, the sheet's name)."""
    from python_calamine import CalamineError, CalamineWorkbook, PasswordError, XmlError, ZipError

    try:
        book = CalamineWorkbook.from_path(str(path))
        sheets = [(name, book.get_sheet_by_name(name).to_python(skip_empty_area=False)) for name in book.sheet_names]
    except (CalamineError, PasswordError, XmlError, ZipError, ValueError, OSError) as exc:
        raise InputError(f"{path}: looks like a spreadsheet workbook but could not be read ({exc}).",
                         fix="Open it in Excel and save it again, or export the register from the MIS as CSV.") from None
    filled = [(name, rows) for name, rows in sheets if any(cell != "" for row in rows for cell in row)]
    if not filled:
        raise InputError(f"{path}: the workbook has no data on any sheet.",
                         fix="Export the register again; the MIS wrote an empty workbook.")
    if len(filled) > 1:
        names = ", ".join(repr(name) for name, _ in filled)
        raise InputError(f"{path}: {len(filled)} sheets hold data ({names}); which one is the register is not guessed.",
                         fix="Delete the other sheets, or save the register sheet alone as CSV (Excel's 'CSV UTF-8' saves "
                             "only the sheet on screen).")
    name, rows = filled[0]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([_text(cell) for cell in row] for row in rows)
    return out.getvalue(), name


def _text(cell: object) -> str:
    """A cell as the text a CSV export would hold."""
    if isinstance(cell, str):
        return cell.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    if isinstance(cell, bool):  # before int: True is an int
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, dt.datetime):
        return cell.strftime("%d/%m/%Y %H:%M") if cell.time() != dt.time() else cell.strftime("%d/%m/%Y")
    if isinstance(cell, dt.date):
        return cell.strftime("%d/%m/%Y")
    if isinstance(cell, dt.time):
        return cell.strftime("%H:%M")
    if isinstance(cell, dt.timedelta):  # a duration cell, e.g. minutes late kept as a time
        return str(round(cell.total_seconds() / 60))
    return str(cell)
