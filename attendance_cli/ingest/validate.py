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

Rows with problems are rare; they are read a second time, on their own, to explain them
(`problems.py`). What is counted is the window and each row's scope (`scope.py`); the pupils the
proof does not cover are checked for duplicates in `duplicates.py`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from attendance_cli.calendar.windows import Window
from attendance_cli.errors import InputError, Problem
from attendance_cli.ingest.duplicates import checked_session_hashes, find_duplicates
from attendance_cli.ingest.exports import Export
from attendance_cli.ingest.reader import SourceFile
from attendance_cli.ingest.headers import RECEPTION_TEXT, YEAR_NUMBER
from attendance_cli.ingest.problems import (
    empty_problem_rows, problems_of, read_problem_rows, rejects_frame, reopen_tolerantly,
)
from attendance_cli.ingest.scope import (
    COHORT_PERIOD, PERIODS, SCOPE_AGE_UNKNOWN, SCOPE_COUNTED, SCOPE_OUTSIDE_COHORT, scoped,
)

__all__ = ["FileReport", "Tally", "ValidationReport", "tally"]


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

    def as_dict(self, outputs: Sequence[str] = ()) -> dict:
        """The report as plain data (dates as ISO text), for JSON."""
        import dataclasses

        def plain(value: object) -> object:
            return value.isoformat() if hasattr(value, "isoformat") else value  # type: ignore[union-attr]

        files = []
        for f in self.files:
            item = {k: plain(v) for k, v in dataclasses.asdict(f).items()}
            item["balanced"] = f.balanced
            files.append(item)
        return {
            "files": files, "codes_table": self.codes_table, "window": self.window, "pupils": self.pupils,
            "marks": self.marks, "first_date": plain(self.first_date), "last_date": plain(self.last_date),
            "unmarked": self.unmarked, "duplicates_collapsed": self.duplicates_collapsed,
            "rejected": self.rejected, "furniture": self.furniture,
            "codes": self.code_counts.to_dicts() if self.code_counts is not None else [],
            "rejects": self.rejects.to_dicts() if self.rejects is not None else [],
            "outputs": list(outputs),
        }

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
    codes: bool = True  # counts are per code (False: one total per pupil, code and category null)
    # where each pupil's rows start (file, row, pupil_id), when every pupil's rows in every file are
    # together: a second pass can then tell the pupil from the row number without reading the ids
    runs: pl.DataFrame | None = None
    #: with keep_rows: the accepted rows and unmarked sessions (file, row, date, session, slot,
    #: minutes_late, enrolled), written by the pass itself to a temporary file (removed when the
    #: command ends), for the rules' marks (rules.marks.marks_from): no second read of the exports
    rows_file: Path | None = None

    def rows_checked(self) -> pl.LazyFrame:
        """The exports' canonical rows for a second pass. A file in which the pass found no problem
        row (nothing rejected, no report furniture) gets its slots the cheap way, without the checks
        it has already passed."""
        frames = []
        for source, report in zip(self.export.files, self.report.files):
            clean = report.rejected + report.marks_rejected + report.furniture == 0
            frames.append(source.frame.with_columns(pl.col("_checked_slot").alias("slot")) if clean else source.frame)
        return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")

    def marks(self, unmarked: bool = False) -> pl.LazyFrame:
        """The accepted, de-duplicated marks with their code and category (lazy); with `unmarked`,
        the unmarked sessions too (with no code)."""
        kept = ["ok", "unmarked"] if unmarked else ["ok"]
        lookup = self.export.slots.lookup.filter(pl.col("status").is_in(kept)).select(
            "slot", "code", "category", "late", "closure").lazy()
        rows = self.rows_checked().join(lookup, on="slot", how="inner", maintain_order="left")  # in file order
        if self.excluded.height:
            # a grid's row holds many marks: its date and session say which one
            keys = ["file", "row", "date", "session"]
            rows = rows.join(self.excluded.select(keys).lazy(), on=keys, how="anti", nulls_equal=True, maintain_order="left")
        return rows


# -- the pass ------------------------------------------------------------------------------------


def tally(export: Export, window: Window | None = None, by: Sequence[str] = (),
          attributes: Sequence[str] | None = None, codes: bool = True, keep_rows: bool = False) -> Tally:
    """Validate every row of the exports and count marks per pupil (and per `by` mark column).

    `attributes`: the pupil columns to keep (default: every one the exports have).
    `codes=False`: check and account for every row as usual, but count the accepted marks only in
    total, not code by code (`Tally.counts` then has no codes): for stages that read the marks
    themselves afterwards (the rules), this pass groups by pupil instead of pupil and code.
    `keep_rows`: the pass also writes the accepted rows aside (`Tally.rows_file`) for the rules.
    """
    for _ in range(2):
        try:
            return _tally(export, window, by, attributes, codes, keep_rows)
        except _Reopened as reopened:
            export = reopened.export
    return _tally(export, window, by, attributes, codes, keep_rows)


class _Reopened(Exception):
    """Raised when some files must be read again with more tolerant parsing."""

    def __init__(self, export: Export):
        self.export = export






def _refuse_hidden_characters(export: Export, per_file: pl.DataFrame) -> None:
    """A pupil id holding a control character (a NUL byte, a tab) is another pupil than the one it prints
    as: "S1\\x00" and "S1" would be two pupils with one name. Checked on the pupils (one row each per
    file), not on every row."""
    hidden = per_file.filter(pl.col("pupil_id").str.contains(r"[\x00-\x1f\x7f]"))
    if not hidden.height:
        return
    problems = []
    for pupil, file, row in hidden.select("pupil_id", "file", "row_min").head(10).iter_rows():  # a few at most
        source = export.files[file]
        fields = source.layout.columns.fields
        column = source.layout.headers[fields["pupil_id"]] if "pupil_id" in fields else "pupil_id"
        problems.append(Problem(file=source.name, reason="pupil id holds a hidden control character",
                                lines=[source.line_of(row)], column=column, value="".join(f"<0x{ord(ch):02X}>" if ord(ch) < 32 or ord(ch) == 127 else ch
                                                            for ch in pupil),
                                expected="an id of letters, digits and punctuation only",
                                fix="Correct the id in the MIS (the character does not show, but makes another "
                                    "pupil) and export again."))
    raise InputError(f"{hidden['pupil_id'].n_unique():,} pupil id(s) hold a hidden control character; nothing was "
                     "written.", problems)


