"""Writing result frames: CSV, JSON, Excel and Parquet, safely and all-or-nothing.

- Text cells that a spreadsheet would run as a formula (starting with `= + - @`, tab, CR or
  LF) get a leading `'` in CSV and Excel output. Numbers stay numbers.
- Files are written to a temporary name beside the target and renamed into place, so a failed
  run never leaves half a file. When the system refuses (a full disk, no permission), the error
  names the file asked for, not the temporary one.
- CSV files begin with a UTF-8 byte-order mark, without which Excel opens them in the Windows
  code page and shows `Zoë` as `ZoÃ«`. CSV on standard output has none: it goes to programs.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import glob
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import polars as pl

from attendance_cli.errors import FileSystemError, UsageError

FORMATS = ("table", "csv", "json", "xlsx", "parquet")
_BY_SUFFIX = {".csv": "csv", ".json": "json", ".xlsx": "xlsx", ".parquet": "parquet"}
_FORMULA_START = r"^[=+\-@\t\r\n]"


def choose_format(requested: str | None, path: Path | None, stdout_is_terminal: bool) -> str:
    """The format asked for, else the output file's suffix, else a table on a terminal and CSV in a pipe."""
    if requested:
        if requested not in FORMATS:
            raise UsageError(f"Unknown format {requested!r}.", fix=f"Use one of: {', '.join(FORMATS)}.")
        if requested == "table" and path is not None:  # a table is drawn for a terminal: it is never a file
            raise UsageError(f"--format table is for the terminal; {path} would get nothing.",
                             fix="Write a file as csv, json, xlsx or parquet (-o result.csv), or leave out -o.")
        return requested
    if path is not None:
        fmt = _BY_SUFFIX.get(path.suffix.lower())
        if fmt is None:
            raise UsageError(f"Cannot tell the format of {path} from its name.",
                             fix=f"Name it .csv, .json, .xlsx or .parquet, or pass --format ({', '.join(FORMATS[1:])}).")
        return fmt
    return "table" if stdout_is_terminal else "csv"


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix `'` to text cells that spreadsheets would otherwise evaluate."""
    text_columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA_START)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in text_columns
    )


#: How long a run waits for another writing the same file (two cron jobs with one -o) before it stops.
WRITE_WAIT = 60.0


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(temp_path)` and move the result to `path` only if it succeeded.

    One run writes a file at a time: it holds `.NAME.lock` beside it (removed when done), and under
    that lock removes any `.NAME.*.part` a killed run left behind (it may hold pupil data), so a
    killed run's leftovers go with the next write of the same file."""
    from attendance_cli.locks import hold

    path = Path(path)
    if path in _TEMPORARY:  # the temporary file of a write in progress (write_frame called by its writer)
        write(path)
        return
    make_folder(path.parent, path)
    lock = path.with_name(f".{path.name}.lock")
    if lock.is_dir():
        raise FileSystemError(f"cannot write {path}: a folder {lock} stands where its lock file goes.",
                              fix="Move that folder away, or write to another name.")
    # a refusal on the lock (a read-only folder) is one on the file asked for: the user never named the lock
    with writing(path, lock), hold(lock, WRITE_WAIT, str(path), by="run writing", remove_if=lambda: True):
        for stale in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
            stale.unlink(missing_ok=True)
        _write_in_place(path, write)


#: The temporary files being written now by atomic_write.
_TEMPORARY: set[Path] = set()


def _write_in_place(path: Path, write: Callable[[Path], None]) -> None:
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)
    temp_path = Path(temp)
    _TEMPORARY.add(temp_path)
    try:
        with writing(path, temp_path):
            os.chmod(temp_path, 0o666 & ~_umask())  # as any other file the user writes, not mkstemp's owner-only
            try:
                write(temp_path)
            except OSError:
                raise
            except Exception as error:  # a writer library's own error for what the system refused
                _as_os_error(error, path)
            from attendance_cli.locks import checkpoint

            checkpoint("output-written")  # the fault tests stop a run here: written, not yet in place
            if temp_path.exists():  # unless the writer put it in place itself (place())
                os.replace(temp_path, path)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    finally:
        _TEMPORARY.discard(temp_path)


def place(temp: Path, path: Path) -> None:
    """Move a file `atomic_write` gave its writer into place at `path` now, from inside the writer (a
    recording run does it inside its ledger transaction, so that what it records and what it writes
    go together)."""
    with writing(path, temp):
        os.replace(temp, path)


