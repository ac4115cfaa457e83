"""The marks the rules look at, in compact form, with per-day and per-week summaries.

Pupils are numbered (UInt32) and marks are kept sorted by pupil, date and session, so that a whole
school's year (tens of millions of marks) can be evaluated in seconds without grouping: a pupil's
days (or weeks) are contiguous spans of rows, and "how many of this day's marks are in these codes"
is a difference of two prefix sums.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

import polars as pl

from attendance_cli.figures import ABSENT, POSSIBLE


@dataclass
class Marks:
    """Accepted marks between admission and leaving: `frame` has pupil (number), date, session
    (Enum AM/PM, or a lesson's label) and slot, sorted by pupil, date and session."""

    frame: pl.DataFrame
    pupils: pl.DataFrame  # pupil (UInt32), pupil_id
    lookup: pl.DataFrame  # slot, code, category, late, closure
    lessons: bool
    sums: dict[str, pl.DataFrame] = field(default_factory=dict)  # per-pupil totals by window, shared by rules
    #: sessions left unmarked (pupil, date), read in the same pass: for the figures of any window
    unmarked: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema={"pupil_id": pl.String, "date": pl.Date}))

    def __post_init__(self) -> None:
        # sorted by pupil (as documented): polars is told, so that grouping by pupil is a scan
        pupil = self.frame["pupil"]
        if pupil.len() and not pupil.flags["SORTED_ASC"] and pupil.is_sorted():
            self.frame = self.frame.with_columns(pupil.set_sorted())

    # -- codes -----------------------------------------------------------------------------------

    def chosen(self, codes: tuple[str, ...] = (), categories: tuple[str, ...] = (), late: bool = False) -> pl.DataFrame:
        """The possible codes selected by code, category or lateness (any of them)."""
        return self.lookup.filter(selection(codes, categories, late) & pl.col("category").is_in(POSSIBLE))

    def slots(self, codes: tuple[str, ...] = (), categories: tuple[str, ...] = (), late: bool = False) -> pl.Series:
        return self.chosen(codes, categories, late)["slot"]

    @cached_property
    def possible_slots(self) -> pl.Series:
        return self.slots(categories=POSSIBLE)

    @cached_property
    def absent_slots(self) -> pl.Series:
        return self.slots(categories=ABSENT)

    def with_codes(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame.join(self.lookup.select("slot", "code"), on="slot", how="left", maintain_order="left")

    def with_ids(self, frame: pl.DataFrame) -> pl.DataFrame:
        """pupil numbers back to pupil ids."""
        return frame.join(self.pupils, on="pupil", how="left").drop("pupil")

    def numbered(self, frame: pl.DataFrame) -> pl.DataFrame:
        """pupil ids (from the ledger) to pupil numbers; pupils not in the data are dropped."""
        return frame.join(self.pupils, on="pupil_id", how="inner").drop("pupil_id")

    # -- views -------------------------------------------------------------------------------------

    @property
    def first_date(self) -> dt.date | None:
        """The first date with a mark."""
        return self.frame["date"].min() if self.frame.height else None

    def batches(self, rows: int) -> Iterator[Marks]:
        """The marks in batches of whole pupils, in pupil order, of about `rows` marks each (one batch,
        this, when there are no more): the rules work on one batch at a time, so their working tables
        are a batch's, not the whole school's (views of the frame: nothing is copied)."""
        height = self.frame.height
        if height <= rows:
            yield self
            return
        pupil = self.frame["pupil"]
        start, low = 0, 0
        while start < height:
            # the batch ends where the pupil of its `rows`-th mark ends; its pupils are those numbered
            # from the one after the last batch's to its last (every pupil is in one batch)
            end = int(pupil.search_sorted(pupil[min(start + rows, height) - 1], side="right"))
            frame = self.frame.slice(start, end - start)
            high = frame["pupil"][-1] if end < height else None
            pupils = self.pupils.filter(pl.col("pupil") >= low) if high is None else (
                self.pupils.filter(pl.col("pupil").is_between(low, high)))
            unmarked = self.unmarked.join(pupils.select("pupil_id"), on="pupil_id", how="semi") if self.unmarked.height else self.unmarked
            yield Marks(frame, pupils, self.lookup, self.lessons, unmarked=unmarked)
            start, low = end, (high or 0) + 1

    def up_to(self, as_of: dt.date) -> Marks:
        if self.frame.height and self.frame["date"].max() <= as_of:
            return self
        return Marks(self.frame.filter(pl.col("date") <= as_of), self.pupils, self.lookup, self.lessons,
                     unmarked=self.unmarked.filter(pl.col("date") <= as_of))

    @cached_property
    def possible(self) -> pl.DataFrame:
        """Possible marks only, with `idx`: consecutive within a pupil, so a run is consecutive numbers."""
        frame = self.frame.filter(pl.col("slot").is_in(self.possible_slots.implode()))
        return frame.with_row_index("idx")

    @cached_property
    def daily(self) -> pl.DataFrame:
        """One row per pupil-day with a possible mark: its possible and absent counts, `first` and `last`
        (the `idx` range of its marks in `possible`), and `day_idx`, consecutive over the pupil's days
        (holidays and days with nothing possible are skipped)."""
        return self._spans(pl.col("date")).rename({"span": "date"}).with_row_index("day_idx")

    def weekly(self, as_of: dt.date) -> pl.DataFrame:
        """The same per pupil and week (Monday), for weeks whose Friday is on or before the as-of date."""
        week = pl.col("date").dt.truncate("1w")
        spans = self._spans(week).rename({"span": "date"}).filter(pl.col("date") + dt.timedelta(days=4) <= as_of)
        return spans.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).over("pupil").alias("week_idx"))

    def _spans(self, unit: pl.Expr) -> pl.DataFrame:
        """Contiguous spans of `possible` with the same pupil and unit (the frame is sorted, so no group-by:
        span ends are found by comparing each row with the next, and counts come from prefix sums)."""
        # the running count of absences, read at each span's last mark: a span's absences are the
        # difference from the span before's (spans are contiguous)
        absences = pl.col("slot").is_in(self.absent_slots.implode()).cast(pl.UInt32).cum_sum().alias("_absences")
        frame = self.possible.select("idx", "pupil", "date", unit.alias("span"), absences)
        last = ((pl.col("pupil") != pl.col("pupil").shift(-1)) | (pl.col("span") != pl.col("span").shift(-1))).fill_null(True)
        ends = frame.filter(last).select("pupil", "span", pl.col("idx").alias("last"), pl.col("date").alias("unit_end"),
                                         "_absences")
        return ends.select(
            "pupil", "span", "last", "unit_end",
            (pl.col("last").shift(1).fill_null(-1).cast(pl.Int64) + 1).cast(pl.UInt32).alias("first"),
            (pl.col("last").cast(pl.Int64) - pl.col("last").shift(1).fill_null(-1).cast(pl.Int64)).cast(pl.UInt32).alias("possible"),
            (pl.col("_absences") - pl.col("_absences").shift(1).fill_null(0)).cast(pl.UInt32).alias("absent"))

    def all_in(self, spans: pl.DataFrame, slots: pl.Series) -> pl.DataFrame:
        """The spans (first, last, possible; in `first` order, not overlapping) whose every possible mark
        is in `slots`. Only the chosen marks are looked at (a few in a hundred for absence codes): each
        finds its span by binary search, and a span qualifies when all its marks were found."""
        if not spans.height:  # e.g. no week has ended by the as-of date yet
            return spans
        chosen = self.possible.select(pl.col("idx").filter(pl.col("slot").is_in(slots.implode())))["idx"]
        span = spans["first"].search_sorted(chosen, side="right").cast(pl.Int64) - 1
        inside = (span >= 0) & (chosen <= spans["last"].gather(span.clip(lower_bound=0)))  # marks of no span
        found = span.filter(inside).value_counts(name="n").sort(span.name)
        full = found.filter(pl.col("n") == spans["possible"].gather(found[span.name]))[span.name]
        return spans[full]

    def day_runs(self, slots: pl.Series, start: dt.date | None = None, end: dt.date | None = None) -> pl.DataFrame:
        """Runs of a pupil's consecutive school days (their days with a possible mark), from `start`
        to `end`, on which every possible mark is in `slots`: pupil, first (date), length."""
        days = self.all_in(self.daily, slots).filter(pl.col("date").is_between(start or dt.date.min, end or dt.date.max))
        new_run = (pl.col("pupil") != pl.col("pupil").shift(1)) | (pl.col("day_idx") != pl.col("day_idx").shift(1) + 1)
        return (days.group_by(new_run.fill_null(True).cum_sum().alias("_run"))
                .agg(pl.col("pupil").first(), pl.col("date").first().alias("first"), pl.len().alias("length")).drop("_run"))