def _check_cohort_ages(export: Export) -> None:
    """The DfE cohort needs each pupil's age: from a date of birth, or else a year group."""
    if not {"date_of_birth", "year_group"} & set(export.attributes):
        raise InputError("The exports have no date of birth or year group, so the DfE cohort (pupils of compulsory "
                         "school age) cannot be told.",
                         fix="Export the Date of Birth or Year Group column too (or name yours with --map "
                             "\"Header=date_of_birth\"), or leave out --cohort dfe.")


def _fold_cohort(export: Export, counts: pl.DataFrame, unmarked: pl.DataFrame, per_file: pl.DataFrame,
                 attrs: list[str], by_marks: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Leave out the periods of pupils outside the DfE cohort (scope), then drop the period."""
    from attendance_cli.statistics.cohort import ages, in_cohort_period

    present = [a for a in ("date_of_birth", "year_group") if a in attrs]
    birth_given = pl.col("date_of_birth").is_not_null() if "date_of_birth" in present else pl.lit(False)
    latest = per_file.filter(pl.col("accepted")).sort("latest_session", "file").group_by("pupil_id").agg(
        *[pl.col(a).drop_nulls().last() for a in present],
        # the day a year group was exported as of: the last marks of the latest export that gives one
        pl.col("last_date").filter(pl.col("year_group").is_not_null()).last() if "year_group" in present
        else pl.col("last_date").last(),
        pl.col("file").filter(birth_given).last(), pl.col("row_min").filter(birth_given).last())
    age = ages(latest)
    unreadable = latest.filter(age["_birth_unreadable"])
    if unreadable.height:
        def header(source) -> str:
            fields = source.layout.columns.fields
            return source.layout.headers[fields["date_of_birth"]] if "date_of_birth" in fields else "date_of_birth"

        problems = [Problem(file=export.files[f].name, reason=f"not a day-first date of birth (pupil {pupil})",
                            lines=[export.files[f].line_of(row)], column=header(export.files[f]), value=dob,
                            expected="dd/mm/yyyy (also dd-mm-yyyy or yyyy-mm-dd)")
                    for pupil, dob, f, row in unreadable.select("pupil_id", "date_of_birth", "file", "row_min").iter_rows()]
        count = len(problems)
        raise InputError(f"{count:,} {'date of birth' if count == 1 else 'dates of birth'} could not be read, so the "
                         "DfE cohort cannot be told.",
                         problems=problems[:10],
                         fix="Correct the dates of birth in the MIS and export again, or leave out --cohort dfe.")
    age = age.drop("_birth_unreadable")

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


def _tally(export: Export, window: Window | None, by: Sequence[str], wanted: Sequence[str] | None,
           codes: bool = True, keep_rows: bool = False, aside: bool = True) -> Tally:
    cohort = window is not None and window.dfe_cohort
    if cohort:
        _check_cohort_ages(export)
    slots = export.slots
    by_marks = [b for b in by if b in export.mark_fields or b == "session"]
    keys = [*by_marks, COHORT_PERIOD] if cohort else by_marks  # what marks are counted by, besides pupil and code
    if window is not None and window.inner:
        keys = [*keys, PERIODS]  # which inner windows (Dataset.prepare)
    attrs = export.attributes
    if wanted is not None:
        names = {"surname", "forename"} & set(wanted)
        age_columns = {"date_of_birth", "year_group"} if cohort else set()
        attrs = [a for a in attrs if a in wanted or a in age_columns or (a == "full_name" and names)]
    counted = _counted_files(export, attrs)
    frame = scoped(export, window, counted)
    # rows not kept by pupil (by date, or in no order): the latest row's details are found in the
    # pass itself, instead of reading the rows again
    by_session = export.shape == "sessions" and not all(f.grouped for f in export.files)
    # the rows the rules' marks are made of, written aside by this same read (a sink streams them to
    # a file as they pass); the "descents" below are then found in that file, not in the pass (an
    # order-dependent step in the pass would make Polars hold the shared rows in memory)
    rows_file = (_temporary_rows() if keep_rows and not by_session and export.shape == "sessions"
                 and engine_for(export) == "streaming" else None)  # (None: no room in the temporary folder)
    rows_sink = _rows_aside(export, frame).sink_ipc(rows_file, lazy=True) if rows_file is not None else None
    # rows not kept by pupil: every pupil must be proven free of duplicate sessions, from a number for
    # each row's session, written aside by this same read (duplicates.find_duplicates), not read again
    hashes_file = (_temporary_rows() if aside and by_session and export.shape == "sessions"
                   and engine_for(export) == "streaming" else None)
    if hashes_file is not None:
        rows_sink = checked_session_hashes(export, frame).sink_ipc(hashes_file, lazy=True)
    # a "descent" is a row whose date and session are not after the previous row's
    descent_row = (pl.when(DESCENT).then(pl.col("row")) if rows_sink is None
                   else pl.lit(None, dtype=pl.UInt32))  # (found in the rows file; with the session numbers, not needed)
    # (with rows written aside, no order-dependent step either: each group keeps its last row's details)
    run_ends = rows_sink is None and not by_session and any(f.layout.shape != "grid" for f in export.files)

    def groups_of(rows: pl.LazyFrame, files: int) -> pl.LazyFrame:
        if not codes:
            # every code valid on its date becomes one slot: the pass groups by pupil, not pupil and code
            rows = rows.with_columns(slots.fold_codes(pl.col("slot")).alias("slot"))
        return rows.with_columns(descent_row.alias("_descent_row"),
                                 *([_run_end(export, files).alias("_run_end")] if run_ends else [])).group_by(
            "file", "pupil_id", "slot", "scope", *keys).agg(
            pl.len().alias("n"),
            pl.col("minutes_late").sum().alias("minutes"),
            pl.col("date").min().alias("first_date"),
            pl.col("date").max().alias("last_date"),
            pl.col("row").min().alias("row_min"),
            pl.col("row").max().alias("row_max"),
            pl.col("_descent_row").count().alias("descents"),
            pl.col("_descent_row").min().alias("descent_row"),
            # when each pupil's latest row is, to take their details from the latest file (one file: no need)
            *([pl.col("key").max().alias("key_max")] if len(export.files) > 1 else []),
            # a pupil's attributes: see _latest_attributes
            *_latest_in_group(attrs, by_session, run_ends),
        )

    if rows_sink is None and len(counted) > 1 and engine_for(export) == "streaming":
        # several large exports with nothing written aside: each file's groups are counted on their
        # own (the file is a key, so no group spans two), and only one file's are being built at a time
        together = frame.collect_schema()

        def alone(source: SourceFile) -> pl.LazyFrame:
            rows = scoped(export, window, [source])
            have = rows.collect_schema()  # (a column another file has, null here, as the files read together give it)
            return rows.with_columns(pl.lit(None, dtype=dtype).alias(name) for name, dtype in together.items()
                                     if name not in have)

        groups, descents = pl.concat([_collect(groups_of(alone(f), 1), export) for f in counted],
                                     how="vertical_relaxed"), None
    elif rows_sink is not None:
        try:
            groups = pl.collect_all([groups_of(frame, len(counted)), rows_sink], engine="streaming")[0]
        except (pl.exceptions.ComputeError, OSError) as exc:
            for written in (rows_file, hashes_file):
                if written is not None:
                    written.unlink(missing_ok=True)
            if "os error" in str(exc) or isinstance(exc, OSError):  # nothing could be written aside (a full
                # temporary folder): the rules, and the check for duplicates, read the exports again
                return _tally(export, window, by, wanted, codes, keep_rows=False, aside=False)
            raise _explain_read_error(export, exc) from None
        descents = (pl.scan_ipc(rows_file).filter(DESCENT).select("file", "row").collect()
                    if rows_file is not None else None)
    else:
        groups, descents = _collect(groups_of(frame, len(counted)), export), None
    groups = groups.join(slots.statuses, on="slot", how="left")
    # the pupils' details, kept apart from the counts: few groups hold any (those ending a run)
    details = groups.filter(pl.any_horizontal(pl.col(a).is_not_null() for a in attrs)).select(
        "file", "pupil_id", "row_max", *attrs) if attrs else None
    groups = groups.drop(attrs)
    # grid files whose cells hold each date and session once (reader: `grouped`)
    grids = [f.index for f in export.files if f.layout.shape == "grid" and f.grouped]
    per_file = _per_file(groups, details, attrs, export.shape, grids, descents)
    if by_session:
        per_file = _latest_rows_details(export, per_file, attrs)
    per_file = _latest_attributes(export, _grid_details(export, per_file, attrs), attrs, by_session)
    _refuse_hidden_characters(export, per_file)

    problem_slots = slots.lookup.filter(pl.col("status").is_in(["problem", "not_valid_on_date"]))["slot"]
    problem_rows = empty_problem_rows()
    # pupil ids padded with spaces (" 1001") would make another pupil than "1001" in the next export
    padded_ids = set(per_file.filter(pl.col("pupil_id") != pl.col("pupil_id").str.strip_chars())["file"].to_list())
    has_problems = groups.filter(pl.col("slot").is_in(problem_slots.implode())).height > 0
    if has_problems:
        problem_rows = read_problem_rows(export, frame, problem_slots)
    if has_problems or padded_ids:
        reopened = reopen_tolerantly(export, problem_rows, padded_ids)
        if reopened is not None:
            if hashes_file is not None:  # (the tolerant reading writes its own)
                hashes_file.unlink(missing_ok=True)
            raise _Reopened(reopened)

    try:
        excluded, conflicts, conflict_rejects = find_duplicates(export, window, per_file, keys, hashes_file)
    finally:
        if hashes_file is not None:
            hashes_file.unlink(missing_ok=True)
    rejects = rejects_frame(export, problem_rows, conflict_rejects)
    problems = problems_of(export, rejects) + conflicts
    if problems and not export.options.lenient:
        total = rejects.select("file", "line").n_unique() + sum(p.count for p in conflicts)  # lines (a grid's hold many marks)
        fix = ("Correct the rows in the MIS and export again, or pass --lenient to set them aside in a "
               "rejects file and carry on.")
        codes = export.options.codes
        if export.shape == "lessons" and codes.register_type == "session":
            fix = (f"These are lesson registers, read with the {codes.name!r} session codes; lesson codes are set by "
                   "each institution: pass --codes college, or your own table with --codes FILE. Otherwise: " + fix)
        raise InputError(f"{total:,} row{'s' if total != 1 else ''} could not be used; nothing was written.",
                         problems=problems, fix=fix)

    if excluded.height:
        if not codes:
            excluded = excluded.with_columns(slots.fold_codes(pl.col("slot")).alias("slot"))
        removed = excluded.group_by("file", "pupil_id", "slot", "scope", *keys).agg(
            pl.len().alias("_n"), pl.col("minutes_late").sum().alias("_m"))
        groups = (groups.join(removed, on=["file", "pupil_id", "slot", "scope", *keys], how="left",
                              nulls_equal=True)
                  .with_columns((pl.col("n") - pl.col("_n").fill_null(0)).alias("n"),
                                (pl.col("minutes").fill_null(0) - pl.col("_m").fill_null(0)).alias("minutes"))
                  .drop("_n", "_m"))

    counts = _counts(groups, export, keys) if codes else _totals(groups, keys)
    unmarked_slot = slots.status("unmarked")
    unmarked = (groups.filter(pl.col("slot") == unmarked_slot)
                .group_by("pupil_id", *keys, "scope").agg(pl.col("n").sum().alias("sessions")))
    if cohort:
        counts, unmarked = _fold_cohort(export, counts, unmarked, per_file, attrs, by_marks)
    pupils = _pupils(per_file, attrs, len(export.files))
    report = _report(export, window, groups, rejects, problem_rows, excluded, counts, unmarked, pupils, codes)
    if cohort:
        report.outside_cohort, report.age_unknown = _left_out_of_cohort(counts, unmarked)
    contiguous = per_file.select((pl.col("row_max") - pl.col("row_min") + 1 == pl.col("span")).all()).item()
    runs = per_file.select("file", pl.col("row_min").alias("row"), "pupil_id").sort("file", "row") if contiguous else None
    if rows_file is not None and runs is None:  # each pupil's rows not together: the rows cannot be used
        rows_file.unlink(missing_ok=True)
        rows_file = None
    result = Tally(export, window, by_marks, report, counts, pupils, excluded.select("file", "row", "date", "session"),
                   unmarked, codes, runs, rows_file)
    if rows_file is not None:
        import weakref

        weakref.finalize(result, rows_file.unlink, missing_ok=True)  # gone with the tally that holds it
    return result


def _counted_files(export: Export, attrs: list[str]) -> list[SourceFile]:
    """The files as the checking pass reads them: a grid's pupil details are left out of its marks
    (each pupil's are taken from its rows afterwards, `_grid_details`), so they are not copied onto
    every mark."""
    def counted(source: SourceFile) -> SourceFile:
        names = [a for a in attrs if a in source.fields and a != "pupil_id"]
        if source.grid_pupils is None or not names:
            return source
        return replace(source, frame=source.frame.with_columns(pl.lit(None, dtype=pl.String).alias(a) for a in names))

    return [counted(f) for f in export.files]


def _latest_rows_details(export: Export, per_file: pl.DataFrame, attrs: list[str]) -> pl.DataFrame:
    """The details on each pupil's latest row in each file (`_at`: the pass found where it is), read
    for those rows alone, in one more read of the files' text: in an export not kept by pupil every
    row may be a pupil's latest so far, and keeping each one's details in the pass costs more."""
    parts = []
    for source in export.files:
        names = [a for a in attrs if a in source.fields and a != "pupil_id"]
        mine = per_file.filter(pl.col("file") == source.index)
        if source.grid_pupils is not None or not names or not mine.height:
            continue
        rows = (mine["_at"] % (1 << 32)).cast(pl.UInt32)
        parts.append(source.raw.filter(pl.col("row").is_in(rows.implode()))
                     .select(pl.lit(source.index, dtype=pl.UInt16).alias("file"), pl.col("row").alias("_latest"), *names))
    if not parts:
        return per_file
    details = pl.concat(pl.collect_all(parts, engine=engine_for(export)), how="diagonal_relaxed")
    latest = per_file.with_columns((pl.col("_at") % (1 << 32)).cast(pl.UInt32).alias("_latest"))
    return latest.update(details, on=["file", "_latest"], how="left", include_nulls=True).drop("_latest")


def _grid_details(export: Export, per_file: pl.DataFrame, attrs: list[str]) -> pl.DataFrame:
    """A grid pupil's details in a file: those of their last row in it (as a long export's pupil's
    are those of their last row)."""
    for source in export.files:
        names = [a for a in attrs if a in source.fields and a != "pupil_id"]
        if source.grid_pupils is None or not names:
            continue
        details = source.grid_pupils.select(pl.lit(source.index, dtype=pl.UInt16).alias("file"),
                                            pl.col("row").cast(pl.UInt32).alias("row_max"), *names)
        per_file = per_file.update(details, on=["file", "row_max"], how="left", include_nulls=True)
    return per_file


#: The last row of a run of one pupil's rows (the next row is another pupil's, or there is none):
#: each group takes its details from its last such row, so that the group holding a pupil's last
#: row has that row's details (a string kept from every row, as `last()` keeps it, costs far more).
RUN_END = pl.col("pupil_id").ne_missing(pl.col("pupil_id").shift(-1))


def _run_end(export: Export, files: int) -> pl.Expr:
    """RUN_END, where a run also ends with its file (of `files` read together); every mark of a grid's
    row counts as one (the groups of a grid row's marks share its row number, so _per_file could not
    tell the last)."""
    end = RUN_END if files == 1 else RUN_END | pl.col("file").ne_missing(pl.col("file").shift(-1))
    grids = [f.index for f in export.files if f.layout.shape == "grid"]
    return end if not grids else end | pl.col("file").is_in(grids)


#: A row whose date and session are not after the previous row's (see _per_file's `in_order`).
DESCENT = pl.col("key") <= pl.col("key").shift(1)


def _rows_aside(export: Export, frame: pl.LazyFrame) -> pl.LazyFrame:
    """Every row, without its text, its pupil as a number (`_pupil`): what the rules' marks are made
    of (rules.marks keeps the accepted ones), any window's counts (Dataset), and each row's date and
    session as a key, for the descents."""
    names = frame.collect_schema().names()
    return frame.select("file", "row", "date", "session", "slot", "minutes_late", "key",
                        pupil_hash(pl.col("pupil_id")).alias("_pupil"), *(["enrolled"] if "enrolled" in names else []))


def pupil_hash(ids: pl.Expr) -> pl.Expr:
    """A number for each pupil id, in the rows set aside (Dataset counts windows by it, and only
    when no two pupils' numbers are equal)."""
    return ids.hash(seed=13)


def _temporary_rows() -> Path | None:
    """A temporary file for the rows set aside (encoding.temporary_file: removed when the command
    ends, or before when its tally is done with), or None if the temporary folder cannot take one
    (the rules then read the exports again)."""
    from attendance_cli.ingest.encoding import temporary_file

    try:
        handle, path = temporary_file("rows", ".arrow")
    except OSError:
        return None
    os.close(handle)
    return path



#: Inputs larger than this are streamed (bounded memory); smaller ones run faster in memory.
#: ATTENDANCE_STREAMING_BYTES sets another size (the tests stream small files with it).
STREAMING_BYTES = (int(os.environ["ATTENDANCE_STREAMING_BYTES"])
                   if os.environ.get("ATTENDANCE_STREAMING_BYTES", "").strip().isdigit() else 64 * 1024 * 1024)


#: About the bytes a long export spends on one mark (a grid's cell becomes such a row when read).
_BYTES_PER_MARK = 50


def engine_for(export: Export) -> str:
    """"streaming" for exports larger than STREAMING_BYTES, else "in-memory"."""
    size = sum(f.path.stat().st_size if f.layout.shape != "grid"
               else f.grid_rows * max(1, len(f.layout.columns.date_columns) or len(f.layout.columns.weekday_columns))
               * _BYTES_PER_MARK for f in export.files)
    return "streaming" if size > STREAMING_BYTES else "in-memory"


def _collect(plan: pl.LazyFrame, export: Export) -> pl.DataFrame:
    try:
        return plan.collect(engine=engine_for(export))
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




# -- per file ------------------------------------------------------------------------------------


def _per_file(groups: pl.DataFrame, details: pl.DataFrame | None, attrs: list[str], shape: str, grids: list[int],
              descents: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per (file, pupil): rows, the uniqueness evidence, dates of usable marks, attributes
    (from the pupil's last row in the file: `details`, the groups that hold any, by the last row of
    each), and whether that last row is their latest (`in_order`)."""
    usable = pl.col("status").is_in(["ok", "unmarked"])
    per_file = groups.lazy().with_columns(usable.alias("_usable")).group_by("file", "pupil_id").agg(
        pl.col("n").sum().alias("rows"), pl.col("row_min").min(), pl.col("row_max").max(),
        pl.col("descents").sum(), pl.col("descent_row").min(),
        (~pl.col("_usable")).any().alias("has_problem"), pl.col("_usable").any().alias("accepted"),
        pl.col("first_date").filter(pl.col("_usable")).min(), pl.col("last_date").filter(pl.col("_usable")).max(),
        # (in an export not kept by pupil, `_at`: where the latest row by date and session is, its
        # details read afterwards)
        *([pl.col("_at").max()] if "_at" in groups.columns else []),
        # date x 2 + PM of the latest row (one file: its last date is enough)
        (pl.col("key_max").max() if "key_max" in groups.columns else pl.col("last_date").max().cast(pl.Int32) * 2
         ).alias("latest_session"),
    ).collect()
    if attrs:
        latest = (details.group_by("file", "pupil_id").agg(pl.col(a).get(pl.col("row_max").arg_max()) for a in attrs)
                  if details is not None and details.height else None)
        per_file = (per_file.join(latest, on=["file", "pupil_id"], how="left") if latest is not None
                    else per_file.with_columns(pl.lit(None, dtype=pl.String).alias(a) for a in attrs))
    if descents is not None:  # found in the rows file (file, row): each given to the pupil whose rows it is among
        ranges = per_file.select("file", "pupil_id", "row_min", "row_max").sort("file", "row_min")
        found = (descents.sort("file", "row").join_asof(ranges, left_on="row", right_on="row_min", by="file",
                                                    check_sortedness=False)
                 .filter(pl.col("row") <= pl.col("row_max"))
                 .group_by("file", "pupil_id").agg(pl.len().cast(pl.UInt32).alias("descents"),
                                                   pl.col("row").min().alias("descent_row")))
        per_file = (per_file.drop("descents", "descent_row").join(found, on=["file", "pupil_id"], how="left",
                                                                   maintain_order="left")
                    .with_columns(pl.col("descents").fill_null(0)))
    # rows contiguous and in strictly increasing date and session: the pupil's first row may follow
    # another pupil's later one; no other row may follow one that is not before it. A grid's marks
    # are its row's cells (in date order, each date and session once): one row is contiguous.
    span = pl.when(pl.col("file").is_in(grids)).then(1).otherwise(pl.col("rows"))
    in_order = (
        (pl.col("row_max") - pl.col("row_min") + 1 == span)
        & ((pl.col("descents") == 0) | ((pl.col("descents") == 1) & (pl.col("descent_row") == pl.col("row_min"))))
    ) if shape == "sessions" else pl.lit(False)
    return per_file.with_columns(in_order.alias("in_order"), span.alias("span"))


def _latest_in_group(attrs: list[str], by_session: bool, run_ends: bool = False) -> list[pl.Expr]:
    """Each attribute of a group of rows in the main pass: its value on the group's last row (with
    `run_ends`, its last row that ends a run of the pupil's rows, `_run_end`: the pupil's last row in
    the file is one); or (`by_session`, for exports not kept in pupil order) the place of its latest
    row by date, session and row (`_at`), the details left for `_latest_rows_details`."""
    if not by_session:
        return [(pl.col(a).filter(pl.col("_run_end")) if run_ends else pl.col(a)).last() for a in attrs]
    # the latest row's place only: its details are read afterwards, for one row a pupil
    # (`_latest_rows_details`), not kept from every row in the pass
    order = pl.col("key").cast(pl.Int64) * (1 << 32) + pl.col("row").cast(pl.Int64)
    return [*[pl.lit(None, dtype=pl.String).alias(a) for a in attrs], order.max().alias("_at")]


def _latest_attributes(export: Export, per_file: pl.DataFrame, attrs: list[str], by_session: bool) -> pl.DataFrame:
    """Each pupil's attributes from their latest row in each file that gives them (a pupil who moved
    from 4A to 4B is in 4B; a blank form on the latest row does not blank the form).

    Where the pupil's rows are in order, or the pass looked for the latest row (`by_session`), the
    pass read it. The others are read again, on their own: pupils whose rows are not in order (unsorted exports, lesson
    registers, where the latest lesson is by date and start time), and pupils whose last row
    leaves an attribute blank that the file has a column for."""
    if export.shape != "sessions":
        per_file = per_file.with_columns((pl.col("last_date").cast(pl.Int32) * 2).alias("latest_session"))
    if not attrs:
        return per_file
    has = {i: set(source.frame.collect_schema().names()) for i, source in enumerate(export.files)}
    blank = [pl.col("file").is_in([i for i, names in has.items() if a in names])
             & pl.col(a).str.strip_chars().replace("", None).is_null() for a in attrs]
    # by_session: the pass took each pupil's latest row, whatever the order (_latest_in_group)
    again = per_file.filter(pl.any_horizontal(blank) if by_session else ~pl.col("in_order") | pl.any_horizontal(blank))
    if again.is_empty():
        return per_file
    plans = []
    for index in sorted(again["file"].unique().to_list()):
        names = has[index]
        minutes = (pl.col("start_time").str.extract(r"(\d{1,2}):(\d{2})", 1).cast(pl.Int32, strict=False) * 60
                   + pl.col("start_time").str.extract(r"\d{1,2}:(\d{2})", 1).cast(pl.Int32, strict=False)
                   ) if "start_time" in names else pl.lit(None, dtype=pl.Int32)
        order = ["date", pl.coalesce(pl.col("session").to_physical().cast(pl.Int32), minutes), "row"]
        plans.append(
            export.files[index].frame
            .join(again.filter(pl.col("file") == index).select("file", "pupil_id").lazy(), on=["file", "pupil_id"], how="semi")
            .group_by("file", "pupil_id")
            # a file without the column (an Arbor warehouse export has no names) keeps its nulls
            .agg(*[pl.col(a).str.strip_chars().replace("", None).sort_by(order).drop_nulls().last() if a in names
                   else pl.lit(None, dtype=pl.String).alias(a) for a in attrs]))
    fixed = pl.concat(pl.collect_all(plans), how="vertical_relaxed")
    return per_file.update(fixed, on=["file", "pupil_id"], include_nulls=True)


# -- results -------------------------------------------------------------------------------------


def _totals(groups: pl.DataFrame, by_marks: list[str]) -> pl.DataFrame:
    """The counts without codes: accepted marks per pupil (and key and scope), code and category null."""
    return (groups.filter(pl.col("status") == "ok")
            .group_by("pupil_id", *by_marks, "scope")
            .agg(pl.col("n").sum().cast(pl.Int64).alias("sessions"), pl.col("minutes").sum().cast(pl.Int64).alias("minutes_late"))
            .filter(pl.col("sessions") > 0)
            .with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in ("code", "category", "late"))
            .with_columns(pl.lit(None, dtype=pl.Boolean).alias("closure")))


def _counts(groups: pl.DataFrame, export: Export, by_marks: list[str]) -> pl.DataFrame:
    lookup = export.slots.lookup.filter(pl.col("status") == "ok").select("slot", "code", "category", "late", "closure")
    # (lazily, so that only the columns counted are copied out of the groups)
    counted = groups.lazy().filter(pl.col("status") == "ok").select("pupil_id", *by_marks, "slot", "scope", "n", "minutes")
    # one file whose slots present (a few dozen) are each another code has nothing to fold
    present = counted.select(pl.col("slot").unique()).collect().join(lookup, on="slot")
    if len(export.files) > 1 or present["code"].n_unique() < present.height:
        # one row per pupil and code: several files, or a code's spellings and eras, fold together
        counted = (counted.join(lookup.select("slot", "code").lazy(), on="slot")
                   .group_by("pupil_id", *by_marks, "code", "scope")
                   .agg(pl.col("slot").first(), pl.col("n").sum(), pl.col("minutes").sum()))
    return (counted.select("pupil_id", *by_marks, "slot", "scope", pl.col("n").cast(pl.Int64).alias("sessions"),
                           pl.col("minutes").cast(pl.Int64).alias("minutes_late"))
            .filter(pl.col("sessions") > 0)
            .join(lookup.lazy(), on="slot").drop("slot").collect())


def _pupils(per_file: pl.DataFrame, attrs: list[str], files: int) -> pl.DataFrame:
    """One row per pupil with an accepted row; each attribute from the export with the pupil's latest
    row that gives it (a warehouse export without names does not blank the names earlier ones gave)."""
    accepted = per_file.filter(pl.col("accepted"))
    if files > 1:
        accepted = accepted.sort("latest_session", "file").group_by("pupil_id", maintain_order=True).agg(
            pl.col(a).drop_nulls().last() for a in attrs)
    return tidy_pupils(accepted.select("pupil_id", *attrs)).sort("pupil_id")


def pupils_as_of(export: Export, pupils: pl.DataFrame, end: dt.date) -> pl.DataFrame:
    """`pupils` with the details of each pupil who has rows after `end` taken from their latest row on
    or before it (by date and session, then file and row; a blank cell does not blank a detail), so
    that a past window groups its pupils as they were then (last year's Year 10 in Year 10), not as
    the latest export has them. A detail no row up to `end` gives (an export without names) is the
    one on their earliest row after it that gives it. One read of the exports' detail columns."""
    if end is None:
        return pupils
    return with_details(pupils, details_as_of(export, [c for c in pupils.columns if c != "pupil_id"], [end])[end])


def details_as_of(export: Export, columns: Sequence[str], ends: Sequence[dt.date]) -> dict[dt.date, pl.DataFrame | None]:
    """For each date in `ends`, the details (`columns`) of each pupil who has rows both up to it and
    after it, as `pupils_as_of` takes them (None: no such pupil, or no detail column), all in one read
    of the exports' detail columns."""
    names = {"surname", "forename"} & set(columns)
    attrs = [a for a in export.attributes if a in columns or (a == "full_name" and names)]
    if not attrs:
        return dict.fromkeys(ends)
    rows = export.rows
    have = rows.collect_schema()
    text = [a for a in attrs if a in have]
    given = {a: pl.col(a).str.strip_chars() != "" for a in text}  # (null: no detail either)
    # each detail from the latest row up to the date that gives it, else the earliest after it; max_by
    # and min_by keep one value per pupil as the rows stream past, and the cells chosen are trimmed
    # only then: a trimmed copy of every cell held by the group-by would take gigabytes for a large school
    order = pl.struct("key", "file", "row")
    aggregations = []
    for i, end in enumerate(ends):
        inside = pl.col("date") <= end
        aggregations += [(~inside).any().alias(f"_later_{i}"), inside.any().alias(f"_before_{i}"),
                         *[pl.col(a).max_by(pl.when(inside & given[a]).then(order)).alias(f"{a}_{i}") for a in text],
                         *[pl.col(a).min_by(pl.when(~inside & given[a]).then(order)).alias(f"_after_{a}_{i}")
                           for a in text]]
    found = rows.select("pupil_id", "date", "key", "file", "row", *text).group_by("pupil_id").agg(
        aggregations).collect(engine="streaming")
    out: dict[dt.date, pl.DataFrame | None] = {}
    for i, end in enumerate(ends):
        then = found.filter(pl.col(f"_later_{i}") & pl.col(f"_before_{i}")).select(
            "pupil_id", *[pl.coalesce(f"{a}_{i}", f"_after_{a}_{i}").str.strip_chars().alias(a) for a in text])
        if not then.height:
            out[end] = None
            continue
        then = tidy_pupils(then.with_columns(pl.lit(None, dtype=pl.String).alias(a) for a in attrs if a not in have))
        out[end] = then.select("pupil_id", *[c for c in columns if c in then.columns])
    return out


def with_details(pupils: pl.DataFrame, details: pl.DataFrame | None) -> pl.DataFrame:
    """`pupils` with these pupils' details (details_as_of) in place of their own."""
    if details is None:
        return pupils
    return pupils.update(details.cast({c: pupils.schema[c] for c in details.columns}), on="pupil_id")


#: The columns of a pupil's detail history (`detail_history`).
HISTORY = {"pupil_id": pl.String, "attribute": pl.String, "value": pl.String, "from_date": pl.Date,
           "order": pl.Int64, "first_date": pl.Date, "last_date": pl.Date}


def detail_history(rows: pl.LazyFrame, attrs: Sequence[str]) -> pl.DataFrame:
    """How the details (`attrs`: year group, form, names ...) of each pupil whose details change
    changed: a row per run of one value of one detail in the pupil's rows taken in order (date and
    session, then file and row), blank cells left out (a blank does not blank a detail), with the
    date and place (`order`) of the run's first row and the pupil's first and last dates. Pupils
    whose every detail keeps one value are left out: their details are the same on every date. What
    a store keeps (`attendance ingest -o`), so that a past window from it is grouped as from the
    exports (from which `details_as_of` reads them for the dates wanted, in one pass)."""
    have = rows.collect_schema()
    text = [a for a in attrs if a in have]
    if not text:
        return pl.DataFrame(schema=HISTORY)
    trimmed = {a: pl.col(a).str.strip_chars().replace("", None) for a in text}  # a blank cell: no detail
    given = rows.select("pupil_id", "date", "key", "file", "row", *[value.alias(a) for a, value in trimmed.items()])
    # which pupils' details change: the least and greatest hash of each detail's trimmed value (a number
    # per cell, kept as the rows stream past; trimmed strings held by the group-by took gigabytes)
    changing = (rows.group_by("pupil_id")
                .agg(pl.any_horizontal(*[value.hash().min() != value.hash().max() for value in trimmed.values()])
                     .alias("_changes"),
                     pl.col("date").min().alias("first_date"), pl.col("date").max().alias("last_date"))
                .filter(pl.col("_changes"))
                .select("pupil_id", "first_date", "last_date").collect(engine="streaming"))
    if not changing.height:
        return pl.DataFrame(schema=HISTORY)
    ordered = (given.join(changing.lazy(), on="pupil_id", how="inner").sort("pupil_id", "key", "file", "row")
               .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("order")))
    runs = [ordered.filter(pl.col(a).is_not_null())
            .filter(pl.col(a).ne_missing(pl.col(a).shift(1).over("pupil_id")))
            .select("pupil_id", pl.lit(a).alias("attribute"), pl.col(a).alias("value"),
                    pl.col("date").alias("from_date"), "order", "first_date", "last_date")
            for a in text]
    return pl.concat(runs).collect(engine="streaming").cast(HISTORY)


def history_as_of(history: pl.DataFrame, pupils: pl.DataFrame, end: dt.date) -> pl.DataFrame:
    """`pupils` with the details of each pupil who has rows both up to `end` and after it taken from
    their latest row on or before it (`history`: `detail_history`, a store's), as `pupils_as_of` takes
    them from the exports, so that a past window groups its
    pupils as they were then (last year's Year 10 in Year 10), not as the latest export has them. A
    detail no row up to `end` gives (an export without names) is the one on their earliest row after
    it that gives it."""
    columns = [c for c in pupils.columns if c != "pupil_id"]
    spans = history.filter((pl.col("first_date") <= end) & (pl.col("last_date") > end))
    if not spans.height:
        return pupils
    up_to = pl.col("from_date") <= end
    found = (spans.group_by("pupil_id", "attribute")
             .agg(pl.coalesce(pl.col("value").filter(up_to).sort_by(pl.col("order").filter(up_to)).last(),
                              pl.col("value").filter(~up_to).sort_by(pl.col("order").filter(~up_to)).first())
                  .alias("value"))
             .pivot("attribute", index="pupil_id", values="value"))
    names = {"surname", "forename"} & set(columns)
    wanted = [c for c in (*columns, *(("full_name",) if names else ())) if c not in found.columns]
    then = tidy_pupils(found.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in wanted))
    then = then.select("pupil_id", *[c for c in columns if c in then.columns])
    return pupils.update(then.cast({c: pupils.schema[c] for c in then.columns}), on="pupil_id")




