"""Check every row and count the marks, in one pass over the data.

The pass is a single streaming group-by over (file, pupil, slot, scope): a row's *slot* says
which code it holds (read with the meaning the code had on that date) or why it cannot be used
(`canonical.STATUSES`), and its *scope* says whether it falls inside the requested window and the
pupil's enrolment. From the groups come, at once:

- the accounting of every row (accepted, rejected with a reason, or report furniture);
- the mark counts that the statistics are computed from;
- a proof that no session appears twice: rows of a (file, pupil) that are contiguous and in
  strictly increasing date/session order cannot contain a duplicate. Only pupils without that
  proof (unsorted exports, overlapping files, lesson registers) are checked row by row.

Rows with problems are rare; they are read a second time, on their own, to explain them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from attendance_cli.errors import InputError, Problem
from attendance_cli.ingest.canonical import SESSION, Tolerance
from attendance_cli.ingest.dates import date_format, format_date, parse_date
from attendance_cli.ingest.exports import Export
from attendance_cli.ingest.furniture import first_text, furniture_kind
from attendance_cli.ingest.reader import SourceFile, open_export

SCOPE_COUNTED, SCOPE_OUTSIDE_WINDOW, SCOPE_NOT_ENROLLED = 0, 1, 2
SCOPE_OUTSIDE_COHORT, SCOPE_AGE_UNKNOWN = 3, 4  # only when the DfE cohort is counted


@dataclass(frozen=True)
class Window:
    """A span of dates to count (inclusive). `None` on either side means open. `dfe_cohort`: count
    only the pupils and sessions of the DfE's national statistics (`cohort.py`)."""

    start: dt.date | None
    end: dt.date | None
    label: str = "all dates in the data"
    dfe_cohort: bool = False

    def expr(self, column: str = "date") -> pl.Expr:
        start = pl.lit(self.start or dt.date.min)
        end = pl.lit(self.end or dt.date.max)
        return pl.col(column).is_between(start, end)

    def describe(self) -> str:
        return self._dates() + ("; DfE cohort (compulsory school age)" if self.dfe_cohort else "")

    def _dates(self) -> str:
        if self.start is None and self.end is None:
            return self.label
        if self.start is None:
            return f"{self.label}: up to {format_date(self.end)}"
        if self.end is None:
            return f"{self.label}: from {format_date(self.start)}"
        return f"{self.label}: {format_date(self.start)} to {format_date(self.end)}"


@dataclass
class FileReport:
    """What happened to one file."""

    path: str
    encoding: str
    encoding_note: str | None
    layout: str
    header_line: int  # 1-based
    header_rows: int
    columns: dict[str, str]  # field -> header
    ignored_columns: list[str]
    unknown_columns: list[str]
    rows: int = 0  # data rows read below the header (grid: pupil rows)
    accepted: int = 0
    rejected: int = 0
    furniture: int = 0  # below the header
    above_header: int = 0
    marks: int = 0  # marks read (equals rows except for grids)
    marks_rejected: int = 0
    duplicates_collapsed: int = 0
    unmarked: int = 0
    first_date: dt.date | None = None
    last_date: dt.date | None = None
    furniture_lines: list[tuple[int, str]] = field(default_factory=list)

    @property
    def total_lines(self) -> int:
        return self.above_header + self.header_rows + self.rows

    @property
    def balanced(self) -> bool:
        return self.accepted + self.rejected + self.furniture == self.rows


@dataclass
class ValidationReport:
    """The validation report of one or more exports."""

    files: list[FileReport]
    codes_table: str
    window: str
    pupils: int = 0
    marks: int = 0
    first_date: dt.date | None = None
    last_date: dt.date | None = None
    code_counts: pl.DataFrame | None = None  # code, meaning, category, marks
    unmarked: int = 0
    unmarked_in_window: int = 0
    rejects: pl.DataFrame | None = None
    duplicates_collapsed: int = 0
    conflicts_resolved: int = 0
    outside_cohort: int = 0  # with --cohort dfe: pupils none of whose marks count (outside the ages)
    age_unknown: int = 0  # ... or with no date of birth or year group that says an age

    @property
    def rejected(self) -> int:
        return sum(f.rejected + f.marks_rejected for f in self.files)

    @property
    def furniture(self) -> int:
        return sum(f.furniture + f.above_header for f in self.files)