def selection(codes: tuple[str, ...] = (), categories: tuple[str, ...] = (), late: bool = False) -> pl.Expr:
    """Whether a mark (its code, category and late columns) is one a rule's selection names: the
    rules count these, and the letters say how many."""
    condition = pl.col("code").is_in(list(codes)) | pl.col("category").is_in(list(categories))
    return condition | pl.col("late").is_not_null() if late else condition


def marks_from(tally, minutes: bool = False) -> Marks:
    """Every accepted mark of a tally, reduced to what rules need: from the rows the pass wrote aside
    (`Tally.rows_file`), else one more pass over the exports (reading only the date, session and
    mark of a file the tally found clean).
    `minutes`: also keep each mark's minutes late (reports chart them; rules do not need them)."""
    export = tally.export
    lessons = export.shape == "lessons"
    lookup = export.slots.lookup.filter(pl.col("status") == "ok").select("slot", "code", "category", "late", "closure")
    unmarked = export.slots.status("unmarked")  # kept apart at the end (see Marks.unmarked)
    if tally.rows_file is not None and tally.runs is not None:  # written aside by the pass: no second read
        lazy = pl.scan_ipc(tally.rows_file).filter(pl.col("slot").is_in(lookup["slot"].implode())
                                                  | (pl.col("slot") == unmarked))
    else:
        lazy = tally.rows_checked().filter(pl.col("slot").is_in(lookup["slot"].implode()) | (pl.col("slot") == unmarked))
    if tally.excluded.height:  # collapsed duplicates
        keys = ["file", "row", "date", "session"]
        lazy = lazy.join(tally.excluded.select(keys).lazy(), on=keys, how="anti", nulls_equal=True)
    if "enrolled" in lazy.collect_schema().names():
        lazy = lazy.filter(pl.col("enrolled"))
    if lessons:
        present = set().union(*(f.fields for f in export.files))
        parts = [pl.col(c).cast(pl.String) for c in ("start_time", "period", "event_id", "subject") if c in present]
        session = pl.concat_str(parts, separator=" ", ignore_nulls=True) if parts else pl.lit("lesson")
    else:
        session = pl.col("session")
    extra = [pl.col("minutes_late").cast(pl.Int16)] if minutes else []
    columns = ["date", session.alias("session"), "slot", *extra]
    if tally.runs is not None:
        # each pupil's rows are together in each file (the tally checked): the row number says whose
        # a mark is, so the ids are not read again
        files = len(export.files)
        frame = lazy.select(_row_key(pl.col("file"), pl.col("row"), files).alias("_key"), *columns).collect(engine="streaming")
        runs = tally.runs.select(pl.int_range(1, pl.len() + 1, dtype=pl.UInt32).alias("_run"), "pupil_id")
        starts = tally.runs.select(_row_key(pl.col("file"), pl.col("row"), files).alias("_key"), runs["_run"])
        key = frame.drop_in_place("_key")
        if key.is_sorted():  # as read: a merge with the run starts
            run = key.to_frame().set_sorted("_key").join_asof(starts.set_sorted("_key"), on="_key")["_run"]
        else:
            run = starts["_key"].search_sorted(key, side="right").cast(pl.UInt32)  # 1 for the first run
        del key
        return compact(frame.insert_column(0, run.alias("_run")), runs, lookup, lessons, unmarked)
    # otherwise pupils are numbered by *run* (rows of one pupil in a row) while the rows stream past,
    # and the ids are kept only where a run starts: tens of millions of id strings are never
    # gathered into memory
    starts = (pl.col("pupil_id") != pl.col("pupil_id").shift(1)).fill_null(True)
    frame = (lazy.select("pupil_id", *columns).with_columns(starts.alias("_start"))
             .select(pl.col("_start").cum_sum().cast(pl.UInt32).alias("_run"),
                     pl.when(pl.col("_start")).then(pl.col("pupil_id")).alias("_run_id"),
                     pl.exclude("pupil_id", "_start")))
    frame = frame.collect(engine="streaming")
    runs = frame.filter(pl.col("_run_id").is_not_null()).select("_run", pl.col("_run_id").alias("pupil_id"))
    return compact(frame.drop("_run_id"), runs, lookup, lessons, unmarked)


