"""Open one export: encoding, header, layout, and a lazy frame of its rows in canonical form."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from attendance_cli.errors import InputError
from attendance_cli.ingest.canonical import SPARE_COLUMNS, MarkSlots, Tolerance, canonicalise, enrolment_expr
from attendance_cli.ingest.dates import detect_formats, padded, parse_date
from attendance_cli.ingest.encoding import Decoded, open_text
from attendance_cli.ingest.furniture import furniture_rows
from attendance_cli.ingest.headers import LESSON_FIELDS, SESSION_VALUES, ColumnMap, Layout, detect_layout


@dataclass
class Furniture:
    """A line that is part of the report around the data, not data."""

    line: int  # 1-based
    kind: str  # "above header", "blank row", "repeated header", "report text", "note line"


@dataclass
class SourceFile:
    """One export as opened: what it is, and its rows as a lazy canonical frame."""

    path: Path
    index: int
    encoding: str
    encoding_note: str | None
    layout: Layout
    data_start: int  # 0-based physical line of the first data row
    date_formats: list[str]
    fields: set[str]  # canonical fields present (after fall-backs)
    extras: list[str]  # extra pupil attributes (from --map)
    frame: pl.LazyFrame
    raw: pl.LazyFrame  # the text columns as read, with `row`, for explaining problems
    furniture: list[Furniture] = field(default_factory=list)  # found while opening (above header, grid rows)
    grid_rows: int = 0  # grid exports: data rows read (each holds many marks)
    tolerance: Tolerance = Tolerance()
    enrolment: bool = False  # the rows carry admission or leaving dates
    #: the first rows hold each pupil's rows together (most exports), or a grid's columns name each
    #: date and session once: the pass proves most pupils free of duplicates from that. False (rows
    #: by date, or in no order): it is planned for from the start
    grouped: bool = True
    store_info: dict | None = None  # a store written by `attendance ingest -o`: its metadata
    #: a grid's pupil columns, one row per grid row (`row`, then the fields): the checking pass takes
    #: each pupil's details from here by their last row, instead of from every mark
    grid_pupils: pl.DataFrame | None = None

    @property
    def name(self) -> str:
        return str(self.path)

    def line_of(self, row: int) -> int:
        """1-based physical line of a 0-based data row (exports have no line breaks inside cells)."""
        return self.data_start + row + 1


def check_export_file(path: Path) -> None:
    """Raise InputError unless `path` is a file with something in it: an export is read in passes,
    so a pipe or a device (which could block for ever, or give its bytes once) is refused before any read."""
    if not path.exists():
        raise InputError(f"{path}: no such file.")
    if path.is_dir():
        raise InputError(f"{path}: a folder, not an export file.", fix="Give the export files in it (folder/*.csv).")
    if not path.is_file():  # a named pipe, <(zcat ...), a device: read in passes, so it must be a file
        raise InputError(f"{path}: not a file but a pipe or a device; an export is read more than once, so it must "
                         "be a file.", fix="Save the export to a file first (zcat export.csv.gz > export.csv), and "
                                           "give that.")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty.", fix="Export the register again; the MIS wrote nothing.")


def open_export(path: Path, index: int, *, slots: MarkSlots, maps: dict[str, str], source: str | None,
                encoding: str | None, blank_means: str | None, tolerance: Tolerance = Tolerance()) -> SourceFile:
    """Open one file. Raises InputError if its encoding or layout cannot be told."""
    check_export_file(path)
    decoded = open_text(path, encoding)
    layout = detect_layout(decoded.head, maps, source, str(path))
    after_header = layout.header_line + layout.header_rows
    if after_header < len(decoded.head_lines):
        data_start = decoded.head_lines[after_header]
    else:
        data_start = decoded.head_lines[layout.header_line] + layout.header_rows
    furniture = [
        Furniture(decoded.head_lines[i] + 1, "above header") for i in range(layout.header_line)
    ]
    columns = layout.columns
    sample = decoded.head[after_header:]
    # spare columns past the header catch rows with more fields than the header (an unquoted comma);
    # as many as the longest first row needs, as Polars refuses a first row longer than the schema
    spare = max(SPARE_COLUMNS, max((len(r) for r in sample), default=0) - len(layout.headers))
    names = [f"_c{i}" for i in range(len(layout.headers))] + [f"_x{i}" for i in range(spare)]
    ragged = pl.any_horizontal([pl.col(f"_x{i}").is_not_null() for i in range(spare)]).alias("_ragged")
    extra = pl.concat_str([pl.col(f"_x{i}") for i in range(spare)], separator=",", ignore_nulls=True).alias("_extra")
    date_col = columns.fields.get("date", columns.fields.get("start_time"))
    date_values = [r[date_col] for r in sample if date_col is not None and date_col < len(r)]
    date_formats = detect_formats(date_values, serials=decoded.workbook)
    lookup = len(date_formats) == 1 and padded(date_values, date_formats[0])
    if not tolerance.strip and _padded_cells(sample, layout):
        # an exporter that pads its cells with spaces pads every row: read them stripped from the start,
        # instead of finding it out from millions of problem rows
        tolerance = replace(tolerance, strip=True)

    if layout.shape == "grid":
        raw, present, grid_furniture, grid_rows, grid_pupils = _read_grid(decoded, layout, data_start, names,
                                                                          [ragged, extra])
        furniture += grid_furniture
        date_formats = ["%Y-%m-%d"]
    else:
        raw = pl.scan_csv(
            decoded.data, has_header=False, skip_lines=data_start, schema={n: pl.String for n in names},
            row_index_name="row", quote_char='"', separator=decoded.separator, encoding="utf8", raise_if_empty=False,
            truncate_ragged_lines=True, missing_columns="insert", null_values=[""],
        )
        rename = {f"_c{i}": f for f, i in columns.fields.items()} | {f"_c{i}": f for f, i in columns.extras.items()}
        raw = raw.select("row", *[pl.col(c).alias(f) for c, f in rename.items()], ragged, extra)
        present = set(columns.fields) | set(columns.extras) | {"_ragged"}
        grid_rows, grid_pupils = 0, None
    frame = canonicalise(raw, present, file_index=index, slots=slots, date_formats=date_formats,
                         shape="lessons" if layout.shape == "lessons" else "sessions",
                         blank_means=blank_means, date_is_parsed=layout.shape == "grid", tolerance=tolerance,
                         date_lookup=lookup)
    enrol_formats = {f: detect_formats([r[columns.fields[f]] for r in sample if columns.fields[f] < len(r)], decoded.workbook)
                     for f in ("admission_date", "leaving_date") if f in columns.fields}
    enrolled = enrolment_expr(present, enrol_formats)
    frame = frame.with_columns((enrolled if enrolled is not None else pl.lit(True)).alias("enrolled"))
    fields = (present - {"_ragged"}) | {"pupil_id"}
    return SourceFile(path, index, decoded.encoding, decoded.note, layout, data_start, date_formats, fields,
                      list(columns.extras), frame, raw, furniture, grid_rows, tolerance, enrolled is not None,
                      _grouped(sample, layout) if layout.shape == "sessions" else
                      layout.shape != "grid" or _distinct_cells(layout), grid_pupils=grid_pupils)


#: The fields whose text is read as a value (an id, a date, a code, a number): padding there matters.
_VALUE_FIELDS = ("pupil_id", "admission_number", "upn", "date", "session", "mark", "minutes_late", "subcode")


def _grouped(sample: list[list[str]], layout: Layout) -> bool:
    """Whether the first data rows keep each pupil's rows together: the pupil changes at most every
    fourth row (an export by pupil runs a pupil's hundreds of rows together; one by date, or in no
    order, changes pupil on almost every row)."""
    index = next((layout.columns.fields[f] for f in ("pupil_id", "admission_number", "upn") if f in layout.columns.fields), None)
    ids = [row[index].strip() for row in sample if index is not None and index < len(row) and row[index].strip()]
    changes = sum(a != b for a, b in zip(ids, ids[1:]))
    return len(ids) < 8 or changes * 4 <= len(ids)


def _distinct_cells(layout: Layout) -> bool:
    """Whether a grid's columns name each date and session once (then a row holds no session twice)."""
    columns = layout.columns
    if columns.weekday_columns:
        return len(set(columns.weekday_columns.values())) == len(columns.weekday_columns)
    cells = [(parse_date(text), session) for text, session in columns.date_columns.values()]
    return None not in {day for day, _ in cells} and len(set(cells)) == len(cells)