def tidy_pupils(pupils: pl.DataFrame) -> pl.DataFrame:
    """Values trimmed ("4A " is form 4A; a cell of spaces is blank), names split from a full-name
    column, year groups written one way ("Year 10", "Reception")."""
    text = [c for c, dtype in pupils.schema.items() if c != "pupil_id" and dtype == pl.String]
    out = pupils.with_columns(pl.col(c).str.strip_chars().replace("", None) for c in text)
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
    digits = year.str.extract(YEAR_NUMBER, 1)
    reception = year.str.contains(RECEPTION_TEXT)
    out = out.with_columns(
        pl.when(digits.is_not_null()).then(pl.lit("Year ") + digits.cast(pl.Int32).cast(pl.String))
        .when(reception).then(pl.lit("Reception")).otherwise(year).alias("year_group"))
    first = ["pupil_id", "upn", "admission_number", "surname", "forename", "year_group", "form"]
    return out.select([c for c in first if c in out.columns] + [c for c in out.columns if c not in first])


def _report(export: Export, window: Window | None, groups: pl.DataFrame, rejects: pl.DataFrame,
            problem_rows: pl.DataFrame, excluded: pl.DataFrame, counts: pl.DataFrame, unmarked: pl.DataFrame,
            pupils: pl.DataFrame, codes: bool = True) -> ValidationReport:
    files = []
    furniture_rows = problem_rows.filter(pl.col("furniture").is_not_null())
    # rows left out because they repeat a session; conflicting rows rejected by --lenient are rejects
    collapsed = excluded.join(rejects.select(pl.col("_file").alias("file"), pl.col("_row").alias("row")),
                              on=["file", "row"], how="anti")
    # each file's marks, unmarked sessions and dates of usable marks, in one aggregation of the groups
    usable = pl.col("status").is_in(["ok", "unmarked"])
    by_file = {row["file"]: row for row in groups.lazy().group_by("file").agg(
        pl.col("n").sum().alias("marks"), pl.col("n").filter(pl.col("status") == "unmarked").sum().alias("unmarked"),
        pl.col("first_date").filter(usable).min(), pl.col("last_date").filter(usable).max(),
    ).collect().iter_rows(named=True)}
    nothing = {"marks": 0, "unmarked": 0, "first_date": None, "last_date": None}
    for source in export.files:
        mine = by_file.get(source.index, nothing)
        layout = source.layout
        columns = {f: layout.headers[i] for f, i in layout.columns.fields.items()}
        columns |= {f: layout.headers[i] for f, i in layout.columns.extras.items()}
        report = FileReport(str(source.path), source.encoding, source.encoding_note, layout.name,
                            layout.header_line + 1 if layout.header_rows else 0, layout.header_rows, columns,
                            layout.columns.ignored, layout.columns.unknown)
        marks = int(mine["marks"] or 0) + int(excluded.filter(pl.col("file") == source.index).height)
        furniture = furniture_rows.filter(pl.col("file") == source.index)
        rejected = rejects.filter(pl.col("_file") == source.index).height
        report.above_header = sum(1 for f in source.furniture if f.kind == "above header")
        report.furniture_lines = [(f.line, f.kind) for f in source.furniture if f.kind != "above header"]
        report.furniture_lines += [(source.line_of(r), k) for r, k in furniture.select("row", "furniture").iter_rows()]
        report.furniture_lines.sort()
        report.duplicates_collapsed = collapsed.filter(pl.col("file") == source.index).height
        report.unmarked = int(mine["unmarked"] or 0)
        report.first_date, report.last_date = mine["first_date"], mine["last_date"]
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
                   .select("code", "meaning", "category", "marks").sort("marks", "code", descending=[True, False])
                   ) if codes else None
    dates = [(f.first_date, f.last_date) for f in files if f.first_date is not None]
    return ValidationReport(
        files=files, codes_table=export.options.codes.name,
        window=window.describe() if window else "all dates in the data",
        # pupils with at least one mark still counted (with --lenient all of a pupil's rows may be set aside)
        pupils=pl.concat([counts["pupil_id"], unmarked.filter(pl.col("sessions") > 0)["pupil_id"]]).n_unique(),
        marks=int(counts["sessions"].sum() or 0),
        first_date=min(first for first, _ in dates) if dates else None,
        last_date=max(last for _, last in dates) if dates else None,
        code_counts=code_counts,
        unmarked=int(unmarked["sessions"].sum() or 0),
        unmarked_in_window=int(unmarked.filter(pl.col("scope") == SCOPE_COUNTED)["sessions"].sum() or 0),
        rejects=rejects.drop("_file", "_row", "_status"),
        duplicates_collapsed=collapsed.height,
    )