@dataclass
class Tally:
    """Result of the pass: report, pupils and mark counts, all consistent with each other."""

    export: Export
    window: Window | None
    by_marks: list[str]
    report: ValidationReport
    counts: pl.DataFrame  # pupil_id, *by_marks, code, category, late, closure, scope, sessions, minutes_late
    pupils: pl.DataFrame  # pupil_id, then pupil attributes as text
    excluded: pl.DataFrame  # file, row, date, session: accepted marks that are not used (collapsed duplicates)
    unmarked: pl.DataFrame  # pupil_id, *by_marks, scope, sessions
    # where each pupil's rows start (file, row, pupil_id), when every pupil's rows in every file are
    # together: a second pass can then tell the pupil from the row number without reading the ids
    runs: pl.DataFrame | None = None

    def rows_checked(self) -> pl.LazyFrame:
        """The exports' canonical rows for a second pass. A file in which the pass found no problem
        row (nothing rejected, no report furniture) gets its slots the cheap way, without the checks
        it has already passed."""
        frames = []
        for source, report in zip(self.export.files, self.report.files):
            clean = report.rejected + report.marks_rejected + report.furniture == 0
            frames.append(source.frame.with_columns(pl.col("_checked_slot").alias("slot")) if clean else source.frame)
        return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")

    def marks(self) -> pl.LazyFrame:
        """The accepted, de-duplicated marks with their code and category (lazy)."""
        lookup = self.export.slots.lookup.filter(pl.col("status") == "ok").select(
            "slot", "code", "category", "late", "closure").lazy()
        rows = self.rows_checked().join(lookup, on="slot", how="inner")
        if self.excluded.height:
            # a grid's row holds many marks: its date and session say which one
            keys = ["file", "row", "date", "session"]
            rows = rows.join(self.excluded.select(keys).lazy(), on=keys, how="anti", nulls_equal=True)
        return rows


# -- the pass ------------------------------------------------------------------------------------


def tally(export: Export, window: Window | None = None, by: Sequence[str] = (),
          attributes: Sequence[str] | None = None) -> Tally:
    """Validate every row of the exports and count marks per pupil (and per `by` mark column).

    `attributes`: the pupil columns to keep (default: every one the exports have).
    """
    for _ in range(2):
        try:
            return _tally(export, window, by, attributes)
        except _Reopened as reopened:
            export = reopened.export
    return _tally(export, window, by, attributes)


class _Reopened(Exception):
    """Raised when some files must be read again with more tolerant parsing."""

    def __init__(self, export: Export):
        self.export = export


def _scoped(export: Export, window: Window | None, files: Sequence[SourceFile] | None = None) -> pl.LazyFrame:
    files = list(export.files if files is None else files)
    enrolment = any(f.enrolment for f in files)
    if window is None and not enrolment:
        scope = pl.lit(SCOPE_COUNTED, dtype=pl.UInt8)
    else:
        in_window = window.expr() if window else pl.lit(True)
        scope = (pl.when(~in_window).then(SCOPE_OUTSIDE_WINDOW)
                 .when(~pl.col("enrolled")).then(SCOPE_NOT_ENROLLED)
                 .otherwise(SCOPE_COUNTED).cast(pl.UInt8))
    rows = Export.rows_of(files).with_columns(scope.alias("scope"))
    if window is not None and window.dfe_cohort:
        from attendance_cli.cohort import period

        # which school year, and whether in its sixth half term: marks are counted per period, and
        # each pupil's periods are kept or left out by their age once the pass is done
        rows = rows.with_columns(period(pl.col("date")).alias(COHORT_PERIOD))
    return rows


COHORT_PERIOD = "_cohort_period"


def _check_cohort_ages(export: Export) -> None:
    """The DfE cohort needs each pupil's age: from a date of birth, or else a year group."""
    if not {"date_of_birth", "year_group"} & set(export.attributes):
        raise InputError("The exports have no date of birth or year group, so the DfE cohort (pupils of compulsory "
                         "school age) cannot be told.",
                         fix="Export the Date of Birth or Year Group column too (or name yours with --map "
                             "\"Header=date_of_birth\"), or leave out --cohort dfe.")