def _as_os_error(error: Exception, path: Path) -> None:
    """Raise the system's refusal behind a writer library's error (xlsxwriter keeps it as the error's
    cause); Polars' Parquet and Excel writers keep none, so their failure is said as one on the file."""
    seen, cause = error, None
    while seen is not None and cause is None:
        cause = seen if isinstance(seen, OSError) else None
        seen = seen.__cause__ or seen.__context__
    if cause is not None:
        raise cause from error
    if type(error).__module__.split(".")[0] in ("polars", "xlsxwriter"):
        reason = (str(error).splitlines() or [type(error).__name__])[0]
        raise FileSystemError(f"cannot write {path}: {reason}",
                              fix="Check there is room on the disk and that you may write there, then run again.") \
            from error
    raise error


@contextlib.contextmanager
def writing(path: Path, temp: Path | None = None) -> Iterator[None]:
    """An OSError while `path` is written, as a FileSystemError naming `path`: a full disk is
    reported by write(), which names no file, and a refusal on the temporary file `temp` is one on
    `path`. An error naming another file (the ledger, recorded while the file is written) keeps it."""
    try:
        yield
    except OSError as error:
        mine = error.filename is None or (temp is not None and Path(os.fsdecode(error.filename)) == temp)
        raise FileSystemError.from_os_error(error, path if mine else None, "write" if mine else None) from error


def make_folder(folder: Path, target: Path | None = None) -> list[Path]:
    """Create `folder` and its missing parents; returns the folders created, deepest first, so a
    failed run can remove them. A file standing where a folder is needed is named (the system's
    own "File exists" would not say which); `target`: the file the folder is for, to name it."""
    created = []
    for parent in (folder, *folder.parents):
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                blocked = NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(target or folder))
                raise FileSystemError.from_os_error(blocked)
            break
        created.append(parent)
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
    return created


@contextlib.contextmanager
def new_folder(folder: Path) -> Iterator[Path]:
    """`folder` made for a run's files (with missing parents); if the run fails, the folders it
    made are removed again while empty, so a failed run leaves nothing behind."""
    created = make_folder(folder)
    try:
        yield folder
    except BaseException:
        for made in created:  # deepest first; one that is not empty (or not ours to remove) stays
            try:
                made.rmdir()
            except OSError:
                break
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def to_csv_text(frame: pl.DataFrame) -> str:
    return neutralise_formulas(frame).write_csv()


def write_frame(frame: pl.DataFrame, fmt: str, path: Path | None, stream: IO[str] | None = None,
                sheet: str = "attendance", metadata: dict[str, str] | None = None,
                stamp: dict[str, object] | None = None, about: dict[str, object] | None = None,
                hidden: pl.DataFrame | None = None, totals: int = 0) -> None:
    """Write `frame` as csv, json, xlsx or parquet to `path`, or to `stream` (stdout) if no path.
    `stamp`: columns of one value each added to every row (a windowed result's window and as-of date,
    calendar.window_stamp), so that a file or a pipe says what it counted as a terminal's title does;
    a column the frame has already keeps its own values. `about`: more of what was counted (the code
    table, the source files) for a workbook's About sheet, with `stamp` and `metadata`. `hidden`: a
    boolean per figure, true where small numbers are suppressed (statistics.suppression): null in the
    frame, written `c` in CSV and Excel. `totals`: the frame's last rows are totals (the whole school's):
    in a workbook they go in bold below the table, outside its filter, so sorting never moves them."""
    stream = stream or sys.stdout
    frame = stamped(frame, stamp)
    if fmt == "csv":
        from attendance_cli.statistics.suppression import as_text

        _csv_out(as_text(frame, hidden), path, stream)
    elif fmt == "json":
        _text_out(frame.write_json() + "\n", path, stream)
    elif fmt == "xlsx":
        details = {**(stamp or {}), **(metadata or {}), **(about or {})}
        _binary_out(lambda target: _write_xlsx(frame, target, sheet, details, hidden, totals), path, stream, "xlsx")
    elif fmt == "parquet":
        _binary_out(lambda target: frame.write_parquet(target, metadata=metadata), path, stream, "parquet")
    else:
        raise UsageError(f"Format {fmt!r} cannot be written to a file.", fix="Use csv, json, xlsx or parquet.")


def stamped(frame: pl.DataFrame, stamp: dict[str, object] | None) -> pl.DataFrame:
    """`frame` with a column for each of `stamp`'s values (write_frame's `stamp`)."""
    if not stamp:
        return frame
    return frame.with_columns(pl.lit(value).alias(name) for name, value in stamp.items() if name not in frame.columns)


