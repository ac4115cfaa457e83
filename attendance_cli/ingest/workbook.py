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

    _check_size(path)
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
    # an Excel error (#DIV/0!, #N/A) is read by the library as an empty cell: an unmarked session, or a
    # pupil never late. Written as the error's own text, it is refused where it stands (a mark, minutes)
    for (row, column), error in _error_cells(path, name).items():
        if row < len(rows) and column < len(rows[row]):
            rows[row][column] = error
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([_text(cell) for cell in row] for row in rows)
    return out.getvalue(), name


#: The most a workbook may unpack to. A 2 MB file can unpack to gigabytes (a sheet of millions of
#: cells compresses to almost nothing); past this it is refused, before it is read.
MAX_UNPACKED = 1024 * 1024 * 1024


def _check_size(path: Path) -> None:
    import zipfile

    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return  # the reader says what is wrong with it
    if unpacked > MAX_UNPACKED:
        raise InputError(f"{path}: the workbook unpacks to {_size(unpacked)} ({_size(path.stat().st_size)} on "
                         f"disk), more than the {_size(MAX_UNPACKED)} this program reads.",
                         fix="Export the register as CSV instead, or delete the empty rows and columns the sheet "
                             "carries (Excel keeps formatting on a million rows) and save it again.")


def _size(count: int) -> str:
    for unit, scale in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count:,} bytes"


def _error_cells(path: Path, sheet: str) -> dict[tuple[int, int], str]:
    """{(row, column) from 0: the error's text} for the cells of an .xlsx/.xlsm sheet that hold an Excel
    error (`t="e"`). Other kinds of workbook are not looked into."""
    import re
    import zipfile
    from xml.etree.ElementTree import iterparse

    if not zipfile.is_zipfile(path):
        return {}
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "xl/workbook.xml" not in names:
                return {}
            book = {e.get("name"): e.get(rel) for _, e in iterparse(archive.open("xl/workbook.xml"))
                    if e.tag == f"{main}sheet"}
            targets = {e.get("Id"): e.get("Target") for _, e in iterparse(archive.open("xl/_rels/workbook.xml.rels"))
                       if e.tag.endswith("Relationship")}
            target = targets.get(book.get(sheet) or "", "")
            member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            if member not in names:
                return {}
            data = archive.read(member)
            if b't="e"' not in data:  # most sheets: no error cell, and no XML parsed here
                return {}
            found: dict[tuple[int, int], str] = {}
            for _, element in iterparse(io.BytesIO(data)):
                if element.tag == f"{main}c":
                    if element.get("t") == "e":
                        ref = re.fullmatch(r"([A-Z]+)(\d+)", element.get("r") or "")
                        value = element.find(f"{main}v")
                        if ref:
                            column = 0
                            for letter in ref[1]:
                                column = column * 26 + ord(letter) - 64
                            found[(int(ref[2]) - 1, column - 1)] = value.text if value is not None and value.text \
                                else "#ERROR"
                    element.clear()
            return found
    except (zipfile.BadZipFile, KeyError, OSError, SyntaxError):
        return {}


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
