"""Rows the pass could not use: read again, on their own, to explain them.

Problem rows are rare. Each is read a second time with its text, told apart as report furniture
(blank, totals, legend, repeated header) or a reject with a reason, the column, the value, what
was expected and how to fix it. Files whose problems are only spelling (padded with spaces,
minutes written "5.0", another day-first date format) are reopened tolerantly instead.
"""

from __future__ import annotations

import polars as pl

from attendance_cli.errors import Problem
from attendance_cli.ingest.canonical import Tolerance
from attendance_cli.ingest.dates import date_format, format_date, parse_date
from attendance_cli.ingest.exports import Export
from attendance_cli.ingest.furniture import first_text, furniture_kind
from attendance_cli.ingest.reader import SourceFile, open_export

_PROBLEM_SCHEMA = {"file": pl.UInt16, "row": pl.UInt32, "slot": pl.UInt16, "status": pl.String, "column": pl.String,
                   "pupil_id": pl.String, "date_text": pl.String, "session_text": pl.String, "mark": pl.String,
                   "minutes_text": pl.String, "subcode": pl.String, "extra_text": pl.String, "furniture": pl.String,
                   "first_text": pl.String}


def empty_problem_rows() -> pl.DataFrame:
    return pl.DataFrame(schema=_PROBLEM_SCHEMA)


def read_problem_rows(export: Export, frame: pl.LazyFrame, problem_slots: pl.Series) -> pl.DataFrame:
    """Read the problem rows again with their text, and tell report furniture from rejects."""
    lookup = export.slots.lookup.select("slot", "status")
    parts = []
    for source in export.files:
        rows = frame.filter((pl.col("file") == source.index) & pl.col("slot").is_in(problem_slots.implode()))
        reason = pl.coalesce(pl.col("_reason"), pl.col("status"))
        if source.layout.shape == "grid":
            # a grid's problem is one cell, named by its date column; its furniture rows went earlier
            part = rows.select("file", "row", "slot", "pupil_id", "mark", "column", "_reason",
                               pl.col("_extra").alias("extra_text")).collect()
            parts.append(part.join(lookup, on="slot", how="left").with_columns(reason.alias("status")).drop("_reason").with_columns(
                pl.lit(None, dtype=pl.String).alias("date_text"), pl.lit(None, dtype=pl.String).alias("session_text"),
                pl.lit(None, dtype=pl.String).alias("minutes_text"), pl.lit(None, dtype=pl.String).alias("furniture"),
                pl.lit(None, dtype=pl.String).alias("subcode"), pl.col("pupil_id").alias("first_text")))
            continue
        raw_cols = [c for c in source.raw.collect_schema().names() if not c.startswith("_") and c != "row"]
        part = (rows.select("file", "row", "slot", "_reason").join(source.raw, on="row", how="left").collect()
                .join(lookup, on="slot", how="left").with_columns(reason.alias("status")).drop("_reason"))
        parts.append(_classify(source, part, raw_cols))
    return pl.concat(parts, how="diagonal_relaxed") if parts else empty_problem_rows()


def _classify(source: SourceFile, rows: pl.DataFrame, raw_cols: list[str]) -> pl.DataFrame:
    """Decide which problem rows are report furniture (blank, totals, legend, repeated header)."""
    fields = source.layout.columns.fields | source.layout.columns.extras
    order = sorted(raw_cols, key=lambda c: fields.get(c, 999))
    date_field = "date" if "date" in raw_cols else ("start_time" if "start_time" in raw_cols else None)
    date_missing = (pl.col(date_field).is_null() | (pl.col("status") == "bad_date")) if date_field else pl.lit(True)
    id_field = next((f for f in ("pupil_id", "admission_number", "upn") if f in raw_cols), None)
    id_text = pl.col(id_field).str.strip_chars().replace("", None) if id_field else pl.lit(None, dtype=pl.String)
    furniture = furniture_kind(order, source.layout.headers, id_field, date_missing)

    def text(field: str | None) -> pl.Expr:
        return pl.col(field) if field in raw_cols else pl.lit(None, dtype=pl.String)

    return rows.select(
        "file", "row", "slot", "status", id_text.alias("pupil_id"), text(date_field).alias("date_text"),
        text("session").alias("session_text"), text("mark").alias("mark"),
        text("minutes_late").alias("minutes_text"),
        (pl.col("subcode").str.strip_chars().replace("", None) if "subcode" in raw_cols else pl.lit(None, dtype=pl.String)
         ).alias("subcode"),
        (pl.col("_extra") if "_extra" in rows.columns else pl.lit(None, dtype=pl.String)).alias("extra_text"),
        furniture.alias("furniture"), first_text(order).alias("first_text"),
    )