def _fold_cohort(counts: pl.DataFrame, unmarked: pl.DataFrame, per_file: pl.DataFrame, attrs: list[str],
                 by_marks: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Leave out the periods of pupils outside the DfE cohort (scope), then drop the period."""
    from attendance_cli.cohort import ages, in_cohort_period

    present = [a for a in ("date_of_birth", "year_group") if a in attrs]
    latest = per_file.filter(pl.col("accepted")).sort("last_date", "file").group_by("pupil_id").agg(
        *[pl.col(a).drop_nulls().last() for a in present],
        # the day a year group was exported as of: the last marks of the latest export that gives one
        pl.col("last_date").filter(pl.col("year_group").is_not_null()).last() if "year_group" in present
        else pl.col("last_date").last())
    age = ages(latest)

    def fold(frame: pl.DataFrame, keys: list[str], sums: list[str]) -> pl.DataFrame:
        known = frame.join(age, on="pupil_id", how="left")
        scope = (pl.when(pl.col("scope") != SCOPE_COUNTED).then(pl.col("scope"))
                 .when(pl.col("_cohort_year").is_null()).then(pl.lit(SCOPE_AGE_UNKNOWN))
                 .when(~in_cohort_period(pl.col(COHORT_PERIOD), pl.col("_cohort_year"))).then(pl.lit(SCOPE_OUTSIDE_COHORT))
                 .otherwise(pl.col("scope")).cast(pl.UInt8))
        return (known.with_columns(scope.alias("scope")).group_by(*keys, "scope", maintain_order=True)
                .agg(*[pl.col(c).sum() for c in sums]))

    code_columns = ["code", "category", "late", "closure"]
    counts = fold(counts, ["pupil_id", *by_marks, *code_columns], ["sessions", "minutes_late"])
    unmarked = fold(unmarked, ["pupil_id", *by_marks], ["sessions"])
    return counts, unmarked


def _left_out_of_cohort(counts: pl.DataFrame, unmarked: pl.DataFrame) -> tuple[int, int]:
    """Pupils with marks, none of them counted in the DfE cohort: (outside its ages, age unknown)."""
    marks = pl.concat([counts.select("pupil_id", "scope", "sessions"), unmarked.select("pupil_id", "scope", "sessions")],
                      how="vertical_relaxed")
    per_pupil = marks.filter(pl.col("sessions") > 0).group_by("pupil_id").agg(
        (pl.col("scope") == SCOPE_COUNTED).any().alias("counted"), (pl.col("scope") == SCOPE_AGE_UNKNOWN).any().alias("unknown"),
        (pl.col("scope") == SCOPE_OUTSIDE_COHORT).any().alias("outside"))
    left_out = per_pupil.filter(~pl.col("counted"))
    return left_out.filter(pl.col("outside")).height, left_out.filter(pl.col("unknown") & ~pl.col("outside")).height


def _tally(export: Export, window: Window | None, by: Sequence[str], wanted: Sequence[str] | None) -> Tally:
    cohort = window is not None and window.dfe_cohort
    if cohort:
        _check_cohort_ages(export)
    slots = export.slots
    by_marks = [b for b in by if b in export.mark_fields or b == "session"]
    keys = [*by_marks, COHORT_PERIOD] if cohort else by_marks  # what marks are counted by, besides pupil and code
    attrs = export.attributes
    if wanted is not None:
        names = {"surname", "forename"} & set(wanted)
        age_columns = {"date_of_birth", "year_group"} if cohort else set()
        attrs = [a for a in attrs if a in wanted or a in age_columns or (a == "full_name" and names)]
    frame = _scoped(export, window)
    # a "descent" is a row whose date and session are not after the previous row's
    descent_row = pl.when(pl.col("key") <= pl.col("key").shift(1)).then(pl.col("row"))
    groups_plan = frame.with_columns(descent_row.alias("_descent_row")).group_by(
        "file", "pupil_id", "slot", "scope", *keys).agg(
        pl.len().alias("n"),
        pl.col("minutes_late").sum().alias("minutes"),
        pl.col("date").min().alias("first_date"),
        pl.col("date").max().alias("last_date"),
        pl.col("row").min().alias("row_min"),
        pl.col("row").max().alias("row_max"),
        pl.col("_descent_row").count().alias("descents"),
        pl.col("_descent_row").min().alias("descent_row"),
        *[pl.col(a).first() for a in attrs],
    )
    groups = _collect(groups_plan, export)
    groups = groups.join(slots.lookup.select("slot", "status"), on="slot", how="left")
    per_file = _per_file(groups, attrs)

    problem_slots = slots.lookup.filter(pl.col("status").is_in(["problem", "not_valid_on_date"]))["slot"]
    problem_rows = _empty_problem_rows()
    # pupil ids padded with spaces (" 1001") would make another pupil than "1001" in the next export
    padded_ids = set(per_file.filter(pl.col("pupil_id") != pl.col("pupil_id").str.strip_chars())["file"].to_list())
    has_problems = groups.filter(pl.col("slot").is_in(problem_slots.implode())).height > 0
    if has_problems:
        problem_rows = _problem_rows(export, frame, problem_slots)
    if has_problems or padded_ids:
        reopened = _reopen_tolerantly(export, problem_rows, padded_ids)
        if reopened is not None:
            raise _Reopened(reopened)

    excluded, conflicts, conflict_rejects = _duplicates(export, window, per_file, keys)
    rejects = _rejects(export, problem_rows, conflict_rejects)
    problems = _problems(export, rejects) + conflicts
    if problems and not export.options.lenient:
        total = rejects.height + sum(p.count for p in conflicts)
        fix = ("Correct the rows in the MIS and export again, or pass --lenient to set them aside in a "
               "rejects file and carry on.")
        codes = export.options.codes
        if export.shape == "lessons" and codes.register_type == "session":
            fix = (f"These are lesson registers, read with the {codes.name!r} session codes; lesson codes are set by "
                   "each institution: pass --codes college, or your own table with --codes FILE. Otherwise: " + fix)
        raise InputError(f"{total:,} row{'s' if total != 1 else ''} could not be used; nothing was written.",
                         problems=problems, fix=fix)

    if excluded.height:
        removed = excluded.group_by("file", "pupil_id", "slot", "scope", *keys).agg(
            pl.len().alias("_n"), pl.col("minutes_late").sum().alias("_m"))
        groups = (groups.join(removed, on=["file", "pupil_id", "slot", "scope", *keys], how="left",
                              nulls_equal=True)
                  .with_columns((pl.col("n") - pl.col("_n").fill_null(0)).alias("n"),
                                (pl.col("minutes").fill_null(0) - pl.col("_m").fill_null(0)).alias("minutes"))
                  .drop("_n", "_m"))

    counts = _counts(groups, export, keys)
    unmarked_slot = slots.status("unmarked")
    unmarked = (groups.filter(pl.col("slot") == unmarked_slot)
                .group_by("pupil_id", *keys, "scope").agg(pl.col("n").sum().alias("sessions")))
    if cohort:
        counts, unmarked = _fold_cohort(counts, unmarked, per_file, attrs, by_marks)
    pupils = _pupils(per_file, attrs, len(export.files))
    report = _report(export, window, groups, rejects, problem_rows, excluded, counts, unmarked, pupils)
    if cohort:
        report.outside_cohort, report.age_unknown = _left_out_of_cohort(counts, unmarked)
    contiguous = per_file.select((pl.col("row_max") - pl.col("row_min") + 1 == pl.col("rows")).all()).item()
    runs = per_file.select("file", pl.col("row_min").alias("row"), "pupil_id").sort("file", "row") if contiguous else None
    return Tally(export, window, by_marks, report, counts, pupils, excluded.select("file", "row", "date", "session"),
                 unmarked, runs)


#: Inputs larger than this are streamed (bounded memory); smaller ones run faster in memory.
STREAMING_BYTES = 64 * 1024 * 1024


def _engine(export: Export) -> str:
    size = sum(f.path.stat().st_size for f in export.files)
    return "streaming" if size > STREAMING_BYTES else "in-memory"


def _collect(plan: pl.LazyFrame, export: Export) -> pl.DataFrame:
    try:
        return plan.collect(engine=_engine(export))
    except pl.exceptions.ComputeError as exc:
        raise _explain_read_error(export, exc) from None


def _explain_read_error(export: Export, exc: Exception) -> InputError:
    """Polars refused a file outright (only bytes that are not UTF-8 do this): say which file."""
    first_line = str(exc).splitlines()[0]
    for source in export.files:
        try:
            source.raw.select(pl.len()).collect(engine="streaming")
        except pl.exceptions.ComputeError:
            if "utf-8" in str(exc).lower():
                return InputError(
                    f"{source.name}: the file starts as UTF-8 but later contains bytes that are not UTF-8.",
                    fix="Re-export it from the MIS, or pass the encoding it was saved with, e.g. --encoding cp1252.",
                )
            return InputError(f"{source.name}: could not be read as CSV ({first_line}).")
    return InputError(f"The exports could not be read ({first_line}).")


# -- problem rows ----------------------------------------------------------------------------------

_PROBLEM_SCHEMA = {"file": pl.UInt16, "row": pl.UInt32, "slot": pl.UInt16, "status": pl.String, "column": pl.String,
                   "pupil_id": pl.String, "date_text": pl.String, "session_text": pl.String, "mark": pl.String,
                   "minutes_text": pl.String, "furniture": pl.String, "first_text": pl.String}


def _empty_problem_rows() -> pl.DataFrame:
    return pl.DataFrame(schema=_PROBLEM_SCHEMA)


def _problem_rows(export: Export, frame: pl.LazyFrame, problem_slots: pl.Series) -> pl.DataFrame:
    """Read the problem rows again with their text, and tell report furniture from rejects."""
    lookup = export.slots.lookup.select("slot", "status")
    parts = []
    for source in export.files:
        rows = frame.filter((pl.col("file") == source.index) & pl.col("slot").is_in(problem_slots.implode()))
        reason = pl.coalesce(pl.col("_reason"), pl.col("status"))
        if source.layout.shape == "grid":
            # a grid's problem is one cell, named by its date column; its furniture rows went earlier
            part = rows.select("file", "row", "slot", "pupil_id", "mark", "column", "_reason").collect()
            parts.append(part.join(lookup, on="slot", how="left").with_columns(reason.alias("status")).drop("_reason").with_columns(
                pl.lit(None, dtype=pl.String).alias("date_text"), pl.lit(None, dtype=pl.String).alias("session_text"),
                pl.lit(None, dtype=pl.String).alias("minutes_text"), pl.lit(None, dtype=pl.String).alias("furniture"),
                pl.col("pupil_id").alias("first_text")))
            continue
        raw_cols = [c for c in source.raw.collect_schema().names() if not c.startswith("_") and c != "row"]
        part = (rows.select("file", "row", "slot", "_reason").join(source.raw, on="row", how="left").collect()
                .join(lookup, on="slot", how="left").with_columns(reason.alias("status")).drop("_reason"))
        parts.append(_classify(source, part, raw_cols))
    return pl.concat(parts, how="diagonal_relaxed") if parts else _empty_problem_rows()


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
        text("minutes_late").alias("minutes_text"), furniture.alias("furniture"), first_text(order).alias("first_text"),
    )


def _reopen_tolerantly(export: Export, problems: pl.DataFrame, padded_ids: set[int] | None = None) -> Export | None:
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
        strip = old.strip or index in padded_ids or any(v.strip() in tokens for v in values(part, "unknown_code", "mark")) or any(
            session_cell(v) for v in values(part, "bad_session", "session_text"))
        decimal = old.decimal_minutes or any(_whole_number(v) for v in values(part, "bad_minutes", "minutes_text"))
        serials = source.encoding == "workbook"  # a workbook's dates may be serial numbers
        formats = {date_format(v, serials) for v in values(part, "bad_date", "date_text") if parse_date(v, serials)}
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


_REASONS = {
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
    "not_valid_on_date": ("code not valid on this date", None,
                          "Registers must use the codes in force on the day; correct the mark in the MIS."),
    "bad_minutes": ("minutes late is not a whole number", "a whole number of minutes, or blank",
                    "Correct the minutes late, or leave the cell blank."),
    "conflict": ("conflicting duplicate", "one mark per pupil per session",
                 "Remove the overlapping export, correct the mark, or pass --duplicates keep-last to let the later row win."),
}

_REJECT_SCHEMA = {"file": pl.String, "line": pl.Int64, "reason": pl.String, "column": pl.String, "value": pl.String,
                  "expected": pl.String, "fix": pl.String, "pupil_id": pl.String, "date": pl.String,
                  "session": pl.String, "mark": pl.String, "_file": pl.UInt16, "_row": pl.UInt32, "_status": pl.String}


def _rejects(export: Export, problem_rows: pl.DataFrame, conflict_rejects: pl.DataFrame) -> pl.DataFrame:
    """One row per rejected row: where, why, the value, what was expected, how to fix it."""
    rows = []
    real = problem_rows.filter(pl.col("furniture").is_null())
    for (index, status), part in real.group_by("file", "status", maintain_order=True):
        source = export.files[index]
        reason, expected, fix = _REASONS[status]
        column, value = _column_and_value(source, status, part)
        expected = expected or _expected_codes(export, status, part)
        lines = part["row"].cast(pl.Int64) + source.data_start + 1
        column_values = column if isinstance(column, pl.Series) else pl.Series([column] * part.height, dtype=pl.String)
        rows.append(pl.DataFrame({
            "file": [source.name] * part.height, "line": lines, "reason": [reason] * part.height,
            "column": column_values, "value": value, "expected": expected, "fix": [fix] * part.height,
            "pupil_id": part["pupil_id"], "date": part["date_text"], "session": part["session_text"],
            "mark": part["mark"], "_file": part["file"], "_row": part["row"], "_status": [status] * part.height,
        }, schema=_REJECT_SCHEMA))
    if conflict_rejects.height:
        rows.append(conflict_rejects.select(list(_REJECT_SCHEMA)))
    if not rows:
        return pl.DataFrame(schema=_REJECT_SCHEMA)
    return pl.concat(rows).sort("file", "line")


def _column_and_value(source: SourceFile, status: str, part: pl.DataFrame) -> tuple[str | pl.Series, pl.Series]:
    headers = source.layout.headers
    fields = source.layout.columns.fields

    def header(field: str) -> str:
        return headers[fields[field]] if field in fields else field

    if source.layout.shape == "grid" and "column" in part.columns:
        return part["column"], part["mark"]
    if status == "extra_fields":
        return "(past the last column)", part["first_text"]
    if status == "no_pupil":
        return header("pupil_id" if "pupil_id" in fields else "admission_number"), part["pupil_id"]
    if status == "bad_date":
        return header("date" if "date" in fields else "start_time"), part["date_text"]
    if status == "bad_session":
        return header("session"), part["session_text"]
    if status == "bad_minutes":
        return header("minutes_late"), part["minutes_text"]
    return header("mark"), part["mark"]


def _expected_codes(export: Export, status: str, part: pl.DataFrame) -> pl.Series | str:
    table = export.options.codes
    if status == "unknown_code":
        return f"a code in the {table.name!r} table: {' '.join(table.tokens)}"
    notes = []
    for mark in part["mark"].to_list():
        code = table.any_code_for((mark or "").strip())
        if code is None:
            notes.append("a code valid on that date")
            continue
        span = (f"valid until {format_date(code.valid_until)}" if code.valid_until
                else f"valid from {format_date(code.valid_from)}")
        notes.append(f"{code.code!r} is {span}." + (f" {code.note}" if code.note else ""))
    return pl.Series(notes, dtype=pl.String)


def _problems(export: Export, rejects: pl.DataFrame) -> list[Problem]:
    """Group rejects into Problems: one per file, reason and value."""
    problems = []
    real = rejects.filter(pl.col("_status") != "conflict")
    grouped = real.group_by("file", "reason", "column", "value", "expected", "fix", maintain_order=True).agg(
        pl.col("line").sort().head(5).alias("lines"), pl.len().alias("count"))
    for row in grouped.iter_rows(named=True):  # one per kind of problem, not per row
        problems.append(Problem(file=row["file"], reason=row["reason"], lines=row["lines"], column=row["column"],
                                value=row["value"] if row["value"] is not None else "", expected=row["expected"],
                                fix=row["fix"], count=row["count"]))
    return problems


# -- duplicates ----------------------------------------------------------------------------------


def _per_file(groups: pl.DataFrame, attrs: list[str]) -> pl.DataFrame:
    """One row per (file, pupil): rows, the uniqueness evidence, dates of usable marks, attributes."""
    usable = pl.col("status").is_in(["ok", "unmarked"])
    return groups.with_columns(usable.alias("_usable")).group_by("file", "pupil_id").agg(
        pl.col("n").sum().alias("rows"), pl.col("row_min").min(), pl.col("row_max").max(),
        pl.col("descents").sum(), pl.col("descent_row").min(),
        (~pl.col("_usable")).any().alias("has_problem"), pl.col("_usable").any().alias("accepted"),
        pl.col("first_date").filter(pl.col("_usable")).min(), pl.col("last_date").filter(pl.col("_usable")).max(),
        *[pl.col(a).first() for a in attrs],  # the same in every group of a (file, pupil)
    )


def _duplicates(export: Export, window: Window | None, per_file: pl.DataFrame, by_marks: list[str]
                ) -> tuple[pl.DataFrame, list[Problem], pl.DataFrame]:
    """Find sessions that appear more than once.

    Returns the rows to leave out (identical copies, unmarked copies of a marked session, and
    with keep-last the earlier side of a conflict), the conflicts as problems (error mode), and
    conflicting rows as rejects (error mode with --lenient).
    """
    slots = export.slots
    proven = (
        (pl.col("row_max") - pl.col("row_min") + 1 == pl.col("rows"))
        & ((pl.col("descents") == 0) | ((pl.col("descents") == 1) & (pl.col("descent_row") == pl.col("row_min"))))
        & ~pl.col("has_problem")
    ) if export.shape == "sessions" else pl.lit(False)
    per_file = per_file.with_columns(proven.alias("proven"))
    # files that share a date for the same pupil may hold the same session twice
    overlapping = pl.Series([], dtype=pl.String) if len(export.files) == 1 or export.shape != "sessions" else (
        per_file.filter(pl.col("first_date").is_not_null()).sort("pupil_id", "first_date")
        .with_columns((pl.col("first_date") <= pl.col("last_date").cum_max().shift(1).over("pupil_id")).alias("_overlap"))
        .group_by("pupil_id").agg(pl.col("_overlap").any())
        .filter(pl.col("_overlap"))["pupil_id"]
    )
    suspect = per_file.filter(~pl.col("proven") | pl.col("pupil_id").is_in(overlapping.implode()))
    suspects = suspect["pupil_id"].unique()
    suspect_files = [export.files[i] for i in sorted(suspect["file"].unique().to_list())]
    empty_excluded = pl.DataFrame(schema={"file": pl.UInt16, "row": pl.UInt32, "date": pl.Date, "session": SESSION,
                                          "pupil_id": pl.String,
                                          "slot": pl.UInt16, "scope": pl.UInt8, "minutes_late": pl.Int32,
                                          **{b: pl.Int32 if b == COHORT_PERIOD else pl.String for b in by_marks}})
    if suspects.is_empty():
        return empty_excluded, [], pl.DataFrame(schema=_REJECT_SCHEMA)

    if export.shape == "sessions":
        key = ["pupil_id", "date", "session"]
    elif any("event_id" in f.fields for f in export.files):
        key = ["pupil_id", "date", "event_id"]
    else:
        present = set().union(*(f.fields for f in export.files))
        key = ["pupil_id", "date", *[c for c in ("start_time", "period", "group_code", "subject") if c in present]]
    unmarked = slots.status("unmarked")
    ok_slots = slots.lookup.filter(pl.col("status") == "ok")["slot"]
    rows = (
        _scoped(export, window, suspect_files).filter(pl.col("pupil_id").is_in(suspects.implode())
                     & (pl.col("slot").is_in(ok_slots.implode()) | (pl.col("slot") == unmarked)))
        .select("file", "row", *list(dict.fromkeys([*key, "date", "session", "slot", "scope", "minutes_late", "mark",
                                                    *by_marks])))
        .collect(engine="streaming")
    )
    rows = rows.with_columns(
        (pl.col("file").cast(pl.UInt64) * (1 << 32) + pl.col("row").cast(pl.UInt64)).alias("_order"),
        (pl.col("slot") != unmarked).alias("_marked"),
    )
    dup = rows.filter(pl.len().over(key) > 1)
    if dup.is_empty():
        return empty_excluded, [], pl.DataFrame(schema=_REJECT_SCHEMA)
    keep_last = export.options.duplicates == "keep-last"
    # copies agree if they hold the same code and do not give different minutes late (a grid has
    # no minutes, so its copy of an L agrees with a long export's L with minutes)
    marked = pl.col("_marked")
    summary = dup.group_by(key).agg(
        (pl.col("slot").filter(marked).n_unique() + (pl.col("minutes_late").filter(marked).drop_nulls().n_unique() > 1)
         ).alias("_variants"),
        pl.col("_order").filter(marked).min().alias("_first_marked"),
        pl.col("_order").filter(marked).max().alias("_last_marked"),
        pl.col("_order").filter(marked & pl.col("minutes_late").is_not_null()).min().alias("_first_with_minutes"),
        pl.col("_order").min().alias("_first"),
    )
    dup = dup.join(summary, on=key, how="left", nulls_equal=True)
    conflict = pl.col("_variants") > 1
    keep = (pl.when(conflict & pl.lit(keep_last)).then(pl.col("_last_marked"))
            .otherwise(pl.coalesce(pl.col("_first_with_minutes"), pl.col("_first_marked"), pl.col("_first"))))
    dup = dup.with_columns(keep.alias("_keep"))
    lenient = export.options.lenient
    # error mode: a conflict is reported; with --lenient every marked row of it is rejected instead
    conflicted = dup.filter(conflict & ~pl.lit(keep_last))
    problems: list[Problem] = []
    conflict_rejects = pl.DataFrame(schema=_REJECT_SCHEMA)
    if conflicted.height:
        if lenient:
            conflict_rejects = _conflict_rejects(export, conflicted.filter(pl.col("_marked")))
        else:
            problems = _conflict_problems(export, conflicted.filter(pl.col("_marked")), key)
    excluded = dup.filter((pl.col("_order") != pl.col("_keep")) & ~(conflict & ~pl.lit(keep_last)))
    if lenient and conflicted.height:
        excluded = pl.concat([excluded, conflicted.filter(pl.col("_marked"))], how="diagonal_relaxed")
    return excluded.select(empty_excluded.columns).cast(empty_excluded.schema), problems, conflict_rejects


def _describe_session(row: dict) -> str:
    when = format_date(row["date"])
    if row.get("session"):
        return f"{when} {row['session']}"
    extra = " ".join(str(row[c]) for c in ("start_time", "period", "event_id", "group_code", "subject") if row.get(c))
    return f"{when} {extra}".strip()


def _conflict_problems(export: Export, conflicted: pl.DataFrame, key: list[str]) -> list[Problem]:
    problems = []
    reason, expected, fix = _REASONS["conflict"]
    for _, part in conflicted.sort("_order").group_by(key, maintain_order=True):
        items = part.to_dicts()
        first = items[0]
        places = [f"{export.files[r['file']].path.name} line {export.files[r['file']].line_of(r['row'])} "
                  f"has {r['mark']!r}" for r in items]
        problems.append(Problem(
            file=str(export.files[first["file"]].path),
            reason=f"{reason}: pupil {first['pupil_id']} on {_describe_session(first)}: " + "; ".join(places),
            lines=[export.files[r["file"]].line_of(r["row"]) for r in items], expected=expected, fix=fix,
            count=len(items),
        ))
    return problems


def _conflict_rejects(export: Export, conflicted: pl.DataFrame) -> pl.DataFrame:
    reason, expected, fix = _REASONS["conflict"]
    session = pl.col("session").cast(pl.String) if "session" in conflicted.columns else pl.lit(None, dtype=pl.String)
    return (conflicted.sort("_order").join(export.file_info(), on="file", how="left").select(
        pl.col("file_name").alias("file"), (pl.col("row").cast(pl.Int64) + pl.col("data_start") + 1).alias("line"),
        pl.lit(reason).alias("reason"), pl.col("mark_header").alias("column"), pl.col("mark").alias("value"),
        pl.lit(expected).alias("expected"), pl.lit(fix).alias("fix"), "pupil_id",
        pl.col("date").dt.strftime("%d/%m/%Y").alias("date"), session.alias("session"), "mark",
        pl.col("file").alias("_file"), pl.col("row").alias("_row"), pl.lit("conflict").alias("_status"),
    ).cast(_REJECT_SCHEMA))


# -- results -------------------------------------------------------------------------------------


def _counts(groups: pl.DataFrame, export: Export, by_marks: list[str]) -> pl.DataFrame:
    lookup = export.slots.lookup.filter(pl.col("status") == "ok").select("slot", "code", "category", "late", "closure")
    counted = groups.filter(pl.col("status") == "ok")
    if len(export.files) > 1 or export.slots.n_eras > 1:
        # one row per pupil and code: several files, or a code's spellings and eras, fold together
        counted = (counted.join(lookup.select("slot", "code"), on="slot")
                   .group_by("pupil_id", *by_marks, "code", "scope")
                   .agg(pl.col("slot").first(), pl.col("n").sum(), pl.col("minutes").sum()))
    return (counted.select("pupil_id", *by_marks, "slot", "scope", pl.col("n").cast(pl.Int64).alias("sessions"),
                           pl.col("minutes").cast(pl.Int64).alias("minutes_late"))
            .filter(pl.col("sessions") > 0)
            .join(lookup, on="slot").drop("slot"))


def _pupils(per_file: pl.DataFrame, attrs: list[str], files: int) -> pl.DataFrame:
    """One row per pupil with an accepted row; each attribute from the export with the latest marks
    that gives it (a warehouse export without names does not blank the names earlier ones gave)."""
    accepted = per_file.filter(pl.col("accepted"))
    if files > 1:
        accepted = accepted.sort("last_date", "file").group_by("pupil_id", maintain_order=True).agg(
            pl.col(a).drop_nulls().last() for a in attrs)
    return _tidy_pupils(accepted.select("pupil_id", *attrs)).sort("pupil_id")


def _tidy_pupils(pupils: pl.DataFrame) -> pl.DataFrame:
    """Names split from a full-name column, year groups written one way ("Year 10", "Reception")."""
    out = pupils
    if "full_name" in out.columns:
        name = pl.col("full_name").str.strip_chars()
        comma = name.str.contains(",")
        surname = pl.when(comma).then(name.str.split(",").list.first().str.strip_chars()).otherwise(name)
        forename = pl.when(comma).then(name.str.split_exact(",", 1).struct.field("field_1").str.strip_chars())
        if "surname" not in out.columns:
            out = out.with_columns(surname.alias("surname"))
        else:
            out = out.with_columns(pl.coalesce("surname", surname).alias("surname"))
        if "forename" not in out.columns:
            out = out.with_columns(forename.alias("forename"))
        else:
            out = out.with_columns(pl.coalesce("forename", forename).alias("forename"))
        out = out.drop("full_name")
    for column in ("surname", "forename", "year_group", "form"):
        if column not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    year = pl.col("year_group").str.strip_chars()
    digits = year.str.extract(r"^(?i:year|yr|y|nc\s*year)?\s*(\d{1,2})$", 1)
    reception = year.str.contains(r"^(?i:r|yr|rec|reception)$")
    out = out.with_columns(
        pl.when(digits.is_not_null()).then(pl.lit("Year ") + digits.cast(pl.Int32).cast(pl.String))
        .when(reception).then(pl.lit("Reception")).otherwise(year).alias("year_group"))
    first = ["pupil_id", "upn", "admission_number", "surname", "forename", "year_group", "form"]
    return out.select([c for c in first if c in out.columns] + [c for c in out.columns if c not in first])


def _report(export: Export, window: Window | None, groups: pl.DataFrame, rejects: pl.DataFrame,
            problem_rows: pl.DataFrame, excluded: pl.DataFrame, counts: pl.DataFrame, unmarked: pl.DataFrame,
            pupils: pl.DataFrame) -> ValidationReport:
    files = []
    furniture_rows = problem_rows.filter(pl.col("furniture").is_not_null())
    # rows left out because they repeat a session; conflicting rows rejected by --lenient are rejects
    collapsed = excluded.join(rejects.select(pl.col("_file").alias("file"), pl.col("_row").alias("row")),
                              on=["file", "row"], how="anti")
    for source in export.files:
        mine = groups.filter(pl.col("file") == source.index)
        layout = source.layout
        columns = {f: layout.headers[i] for f, i in layout.columns.fields.items()}
        columns |= {f: layout.headers[i] for f, i in layout.columns.extras.items()}
        report = FileReport(str(source.path), source.encoding, source.encoding_note, layout.name,
                            layout.header_line + 1 if layout.header_rows else 0, layout.header_rows, columns,
                            layout.columns.ignored, layout.columns.unknown)
        marks = int(mine["n"].sum() or 0) + int(excluded.filter(pl.col("file") == source.index).height)
        furniture = furniture_rows.filter(pl.col("file") == source.index)
        rejected = rejects.filter(pl.col("_file") == source.index).height
        report.above_header = sum(1 for f in source.furniture if f.kind == "above header")
        report.furniture_lines = [(f.line, f.kind) for f in source.furniture if f.kind != "above header"]
        report.furniture_lines += [(source.line_of(r), k) for r, k in furniture.select("row", "furniture").iter_rows()]
        report.furniture_lines.sort()
        report.duplicates_collapsed = collapsed.filter(pl.col("file") == source.index).height
        accepted_groups = mine.filter(pl.col("status").is_in(["ok", "unmarked"]))
        report.unmarked = int(mine.filter(pl.col("status") == "unmarked")["n"].sum() or 0)
        if accepted_groups.height:
            report.first_date = accepted_groups["first_date"].min()
            report.last_date = accepted_groups["last_date"].max()
        if layout.shape == "grid":
            grid_furniture = sum(1 for f in source.furniture if f.kind != "above header")
            report.rows = source.grid_rows + grid_furniture
            report.furniture = grid_furniture
            report.accepted = source.grid_rows
            report.marks = marks
            report.marks_rejected = rejected
        else:
            report.rows = marks
            report.marks = marks
            report.furniture = furniture.height
            report.rejected = rejected
            report.accepted = marks - report.furniture - rejected
        files.append(report)
    code_counts = (counts.group_by("code", "category").agg(pl.col("sessions").sum().alias("marks"))
                   .join(_meanings(export), on="code", how="left")
                   .select("code", "meaning", "category", "marks").sort("marks", "code", descending=[True, False]))
    accepted = groups.filter(pl.col("status").is_in(["ok", "unmarked"]))
    return ValidationReport(
        files=files, codes_table=export.options.codes.name,
        window=window.describe() if window else "all dates in the data",
        # pupils with at least one mark still counted (with --lenient all of a pupil's rows may be set aside)
        pupils=pl.concat([counts["pupil_id"], unmarked.filter(pl.col("sessions") > 0)["pupil_id"]]).n_unique(),
        marks=int(counts["sessions"].sum() or 0),
        first_date=accepted["first_date"].min() if accepted.height else None,
        last_date=accepted["last_date"].max() if accepted.height else None,
        code_counts=code_counts,
        unmarked=int(unmarked["sessions"].sum() or 0),
        unmarked_in_window=int(unmarked.filter(pl.col("scope") == SCOPE_COUNTED)["sessions"].sum() or 0),
        rejects=rejects.drop("_file", "_row", "_status"),
        duplicates_collapsed=collapsed.height,
    )


def _meanings(export: Export) -> pl.DataFrame:
    seen: dict[str, str] = {}
    for code in export.options.codes.codes:
        seen.setdefault(code.code, code.meaning)
    return pl.DataFrame({"code": list(seen), "meaning": list(seen.values())})