def _padded_cells(sample: list[list[str]], layout: Layout) -> bool:
    """Whether the first data rows hold a value cell padded with spaces (`" /"`, `"1001 "`)."""
    columns = layout.columns
    wanted = [i for f, i in columns.fields.items() if f in _VALUE_FIELDS]
    wanted += list(columns.date_columns) + list(columns.weekday_columns)
    return any(i < len(row) and row[i] != row[i].strip() and row[i].strip() for row in sample for i in wanted)


def _read_grid(decoded: Decoded, layout: Layout, data_start: int, names: list[str], ragged: list[pl.Expr]
               ) -> tuple[pl.LazyFrame, set[str], list[Furniture], int, pl.DataFrame]:
    """A wide grid (a column per date and session) read eagerly and turned into one row per mark.

    Grid files hold one row per pupil, so they are small. Rows that are report furniture
    (blank, totals, legend) are set aside here; every other row is a pupil row.
    """
    columns = layout.columns
    # the mark cells as categories (a number each, not a string each: a 60,000-pupil year's 23 million
    # cells in 90 MB rather than 370), made text again a mark at a time as they are counted
    marks = {f"_c{i}" for i in [*columns.date_columns, *columns.weekday_columns]}
    table = pl.read_csv(
        decoded.data, has_header=False, skip_lines=data_start,
        schema={n: pl.Categorical if n in marks else pl.String for n in names},
        row_index_name="row", quote_char='"', separator=decoded.separator, encoding="utf8", raise_if_empty=False,
        truncate_ragged_lines=True, missing_columns="insert", null_values=[""],
    ).with_columns(ragged)  # `_ragged`, and `_extra`: the text past the last column
    id_col = next(columns.fields[f] for f in ("pupil_id", "admission_number", "upn") if f in columns.fields)
    text_columns = [f"_c{i}" for i in range(len(layout.headers))]
    found = furniture_rows(table, text_columns, layout.headers, f"_c{id_col}")
    furniture = [Furniture(data_start + row + 1, kind) for row, kind in found.iter_rows()]
    if furniture:  # (a copy of every cell: only when there is furniture to leave out)
        table = table.filter(~pl.col("row").is_in(found["row"].implode()))
    keep = table["row"]
    pupil_cols = _pupil_columns(columns)
    pupils = table.select("row", *pupil_cols).rename(pupil_cols)
    if columns.weekday_columns:
        return _weekly_marks(decoded, layout, data_start, table), _grid_present(columns), furniture, keep.len(), pupils
    if "mark_string" in columns.fields:
        return _string_marks(decoded, layout, data_start, table), _grid_present(columns), furniture, keep.len(), pupils
    cells = {}
    for col, (date_text, session) in columns.date_columns.items():
        parsed = parse_date(date_text)
        if parsed is None:
            raise InputError(f"{decoded.path}: grid column {layout.headers[col]!r} has a date that is not a "
                             f"day-first date ({date_text!r}).", fix="Grid dates must read dd/mm/yyyy.")
        cells[f"_c{col}"] = (parsed, session)
    # each pupil's cells in date and session order, one row each, as a long export by pupil reads:
    # the cells' category numbers, taken row by row (a row-major copy of the table's mark columns, a
    # few thousand rows at a time), make a compact table of marks (row, cell number, mark: ten
    # bytes each); the cell's date, session and column name are looked up by its number, the mark's
    # text by its category, and the pupil's columns joined by row, lazily (streamed, never copied
    # onto every mark in memory)
    import numpy as np

    order = sorted(cells, key=lambda c: (cells[c][0], cells[c][1] != "AM"))
    dates = pl.Series([cells[c][0] for c in order], dtype=pl.Date)
    sessions = pl.Series([cells[c][1] for c in order], dtype=pl.String)
    names = pl.Series([f"{cells[c][0]:%d/%m/%Y} {cells[c][1]}" for c in order], dtype=pl.String)
    texts = table.schema[order[0]].categories.to_series() if order else pl.Series([], dtype=pl.String)
    blank = np.iinfo(np.uint32).max  # an empty cell (no category)
    row_columns = table.select("row", "_ragged", "_extra", *pupil_cols).rename(pupil_cols)
    step = max(1, GRID_CELLS // max(len(order), 1))
    parts = []
    for start in range(0, max(table.height, 1), step):
        part = table.slice(start, step)
        grid = part.select(pl.col(c).to_physical().fill_null(blank) for c in order).to_numpy()
        parts.append(pl.DataFrame({
            "row": np.repeat(part["row"].to_numpy(), len(order)),
            "_cell": np.tile(np.arange(len(order), dtype=np.uint16), part.height),
            "_mark": np.ascontiguousarray(grid, dtype=np.uint32).ravel()}))
    exploded = pl.concat(parts) if parts else pl.DataFrame(schema={"row": pl.UInt32, "_cell": pl.UInt16, "_mark": pl.UInt32})
    del table, parts  # (its cells are in `exploded`)
    number = pl.col("_cell")
    mark = pl.col("_mark")
    long = (
        exploded.lazy()
        .with_columns(pl.lit(texts).gather(pl.when(mark != blank).then(mark)).alias("mark"),
                      pl.lit(dates).gather(number).alias("date"), pl.lit(sessions).gather(number).alias("session"),
                      pl.lit(names).gather(number).alias("column"))
        .join(row_columns.lazy(), on="row", how="left", maintain_order="left")
        .drop("_cell", "_mark")
    )
    return long, _grid_present(columns), furniture, keep.len(), pupils


#: grid cells (marks) turned into rows at a time
GRID_CELLS = 2_000_000


#: A grid's columns that say where its marks are (its rows' week or date, a mark string and when it
#: starts), not who the pupil is.
_ROW_MARK_FIELDS = {"week_start", "date", "session", "mark", "subcode", "minutes_late", "mark_string", "marks_from"}


def _pupil_columns(columns: ColumnMap) -> dict[str, str]:
    """A grid's pupil columns: raw name -> field."""
    cols = {f"_c{i}": f for f, i in columns.fields.items() if f not in LESSON_FIELDS and f not in _ROW_MARK_FIELDS}
    return cols | {f"_c{i}": f for f, i in columns.extras.items()}


def _grid_present(columns: ColumnMap) -> set[str]:
    return set(_pupil_columns(columns).values()) | {"date", "session", "mark", "column", "_ragged"}


_DATE_TEXT = re.compile(r"\d{1,2}[/\-.]\d{1,2}[/\-.]\d{2,4}|\d{4}-\d{2}-\d{2}")

#: Characters a SIMS mark string writes for a session with no mark.
NO_MARK = (" ", "-")


def _string_marks(decoded: Decoded, layout: Layout, data_start: int, table: pl.DataFrame) -> pl.LazyFrame:
    """Marks written as one string a row, one character a session (SIMS). A week's string holds
    Monday AM to Friday PM from the row's Week Beginning (a shorter one ends in sessions with no
    mark); other strings run over the weekdays from the row's first date (AM first, unless a Session
    column says PM). A space or `-` is a session with no mark; `#` is the closure code. A string that
    holds a code of two characters (`C1`), or a week's of more than ten, is refused: where each
    session's mark is could not be told."""
    columns = layout.columns
    week = "week_start" in columns.fields
    text = f"_c{columns.fields['mark_string']}"
    header = layout.headers[columns.fields["mark_string"]]
    _check_strings(decoded, layout, data_start, table, text, header, week)
    if week:
        base = _row_dates(decoded, layout, data_start, table, "week_start", (0,), "the date of a Monday",
                          "A week's marks need the dd/mm/yyyy of the week's Monday; correct it in the export.")
        first_pm = pl.lit(0, dtype=pl.Int64)
        strings = pl.col(text).fill_null("").str.pad_end(10)
    else:
        base = _row_dates(decoded, layout, data_start, table, "marks_from", _WEEKDAY_NUMBERS,
                          "a day-first weekday date",
                          "A mark string's first date must be the school day of its first mark, written dd/mm/yyyy.")
        first_pm = (pl.col(f"_c{columns.fields['session']}").str.strip_chars().str.to_lowercase()
                    .replace_strict(SESSION_VALUES, default=None) == "PM").fill_null(False).cast(pl.Int64) \
            if "session" in columns.fields else pl.lit(0, dtype=pl.Int64)
        strings = pl.col(text).fill_null("")
    pupil_cols = _pupil_columns(columns)
    position = pl.col("_pos") + pl.col("_first_pm")
    day = position // 2
    date = (pl.col("_base") + pl.duration(days=day)) if week else pl.col("_base").dt.add_business_days(day)
    long = (
        table.select("row", "_ragged", "_extra", *pupil_cols, base.alias("_base"), first_pm.alias("_first_pm"),
                     strings.str.split("").alias("mark"))
        .with_columns(pl.int_ranges(0, pl.col("mark").list.len(), dtype=pl.Int64).alias("_pos"))
        .explode("mark", "_pos")
        .filter(pl.col("_pos").is_not_null() & (pl.col("mark") != ""))  # (an empty string: no sessions)
        .with_columns(date.alias("date"), pl.when(position % 2 == 0).then(pl.lit("AM")).otherwise(pl.lit("PM")).alias("session"),
                      pl.when(~pl.col("mark").is_in(NO_MARK)).then(pl.col("mark")).alias("mark"))
        .with_columns(pl.format("{} ({} {})", pl.lit(header), pl.col("date").dt.strftime("%d/%m/%Y"),
                                pl.col("session")).alias("column"))
        .rename(pupil_cols)
        .drop("_base", "_first_pm", "_pos")
    )
    return long.lazy()


def _check_strings(decoded: Decoded, layout: Layout, data_start: int, table: pl.DataFrame, text: str, header: str,
                   week: bool) -> None:
    """Refuse mark strings whose characters cannot each be one session's mark: one holding a code of
    two characters (`C1`, `J1`, `Y3`: a digit), or a week's longer than its ten sessions."""
    string = pl.col(text).fill_null("")
    digit = string.str.extract(r"(\S?\d+)", 1)
    long = string.str.len_chars() > 10 if week else pl.lit(False)
    bad = table.filter(digit.is_not_null() | long).select("row", text, digit.alias("_code"))
    if not bad.height:
        return
    lines = ", ".join(str(data_start + row + 1) for row in bad["row"].head(10).to_list())
    more = f" and {bad.height - 10:,} more" if bad.height > 10 else ""
    also = f" (lines {lines}{more})" if bad.height > 1 else ""
    row, value, code = bad.row(0)
    why = (f"holds '{code}', a code written with more than one character" if code is not None
           else f"holds {len(value)} characters, and a week has ten sessions (Monday AM to Friday PM)")
    raise InputError(
        f"{decoded.path}, line {data_start + row + 1}: column '{header}' has '{value}', which {why}: a mark string "
        f"holds one character a session, so which session each mark is for cannot be told{also}.",
        fix="Export these registers one session a row (Date, Session, Mark) or as a register grid, which can hold "
            "codes such as C1, J1 and Y1 to Y7.")


def _row_dates(decoded: Decoded, layout: Layout, data_start: int, table: pl.DataFrame, field: str,
               days: tuple[int, ...], what: str, fix: str) -> pl.Expr:
    """Each row's date from the column read as `field` (day-first; each distinct text parsed once),
    which must fall on one of `days` (0 Monday ... 6 Sunday): else the first row, in file order, whose
    date does not is named, with its value ("not `what`")."""
    col = f"_c{layout.columns.fields[field]}"
    texts = table.select(col).unique()[col].to_list()
    dates = {text: parse_date(text or "") for text in texts}
    bad = [t for t, day in dates.items() if day is None or day.weekday() not in days]
    if bad:
        row, value = table.filter(pl.col(col).is_in([t for t in bad if t is not None])
                                  | pl.col(col).is_null()).select("row", col).row(0)
        header = layout.headers[layout.columns.fields[field]]
        raise InputError(f"{decoded.path}, line {data_start + row + 1}: column {header!r} has {value or ''!r}, not {what}.",
                         fix=fix)
    return pl.col(col).replace_strict(dates, return_dtype=pl.Date)


_WEEKDAY_NUMBERS = (0, 1, 2, 3, 4)


def _weekly_marks(decoded: Decoded, layout: Layout, data_start: int, table: pl.DataFrame) -> pl.LazyFrame:
    """A weekly grid's marks: each row's week from its Week Beginning column, or the whole file's from
    the one date in the title lines above the header; Monday AM is that Monday's morning. Columns
    headed AM and PM beside a Date column (SIMS) are read the same way, a row's date as its week."""
    columns = layout.columns
    if "week_start" in columns.fields:
        week = _row_dates(decoded, layout, data_start, table, "week_start", (0,), "the date of a Monday",
                          "A weekly grid's week must be the dd/mm/yyyy of its Monday; correct it in the export.")
    elif "date" in columns.fields:
        week = _row_dates(decoded, layout, data_start, table, "date", _WEEKDAY_NUMBERS, "a day-first weekday date",
                          "Each row's date must be a school day written dd/mm/yyyy; correct it in the export.")
    else:
        above = [cell for row in decoded.head[:layout.header_line] for cell in row]
        found = {parse_date(text) for cell in above for text in _DATE_TEXT.findall(cell)} - {None}
        if len(found) != 1 or next(iter(found)).weekday() != 0:
            seen = ", ".join(f"{day:%d/%m/%Y}" for day in sorted(found))
            why = ("no date above the header" if not found else f"several dates above the header ({seen})"
                   if len(found) > 1 else f"the date above the header, {seen}, is not a Monday")
            raise InputError(
                f"{decoded.path}: a weekly grid (MonAM ... FriPM), but which week it is cannot be told: {why}.",
                fix="Export it with a Week Beginning column, or with the week's Monday (dd/mm/yyyy) in the title line; "
                    "or map the column that holds it with --map \"Header=week_start\".")
        week = pl.lit(next(iter(found)), dtype=pl.Date)
    cells = {f"_c{col}": (day, session, layout.headers[col]) for col, (day, session) in columns.weekday_columns.items()}
    mapping = pl.DataFrame({"_cell": list(cells), "_day": [v[0] for v in cells.values()],
                            "session": [v[1] for v in cells.values()], "_header": [v[2] for v in cells.values()]})
    pupil_cols = _pupil_columns(columns)
    long = (
        table.with_columns(week.alias("_week"))
        .unpivot(index=["row", "_ragged", "_extra", "_week", *pupil_cols], on=list(cells), variable_name="_cell", value_name="mark")
        .with_columns(pl.col("mark").cast(pl.String))
        .join(mapping, on="_cell", how="left")
        .with_columns((pl.col("_week") + pl.duration(days=pl.col("_day"))).alias("date"))
        .with_columns(pl.format("{} ({})", pl.col("_header"), pl.col("date").dt.strftime("%d/%m/%Y")).alias("column"))
        .rename(pupil_cols)
        .drop("_cell", "_day", "_week", "_header")
        .sort("row", "date", "session")
    )
    return long.lazy()