def reopen_tolerantly(export: Export, problems: pl.DataFrame, padded_ids: set[int] | None = None) -> Export | None:
    """Reopen files whose problem rows are only padded with spaces, give minutes late as "5.0",
    or use a day-first date format the first rows did not show (exports can mix formats); and
    files (`padded_ids`) whose pupil ids are padded with spaces."""
    real = problems.filter(pl.col("furniture").is_null())
    padded_ids = padded_ids or set()
    if not real.height and not padded_ids:
        return None
    files = list(export.files)
    changed = False
    tokens = set(export.slots.tokens) | {"-"}
    from attendance_cli.ingest.headers import session_cell

    def values(part: pl.DataFrame, status: str, column: str) -> list[str]:
        return [v for v in part.filter(pl.col("status") == status)[column].unique().to_list() if v is not None]

    for index in sorted(set(real["file"].to_list()) | padded_ids):
        source = files[index]
        if source.layout.name == "canonical-parquet":
            continue
        part = real.filter(pl.col("file") == index)
        old = source.tolerance
        serials = source.encoding == "workbook"  # a workbook's dates may be serial numbers
        dates = values(part, "bad_date", "date_text")
        strip = (old.strip or index in padded_ids
                 or any(v != v.strip() and parse_date(v.strip(), serials) for v in dates)
                 or any(v.strip() in tokens or not v.strip() for v in values(part, "unknown_code", "mark"))
                 or any(session_cell(v) for v in values(part, "bad_session", "session_text"))
                 or any(not v.strip() for v in values(part, "bad_minutes", "minutes_text")))
        decimal = old.decimal_minutes or any(_whole_number(v) for v in values(part, "bad_minutes", "minutes_text"))
        formats = {date_format(v.strip(), serials) for v in dates if parse_date(v.strip(), serials)}
        # a format already in use is added too: its dates were looked up, and these spellings
        # (3/9/2025 in a file of 03/09/2025) need parsing
        formats = tuple(sorted(f for f in formats if f and f not in old.date_formats))
        new = Tolerance(strip, decimal, old.date_formats + formats)
        if new != old:
            files[index] = open_export(source.path, source.index, slots=export.slots, maps=export.options.maps,
                                       source=export.options.source, encoding=export.options.encoding,
                                       blank_means=export.options.blank_means, tolerance=new)
            changed = True
    return Export(files, export.options, export.slots, export.shape) if changed else None


def _whole_number(text: str) -> bool:
    try:
        value = float(text.strip())
    except ValueError:
        return False
    return value.is_integer() and 0 <= value < 24 * 60