#: rows of a table written as CSV at a time (a large table is never held as text whole)
CSV_ROWS = 50_000


def _csv_out(frame: pl.DataFrame, path: Path | None, stream: IO[str]) -> None:
    """CSV in UTF-8 (a file with a byte-order mark, so that Excel reads it as UTF-8), written a
    slice of rows at a time."""
    def write(binary: IO[bytes]) -> None:
        for start in range(0, max(frame.height, 1), CSV_ROWS):
            binary.write(neutralise_formulas(frame.slice(start, CSV_ROWS)).write_csv(include_header=start == 0).encode())

    if path is not None:
        def to_file(temp: Path) -> None:
            with temp.open("wb") as binary:
                binary.write(codecs.BOM_UTF8)
                write(binary)

        atomic_write(path, to_file)
        return
    binary = getattr(stream, "buffer", None)
    if binary is None:  # a text stream only (a test's)
        stream.write(to_csv_text(frame))
    else:
        stream.flush()
        write(binary)
        binary.flush()


def _text_out(text: str, path: Path | None, stream: IO[str], encoding: str = "utf-8") -> None:
    if path is None:
        stream.write(text)
        stream.flush()
        return
    atomic_write(path, lambda temp: temp.write_text(text, encoding=encoding, newline=""))


def _binary_out(write: Callable[[Path], None], path: Path | None, stream: IO[str], fmt: str) -> None:
    if path is not None:
        atomic_write(path, write)
        return
    if stream.isatty():
        raise UsageError(f"{fmt} output is binary and will not be printed on a terminal.",
                         fix=f"Write it to a file with -o result.{fmt}, or pipe it.")
    with tempfile.TemporaryDirectory() as folder:
        temp = Path(folder) / f"out.{fmt}"
        write(temp)
        stream.flush()
        sys.stdout.buffer.write(temp.read_bytes())
        sys.stdout.buffer.flush()


def _write_xlsx(frame: pl.DataFrame, target: Path, sheet: str, about: dict[str, object] | None = None,
                hidden: pl.DataFrame | None = None, totals: int = 0) -> None:
    """A workbook that opens ready to read: readable headings in a styled, frozen header row with filters,
    columns as wide as their values, percentages to two decimals (numbers from 0 to 100, rounded as the
    terminal rounds them: attendance down, absence up), dates as dates, hidden figures `c`, set to print
    landscape, one page wide, the header row on every page; and an About sheet saying what was counted.
    `totals`: the last rows, written in bold below the table rather than in it."""
    import xlsxwriter

    from attendance_cli.figures import ROUNDING
    from attendance_cli.formatting import heading

    # strings are never formulas or links, whatever they start with
    workbook = xlsxwriter.Workbook(str(target), {"strings_to_formulas": False, "strings_to_urls": False})
    frame = neutralise_formulas(frame)
    percent = [c for c, dtype in frame.schema.items() if c.endswith("_pct") and dtype.is_numeric()]
    frame = frame.with_columns(_rounded(pl.col(c), ROUNDING.get(c, "nearest")).alias(c) for c in percent)
    headings: dict[str, str] = {}
    for column in frame.columns:  # a heading two columns would share keeps its column's name
        text = heading(column)
        headings[column] = text if text not in headings.values() else column
    named = frame.rename(headings)
    body = named.head(named.height - totals)
    widths = {headings[c]: _width(frame, c, headings[c]) for c in frame.columns}
    formats = {headings[c]: "0.00" for c in percent}
    formats |= {headings[c]: "#,##0" for c, dtype in frame.schema.items() if dtype.is_integer()}
    formats |= {headings[c]: "#,##0.0" for c in ("days_missed",) if c in frame.columns}
    body.write_excel(
        workbook=workbook, worksheet=sheet, header_format=HEADER_FORMAT, autofilter=True, freeze_panes=(1, 0),
        column_formats=formats or None, dtype_formats={pl.Date: "dd/mm/yyyy", pl.Datetime: "dd/mm/yyyy hh:mm"},
        column_widths={name: PIXELS * width + 5 for name, width in widths.items()}, float_precision=2,
        row_heights={0: 15 * _header_lines(widths)})
    worksheet = workbook.get_worksheet_by_name(sheet)
    if totals:
        import datetime as dt

        styles: dict[str, object] = {}
        for column, name in headings.items():  # a row or two of a few dozen columns
            style = styles.setdefault(name, workbook.add_format({"bold": True, **(
                {"num_format": formats[name]} if name in formats else
                {"num_format": "dd/mm/yyyy"} if frame.schema[column] == pl.Date else {})}))
            place = frame.columns.index(column)
            for row, value in enumerate(named[name].tail(totals).to_list(), start=body.height + 1):
                if value is None:
                    worksheet.write_blank(row, place, None, style)
                elif isinstance(value, dt.datetime):
                    worksheet.write_datetime(row, place, value, workbook.add_format(
                        {"bold": True, "num_format": "dd/mm/yyyy hh:mm"}))
                elif isinstance(value, dt.date):
                    worksheet.write_datetime(row, place, dt.datetime.combine(value, dt.time()), style)
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    worksheet.write_number(row, place, value, style)
                else:
                    worksheet.write(row, place, value, style)
    if hidden is not None:
        suppressed = workbook.add_format({"align": "right"})
        suppressed_total = workbook.add_format({"align": "right", "bold": True})
        from attendance_cli.statistics.suppression import HIDDEN

        for column in hidden.columns:  # a few columns; the hidden cells of each (a handful)
            if column in frame.columns:
                place = frame.columns.index(column)
                for row in hidden.with_row_index().filter(pl.col(column))["index"].to_list():
                    worksheet.write_string(row + 1, place, HIDDEN,
                                           suppressed_total if row >= frame.height - totals else suppressed)
    _print_setup(worksheet, landscape=True)
    worksheet.repeat_rows(0)
    _about_sheet(workbook, about or {})
    workbook.close()