def report_from_dict(data: dict) -> ValidationReport:
    """A report read back from `ValidationReport.as_dict` (a store's metadata)."""
    import dataclasses

    def day(text: str | None) -> dt.date | None:
        return dt.date.fromisoformat(text) if text else None

    names = {f.name for f in dataclasses.fields(FileReport)}
    files = []
    for item in data.get("files", []):
        values = {k: v for k, v in item.items() if k in names}
        values["first_date"], values["last_date"] = day(values.get("first_date")), day(values.get("last_date"))
        values["furniture_lines"] = [tuple(x) for x in values.get("furniture_lines", [])]
        files.append(FileReport(**values))
    codes = data.get("codes") or []
    rejects = data.get("rejects") or []
    return ValidationReport(
        files=files, codes_table=data.get("codes_table", ""), window=data.get("window", "all dates in the data"),
        pupils=data.get("pupils", 0), marks=data.get("marks", 0), first_date=day(data.get("first_date")),
        last_date=day(data.get("last_date")), code_counts=pl.DataFrame(codes) if codes else None,
        unmarked=data.get("unmarked", 0), rejects=pl.DataFrame(rejects) if rejects else None,
        duplicates_collapsed=data.get("duplicates_collapsed", 0))


def _meanings(export: Export) -> pl.DataFrame:
    seen: dict[str, str] = {}
    for code in export.options.codes.codes:
        seen.setdefault(code.code, code.meaning)
    return pl.DataFrame({"code": list(seen), "meaning": list(seen.values())})