REASONS = {
    "extra_fields": ("more fields than the header", "one field per column of the header",
                     "A comma inside a name or note must be inside double quotes: re-export the file or fix the line."),
    "no_pupil": ("missing pupil id", "a pupil identifier on every mark row",
                 "Fill in the pupil's identifier in the MIS and export again."),
    "bad_date": ("not a day-first date", "dd/mm/yyyy (also dd-mm-yyyy, dd/mm/yy or yyyy-mm-dd, optionally with a time)",
                 "Correct the date. Month-first dates (mm/dd/yyyy) are never accepted: export with UK date settings."),
    "bad_session": ("not a session", "AM or PM (also Morning/Afternoon, A.M./P.M.)",
                    "Correct the session, or if this is a lesson register map its period column with --map \"Header=period\"."),
    "unknown_code": ("unknown code", None,
                     "Correct the mark in the MIS, or use a code table that defines it (--codes college, or your own "
                     "table with --codes FILE; 'attendance codes' lists the active table)."),
    "bad_subcode": ("subcode does not belong to the mark", None,
                    "Correct the mark or the subcode in the MIS and export again."),
    "not_valid_on_date": ("code not valid on this date", None,
                          "Registers must use the codes in force on the day; correct the mark in the MIS."),
    "bad_minutes": ("minutes late is not a whole number", "a whole number of minutes, or blank",
                    "Correct the minutes late, or leave the cell blank."),
    "conflict": ("conflicting duplicate", "one mark per pupil per session",
                 "Remove the overlapping export, correct the mark, or pass --duplicates keep-last to let the later row win."),
}

REJECT_SCHEMA = {"file": pl.String, "line": pl.Int64, "reason": pl.String, "column": pl.String, "value": pl.String,
                  "expected": pl.String, "fix": pl.String, "pupil_id": pl.String, "date": pl.String,
                  "session": pl.String, "mark": pl.String, "_file": pl.UInt16, "_row": pl.UInt32, "_status": pl.String}


def rejects_frame(export: Export, problem_rows: pl.DataFrame, conflict_rejects: pl.DataFrame) -> pl.DataFrame:
    """One row per rejected row: where, why, the value, what was expected, how to fix it."""
    rows = []
    real = problem_rows.filter(pl.col("furniture").is_null())
    for (index, status), part in real.group_by("file", "status", maintain_order=True):
        source = export.files[index]
        reason, expected, fix = REASONS[status]
        column, value = _column_and_value(source, status, part)
        expected = expected or _expected_codes(export, status, part)
        lines = part["row"].cast(pl.Int64) + source.data_start + 1
        column_values = column if isinstance(column, pl.Series) else pl.Series([column] * part.height, dtype=pl.String)
        rows.append(pl.DataFrame({
            "file": [source.name] * part.height, "line": lines, "reason": [reason] * part.height,
            "column": column_values, "value": value, "expected": expected, "fix": [fix] * part.height,
            "pupil_id": part["pupil_id"], "date": part["date_text"], "session": part["session_text"],
            "mark": part["mark"], "_file": part["file"], "_row": part["row"], "_status": [status] * part.height,
        }, schema=REJECT_SCHEMA))
    if conflict_rejects.height:
        rows.append(conflict_rejects.select(list(REJECT_SCHEMA)))
    if not rows:
        return pl.DataFrame(schema=REJECT_SCHEMA)
    return _said_as_it_is(pl.concat(rows)).sort("file", "line")


#: The errors Excel writes in a cell whose formula failed (a workbook's error cells are read as their text).
EXCEL_ERROR = r"^#(DIV/0!|N/A|VALUE!|REF!|NAME\?|NUM!|NULL!|GETTING_DATA|SPILL!|CALC!|FIELD!|BLOCKED!|UNKNOWN!|ERROR)$"


def _said_as_it_is(rejects: pl.DataFrame) -> pl.DataFrame:
    """Reasons that say what the value is: an Excel error cell is neither a mark nor a number, and minutes
    late such as -30 or 1440 are whole numbers, outside what a day holds."""
    value = pl.col("value").fill_null("").str.strip_chars()
    excel = value.str.contains(EXCEL_ERROR)
    number = value.cast(pl.Float64, strict=False)
    out_of_day = (pl.col("_status") == "bad_minutes") & number.is_not_null() & ((number < 0) | (number >= 24 * 60))
    from attendance_cli.ingest.dates import EARLIEST, LATEST, out_of_range

    # the distinct bad dates (few), not every rejected row
    texts = rejects.filter(pl.col("_status") == "bad_date")["value"].drop_nulls().str.strip_chars().unique().to_list()
    distant = [text for text in texts if out_of_range(text)]
    far = (pl.col("_status") == "bad_date") & value.is_in(distant)
    return rejects.with_columns(
        pl.when(excel).then(pl.lit("an Excel error in the cell (its formula failed), not a value"))
        .when(out_of_day).then(pl.lit("minutes late outside 0 to 1439"))
        .when(far).then(pl.lit(f"a date outside {EARLIEST.year} to {LATEST.year}")).otherwise(pl.col("reason"))
        .alias("reason"),
        pl.when(out_of_day).then(pl.lit("a whole number of minutes from 0 to 1439 (a day has 1,440), or blank"))
        .otherwise(pl.col("expected")).alias("expected"),
        pl.when(excel).then(pl.lit("Correct the formula in the workbook (or type the value in), save it, and run again."))
        .otherwise(pl.col("fix")).alias("fix"))