#: The header row of every workbook.
HEADER_FORMAT = {"bold": True, "bg_color": "#DCE6F1", "font_color": "#000000", "bottom": 2, "text_wrap": True,
                 "valign": "top"}
#: Columns no wider than this (characters): longer text wraps in its cell.
WIDEST = 60
#: The width of a character of Excel's default font (Calibri 11), in pixels.
PIXELS = 7


def _rounded(value: pl.Expr, direction: str) -> pl.Expr:
    """A percentage rounded to two decimals as figures.rounded rounds it (down, up, nearest)."""
    scaled = value * 100
    if direction == "down":
        scaled = (scaled + 1e-9).floor()
    elif direction == "up":
        scaled = (scaled - 1e-9).ceil()
    else:
        scaled = scaled.round(0)
    return scaled / 100


def _width(frame: pl.DataFrame, column: str, heading: str) -> int:
    """A column's width in characters: its widest value (dates and percentages as shown), its heading
    wrapped to at most two lines but never narrower than its longest word, within WIDEST."""
    dtype = frame.schema[column]
    if dtype.is_temporal():
        widest = 16 if dtype == pl.Datetime else 10
    elif dtype == pl.Boolean:
        widest = 5
    elif dtype.is_float():  # shown to two decimals at most, with thousands commas
        largest = frame[column].abs().max()
        widest = len(f"{largest or 0:,.2f}")
    else:
        text = frame[column].cast(pl.String) if dtype != pl.String else frame[column]
        widest = int(text.str.len_chars().max() or 0) + (2 if dtype.is_integer() else 0)  # thousands commas
    words = heading.split()
    heading_needs = max(max(len(w) for w in words), (len(heading) + 1) // 2)
    return max(6, min(WIDEST, max(widest, heading_needs) + 2))


def _header_lines(widths: dict[str, int]) -> int:
    """How many lines the header row needs: each heading wraps in its column's width."""
    import math

    return max([math.ceil(len(text) / max(1, width - 2)) for text, width in widths.items()] or [1])


def _print_setup(worksheet, landscape: bool) -> None:
    worksheet.set_paper(9)  # A4
    if landscape:
        worksheet.set_landscape()
    worksheet.fit_to_pages(1, 0)  # one page wide, as many long as it takes
    worksheet.set_footer("&L&A&RPage &P of &N")


def _about_sheet(workbook, about: dict[str, object]) -> None:
    """The About sheet: what the figures are (window, as of, method, code table, source files), the tool
    and when it wrote them."""
    import datetime as dt

    from attendance_cli import __version__

    rows = [(ABOUT_ITEMS.get(key, key.replace("_", " ").capitalize()), value) for key, value in about.items()
            if value not in (None, "")]
    rows += [("Written by", f"attendance {__version__}"),
             ("Generated", dt.datetime.now().astimezone().strftime("%d/%m/%Y %H:%M %Z").strip())]
    seen: dict[str, object] = {}
    for item, value in rows:  # the window may come from the stamp and the metadata: said once
        seen.setdefault(item, value)
    worksheet = workbook.add_worksheet("About")
    bold = workbook.add_format({"bold": True, "valign": "top"})
    wrapped = workbook.add_format({"text_wrap": True, "valign": "top"})
    date = workbook.add_format({"num_format": "dd/mm/yyyy", "align": "left", "valign": "top"})
    worksheet.set_column(0, 0, 18)
    worksheet.set_column(1, 1, 100)
    for number, (item, value) in enumerate(seen.items()):
        worksheet.write_string(number, 0, item, bold)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            worksheet.write_datetime(number, 1, dt.datetime.combine(value, dt.time()), date)
        elif isinstance(value, (list, tuple)):
            worksheet.write_string(number, 1, "\n".join(str(v) for v in value), wrapped)
        else:
            worksheet.write_string(number, 1, str(value), wrapped)
    _print_setup(worksheet, landscape=False)


#: The About sheet's names for what write_frame is told.
ABOUT_ITEMS = {"window": "Window", "window_start": "Window start", "window_end": "Window end", "as_of": "As of",
               "unit": "Counted in", "method": "Method", "codes": "Code table", "files": "Source files",
               "policy": "Policy", "pupils": "Pupils", "marks": "Marks read"}


# -- a set of files written together (digests, per-pupil slips) -----------------------------------------

#: In a staging folder once every file of its run is written in it (the names, one a line).
COMPLETE = ".complete"


def write_together(folder: Path, files: list[tuple[str, Callable[[Path], None]]], prefix: str,
                   kill_step: str = "") -> list[str]:
    """Write `files` ((name, write(path))) into `folder` all or none: into a hidden staging folder
    (`prefix`...) first, marked complete once all are written, then moved into place; if a move fails, the
    ones moved are taken out and any they replaced put back. A run killed part-way is put right by the
    next (`recover_together`). Returns the names written."""
    import shutil

    for note in recover_together(folder, prefix):
        _note(note)
    make_folder(folder)
    with writing(folder):
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=folder))
    try:
        written = []
        for name, write in files:
            with writing(folder / name, staging / name):
                write(staging / name)
            written.append(name)
        (staging / COMPLETE).write_text("\n".join(written) + "\n", encoding="utf-8")
        kill_point(f"{kill_step}-staged")
        with writing(folder):
            _move_all(staging, folder, written, kill_step)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def recover_together(folder: Path, prefix: str) -> list[str]:
    """What a run of `write_together` stopped by a kill left in `folder`: a staging folder whose files were
    all written (it holds COMPLETE) is moved into place, so the folder holds that run's files and none of
    the run before beside them; one stopped while writing is removed, with the pupils' data in it. Notes
    for the user (no names: they go to cron logs)."""
    import shutil

    notes = []
    for staging in sorted(folder.glob(prefix + "*")) if folder.is_dir() else []:
        if not staging.is_dir():
            continue
        done = staging / COMPLETE
        if done.is_file():
            names = [n for n in done.read_text(encoding="utf-8").splitlines() if n]
            for name in names:
                if (staging / name).exists():
                    (staging / name).replace(folder / name)
            notes.append(f"Finished a run that was stopped while moving its {len(names)} files into {folder}.")
        else:
            notes.append(f"Removed {staging.name}: files of a run that was stopped before it had written them all.")
        shutil.rmtree(staging, ignore_errors=True)
    return notes


def _move_all(staging: Path, folder: Path, names: list[str], kill_step: str = "") -> None:
    """Move the staged files into `folder`, all or none: a file of an earlier run that one replaces is kept
    aside in `staging` until every move is done, and if a move fails the files moved so far are taken out
    again and the earlier ones put back."""
    moved: list[str] = []
    kept: list[str] = []
    try:
        for number, name in enumerate(names):
            if number == 1:
                kill_point(f"{kill_step}-moving")
            if (folder / name).exists():
                (folder / name).replace(staging / f".old-{name}")
                kept.append(name)
            (staging / name).replace(folder / name)
            moved.append(name)
    except BaseException:
        for name in moved:
            (folder / name).unlink(missing_ok=True)
        for name in kept:
            (staging / f".old-{name}").replace(folder / name)
        raise


def kill_point(step: str) -> None:
    """The fault tests stop a run here as a kill would (ATTENDANCE_TEST_KILL_AT)."""
    if step and os.environ.get("ATTENDANCE_TEST_KILL_AT") == step:
        os._exit(137)


def _note(text: str) -> None:
    sys.stderr.write(text + "\n")