def rechunked(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame's columns each in one piece, moved out of `frame` a column at a time (so that only
    one column is ever held twice, not the whole frame); `frame` is left empty."""
    return pl.DataFrame([frame.drop_in_place(name).rechunk() for name in frame.columns])


def _row_key(file: pl.Expr, row: pl.Expr, files: int) -> pl.Expr:
    """File and row as one sortable number (of one file: its row)."""
    if files == 1:
        return row.cast(pl.UInt32)
    return file.cast(pl.UInt64) * (1 << 32) + row.cast(pl.UInt64)


def compact(frame: pl.DataFrame, runs: pl.DataFrame, lookup: pl.DataFrame, lessons: bool,
            unmarked_slot: int | None = None) -> Marks:
    """Number the pupils in pupil id order and sort the marks by pupil, date and session (exports
    usually are already, and then nothing is sorted).

    `frame` has `_run` (1, 2, ... over runs of rows of one pupil), then date, session, slot and any
    extra columns; `runs` says whose each run is (`_run`, `pupil_id`). `frame` is taken apart (its
    columns are moved into the marks, so that the year's marks are never held twice)."""
    frame = rechunked(frame)  # a streamed read arrives in many small chunks; every step below is faster on one
    new_run = (pl.col("_run") != pl.col("_run").shift(1)).fill_null(True)
    # the pupils are those with a mark, numbered in id order
    marked = runs.filter(pl.col("_run").is_in(frame.filter(new_run)["_run"].implode()))
    pupils = (marked.select(pl.col("pupil_id").unique().sort()).with_row_index("pupil")
              .with_columns(pl.col("pupil").cast(pl.UInt32)))
    run_pupil = runs.join(pupils, on="pupil_id", how="left").sort("_run")["pupil"]  # null: a run with no marks
    # in order when each pupil has one run, in id order, and within a run date and session never go back
    in_order = marked.join(pupils, on="pupil_id").sort("_run")["pupil"]
    one_run_each = in_order.len() == pupils.height and bool((in_order.diff().drop_nulls() == 1).all())
    within = ((pl.col("date") > pl.col("date").shift(1))
              | ((pl.col("date") == pl.col("date").shift(1)) & (pl.col("session") >= pl.col("session").shift(1))))
    ordered = one_run_each and frame.select((new_run | within.fill_null(True)).all()).item()
    # runs are numbered from 1: with a null before them, a run's number is its place
    by_run = pl.concat([pl.Series([None], dtype=pl.UInt32), run_pupil])
    pupil = by_run.gather(frame.drop_in_place("_run")).alias("pupil")
    frame = frame.insert_column(0, pupil)
    del pupil
    if not ordered:
        frame = frame.sort("pupil", "date", "session")
    return split_unmarked(frame, pupils.select("pupil", "pupil_id"), lookup, lessons, unmarked_slot)


def split_unmarked(frame: pl.DataFrame, pupils: pl.DataFrame, lookup: pl.DataFrame, lessons: bool,
                   unmarked_slot: int | None) -> Marks:
    """The marks, with the unmarked sessions read alongside them set apart (`Marks.unmarked`, by
    pupil id); the pupils are those with a mark. `frame` is taken apart (its columns are moved)."""
    if unmarked_slot is None:
        return Marks(frame, pupils, lookup, lessons)
    blank = frame["slot"] == unmarked_slot
    if blank.any():
        unmarked = frame.filter(blank).join(pupils, on="pupil", how="left").select("pupil_id", "date")
        # a column at a time (the frame is the caller's no more): only one column is ever held twice
        frame = pl.DataFrame([frame.drop_in_place(name).filter(~blank) for name in frame.columns])
    else:
        unmarked = pl.DataFrame(schema={"pupil_id": pl.String, "date": pl.Date})
    marked = frame["pupil"].unique()
    if marked.len() < pupils.height:  # a pupil with only unmarked sessions has no mark: the others numbered again
        keep = pupils.filter(pl.col("pupil").is_in(marked.implode())).with_row_index("_new").with_columns(
            pl.col("_new").cast(pl.UInt32))
        frame = (frame.join(keep.select("pupil", "_new"), on="pupil", how="inner", maintain_order="left")
                 .with_columns(pl.col("_new").alias("pupil")).drop("_new"))
        pupils = keep.select(pl.col("_new").alias("pupil"), "pupil_id")
    return Marks(frame, pupils, lookup, lessons, unmarked=unmarked)


def school_days(marks: Marks) -> tuple[list[dt.date], dt.date | None]:
    """School days and the last date with a mark (calendar.school_days_in), from the marks in memory:
    the calendar without another pass over the exports."""
    from attendance_cli.calendar import school_days_in

    open_slots = marks.lookup.filter(~pl.col("closure"))["slot"].implode()
    return school_days_in(marks.frame.select("date", "slot"), pl.lit(True), pl.col("slot").is_in(open_slots))