def _column_and_value(source: SourceFile, status: str, part: pl.DataFrame) -> tuple[str | pl.Series, pl.Series]:
    headers = source.layout.headers
    fields = source.layout.columns.fields

    def header(field: str) -> str:
        return headers[fields[field]] if field in fields else field

    if status == "extra_fields":
        return "(past the last column)", part["extra_text"]
    if status == "no_pupil":
        return header("pupil_id" if "pupil_id" in fields else "admission_number"), part["pupil_id"]
    if status == "bad_date":
        return header("date" if "date" in fields else "start_time"), part["date_text"]
    if status == "bad_session":
        return header("session"), part["session_text"]
    if source.layout.shape == "grid" and "column" in part.columns:
        return part["column"], part["mark"]
    if status == "bad_minutes":
        return header("minutes_late"), part["minutes_text"]
    if status == "bad_subcode":
        return header("subcode"), part["subcode"]
    if "subcode" in fields and part["subcode"].is_not_null().any():
        # the code read is the subcode where one is given
        used = part["subcode"].is_not_null()
        column = pl.select(pl.when(pl.lit(used)).then(pl.lit(header("subcode"))).otherwise(pl.lit(header("mark")))).to_series()
        return column, pl.select(pl.coalesce(pl.lit(part["subcode"]), pl.lit(part["mark"]))).to_series()
    return header("mark"), part["mark"]


def _expected_codes(export: Export, status: str, part: pl.DataFrame) -> pl.Series | str:
    table = export.options.codes
    if status == "unknown_code":
        return f"a code in the {table.name!r} table: {' '.join(table.tokens)}"
    if status == "bad_subcode":
        return pl.Series([f"a subcode of the mark {(mark or '').strip()!r} (C1 or C2 with C, J1 with J, Y1 to Y7 with Y)"
                          for mark in part["mark"].to_list()], dtype=pl.String)
    notes = []
    # the code read is the subcode where one is given (C1 beside C)
    for mark in part.select(pl.coalesce("subcode", "mark")).to_series().to_list():
        code = table.any_code_for((mark or "").strip())
        if code is None or not (code.valid_until or code.valid_from):
            notes.append("a code valid on that date")
            continue
        span = (f"valid until {format_date(code.valid_until)}" if code.valid_until
                else f"valid from {format_date(code.valid_from)}")
        notes.append(f"{code.code!r} is {span}." + (f" {code.note}" if code.note else ""))
    return pl.Series(notes, dtype=pl.String)


def problems_of(export: Export, rejects: pl.DataFrame) -> list[Problem]:
    """Group rejects into Problems: one per file, reason and value."""
    problems = []
    real = rejects.filter(pl.col("_status") != "conflict")
    grouped = real.group_by("file", "reason", "column", "value", "expected", "fix", maintain_order=True).agg(
        # a grid row holds many marks: count lines, not marks
        pl.col("line").unique().sort().head(5).alias("lines"), pl.col("line").n_unique().alias("count"))
    for row in grouped.iter_rows(named=True):  # one per kind of problem, not per row
        problems.append(Problem(file=row["file"], reason=row["reason"], lines=row["lines"], column=row["column"],
                                value=row["value"] if row["value"] is not None else "", expected=row["expected"],
                                fix=row["fix"], count=row["count"]))
    return problems
