"""The data set a run works from: the exports (or a checked store) read and checked once.

    Dataset.open(paths, options)      cheap: encodings, headers and layouts only
    dataset.tally(window, by, ...)    the check of every row and the mark counts for a window
    dataset.marks                     the accepted marks in the rules' compact form
    dataset.rule_marks                the same for the rules, which take them a batch of pupils at a time
    dataset.marks_between(start, end) the same for some dates only (from the rows set aside, if any)
    dataset.slot_counts(windows)      several windows' marks counted per pupil and slot, in one pass
    dataset.dates                     school days and the last date in the data (the calendar's source)

Each is worked out once per run and kept: a command that needs the marks, the calendar and the
figures for three windows reads the exports once. Once the marks are in memory, the figures for
any further window are counted from them, not from the exports. A store written by
`attendance ingest -o` is counted straight from its checked rows.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from attendance_cli.calendar import Window
from attendance_cli.ingest import Export, IngestOptions, Tally, open_exports, tally
from attendance_cli.ingest.scope import SCOPE_COUNTED

if TYPE_CHECKING:
    from attendance_cli.calendar import SchoolCalendar
    from attendance_cli.ingest.store import Store
    from attendance_cli.rules.engine import MarkSource
    from attendance_cli.rules.marks import Marks

#: The pupil details commands show.
NAMES = ("surname", "forename", "year_group", "form")


@dataclass
class Dataset:
    """One run's exports, read at most once (see the module's docstring)."""

    export: Export
    _tallies: dict = field(default_factory=dict)
    _checked: Tally | None = None
    _marks: Marks | None = None
    _dates: tuple[list[dt.date], dt.date | None] | None = None
    #: windows counted per pupil and slot (slot_counts), by their dates
    _slots: dict = field(default_factory=dict)
    _span: tuple[dt.date, dt.date] | None = None  # the first and last dates of the rows aside
    _between: tuple[tuple, Marks] | None = None  # the marks read for some dates (marks_between)
    _marked: pl.DataFrame | None = None  # every pupil with an accepted mark, numbered as `marks` numbers them
    _ids: tuple[pl.DataFrame | None] | None = None  # the rows aside's pupil numbers and ids (None in it: two equal)
    _details: dict = field(default_factory=dict)  # the pupils' details as of a date (_as_of_end), by date and columns

    @classmethod
    def open(cls, paths: Sequence[Path], options: IngestOptions) -> Dataset:
        return cls(open_exports(list(paths), options))

    # -- what the exports are ------------------------------------------------------------------------

    @property
    def shape(self) -> str:
        return self.export.shape

    @property
    def lessons(self) -> bool:
        return self.export.shape == "lessons"

    @cached_property
    def store(self) -> Store | None:
        """The checked store, when the data set is one store written by `attendance ingest -o`."""
        from attendance_cli.ingest.store import single_store

        return single_store(self.export)

    # -- the check and the counts -------------------------------------------------------------------

    def tally(self, window: Window | None = None, by: Sequence[str] = (), attributes: Sequence[str] | None = None,
              codes: bool = True) -> Tally:
        """Every row checked, and marks counted per pupil (and per `by` mark column) in `window`."""
        key = (window, tuple(by), tuple(attributes) if attributes is not None else None, codes)
        if key not in self._tallies:
            self._tallies[key] = self._as_of_end(self._count(window, list(by), attributes, codes))
        return self._tallies[key]

    def _as_of_end(self, counted: Tally) -> Tally:
        """A window that ends before the data does: each pupil's name, year group and form from their
        latest row up to its end (last year's figures grouped by last year's year groups)."""
        window, last = counted.window, counted.report.last_date
        if window is None or window.end is None or last is None or window.end >= last:
            return counted
        from attendance_cli.ingest.validate import with_details

        if self.store is not None:  # the store keeps how the details changed
            counted.pupils = self.store.pupils_as_of(counted.pupils, window.end)  # (the same tally: it may own a file)
            return counted
        columns = tuple(c for c in counted.pupils.columns if c != "pupil_id")
        self._read_details([window.end], columns)
        counted.pupils = with_details(counted.pupils, self._details[(window.end, columns)])  # (the same tally: it may own a file)
        return counted

    def _read_details(self, ends: Sequence[dt.date], columns: tuple[str, ...]) -> None:
        """The pupils' details as of each date (ingest.validate.details_as_of), for the dates not read
        yet, in one read of the exports: a window's and its year to date's end once, not twice."""
        from attendance_cli.ingest.validate import details_as_of

        wanted = [end for end in dict.fromkeys(ends) if (end, columns) not in self._details]
        if wanted:
            for end, details in details_as_of(self.export, list(columns), wanted).items():
                self._details[(end, columns)] = details

    def _count(self, window: Window | None, by: list[str], attributes: Sequence[str] | None, codes: bool) -> Tally:
        simple = not [b for b in by if b in self.export.mark_fields or b == "session"] and not (window and window.dfe_cohort)
        store = self.store if simple else None
        if store is not None:
            return self._from_store(store, window, attributes, codes)
        if simple and self._checked is not None:
            counted = self._from_slots(window, attributes, codes)
            if counted is not None:
                return counted
        return tally(self.export, window, by, attributes=attributes, codes=codes)

    def prepare(self, windows: Sequence[Window], attributes: Sequence[str] | None = None, codes: bool = True) -> None:
        """Count several windows (a digest's week and year) in one pass over the exports: the pass
        marks each row with the windows it is in (Window.inner), and each window's tally is taken
        from those counts, as `tally(window, attributes=..., codes=...)` then returns it."""
        from attendance_cli.ingest.scope import PERIODS

        attrs = tuple(attributes) if attributes is not None else None
        wanted = [w for w in dict.fromkeys(windows) if (w, (), attrs, codes) not in self._tallies]
        if len(wanted) < 2 or self.store is not None or any(w.dfe_cohort or w.inner for w in wanted):
            return  # one window or a store: each is counted as cheaply on its own
        if self._checked is not None and (self._marks is not None or self._row_ids() is not None):
            # the marks in memory, or the rows the check wrote aside: every window in one pass over them,
            # and the pupils' details as of the end of each that ends before the data (_as_of_end) in one read
            if self._marks is None and attributes is not None and not set(attributes) <= set(self._checked.pupils.columns):
                return  # (a detail the rows aside lack: each window is counted from the exports)
            if self.slot_counts(wanted) is not None:
                last = self._checked.report.last_date
                columns = tuple(c for c in self._checked.pupils.columns
                                if c != "pupil_id" and (attributes is None or c in attributes))
                ends = [w.end for w in wanted if w.end is not None and last is not None and w.end < last]
                if len(set(ends)) > 1:
                    self._read_details(ends, columns)
                for window in wanted:
                    self.tally(window, attributes=attributes, codes=codes)
            return
        if len(wanted) > 8:
            return
        starts, ends = [w.start for w in wanted], [w.end for w in wanted]
        hull = Window(None if None in starts else min(starts), None if None in ends else max(ends),
                      "the windows together", inner=tuple(wanted))
        base = tally(self.export, hull, attributes=attributes, codes=codes)
        columns = [c for c in base.counts.columns if c != PERIODS]
        for i, window in enumerate(wanted):
            inside = (pl.col("scope") == SCOPE_COUNTED) & ((pl.col(PERIODS) // (1 << i)) % 2 == 1)
            counts = (base.counts.filter(inside).group_by([c for c in columns if c not in ("sessions", "minutes_late")],
                                                          maintain_order=True)
                      .agg(pl.col("sessions").sum(), pl.col("minutes_late").sum()).select(columns))
            unmarked = (base.unmarked.filter(inside).group_by("pupil_id", "scope", maintain_order=True)
                        .agg(pl.col("sessions").sum()).select("pupil_id", "scope", "sessions"))
            self._tallies[(window, (), attrs, codes)] = self._as_of_end(
                self._tally(base, window, counts, unmarked, attributes, codes))

    def read_once(self) -> None:
        """For a command that counts a window it must first find in the calendar: check large exports
        once, writing their rows aside, so that the calendar and every window are counted from those
        rows instead of from the exports again (small exports are read again: that is quicker)."""
        from attendance_cli.ingest.validate import engine_for

        if self.store is None and self._marks is None and engine_for(self.export) == "streaming":
            self.checked

    def read_marks_once(self) -> None:
        """For a command that counts several windows and looks at their marks (a report): large exports
        checked once with their rows written aside (each window's counts and marks are then read from
        those, the year's marks never all held), else every mark read into memory (`marks`)."""
        self.read_once()
        if self._row_ids() is None:
            self.marks

    @property
    def checked(self) -> Tally:
        """The whole data set checked, with each pupil's details (the pass the rules' marks come from)."""
        if self._checked is None:
            key = (None, (), NAMES, False)
            if key not in self._tallies and self.store is None:  # the rules' marks: written aside by the same read
                self._tallies[key] = tally(self.export, None, attributes=NAMES, codes=False, keep_rows=True)
            self._checked = self.tally(None, attributes=NAMES, codes=False)
        return self._checked

    @property
    def marks(self) -> Marks:
        """Every accepted mark in the rules' compact form, with its minutes late."""
        if self._marks is None:
            store = self.store
            if store is not None:
                self._marks = store.compact(self.export.slots)
            else:
                from attendance_cli.rules.marks import marks_from

                self._marks = marks_from(self.checked, minutes=True)
        return self._marks

    @property
    def rule_marks(self) -> MarkSource:
        """The marks for the rules, which evaluate them a batch of pupils at a time: those in memory,
        else a store's read a batch at a time (never all at once), else `marks`."""
        if self._marks is None and self.store is not None:
            return self.store.mark_batches(self.export.slots)
        return self.marks

    @property
    def dates(self) -> tuple[list[dt.date], dt.date | None]:
        """School days (a mark that is not a closure) and the last date with a mark."""
        if self._dates is None:
            if self._marks is not None:
                from attendance_cli.rules.marks import school_days

                self._dates = school_days(self.marks)
            elif self.store is not None:
                self._dates = self.store.school_days(self.export.slots)
            elif self._checked is not None and self._checked.rows_file is not None:
                from attendance_cli.calendar import school_days_in

                lookup = self.export.slots.lookup.filter(pl.col("status") == "ok")
                open_slots = lookup.filter(~pl.col("closure"))["slot"].implode()
                rows = self._rows_aside(mapped=True).group_by("date", "slot").agg(pl.len()).collect(engine="streaming")
                if rows.height:
                    self._span = (rows["date"].min(), rows["date"].max())
                self._dates = school_days_in(rows, pl.col("slot").is_in(lookup["slot"].implode()),
                                             pl.col("slot").is_in(open_slots))
            else:
                from attendance_cli.calendar import dates_in_data

                self._dates = dates_in_data(self.export)
        return self._dates

    def calendar(self, calendar_file: Path | None = None) -> tuple[SchoolCalendar, dt.date | None]:
        """The calendar (from the file, else inferred from the school days) and the last date in the data."""
        from attendance_cli.calendar import calendar_from

        days, last = self.dates
        return calendar_from(days, calendar_file), last

    # -- counts without reading the exports again ---------------------------------------------------

    def slot_counts(self, windows: Sequence[Window | None]) -> list[pl.DataFrame] | None:
        """Each window's accepted marks (and unmarked sessions, under their slot) counted per pupil and
        slot: pupil_id, slot, sessions, minutes_late (sessions > 0). From the marks in memory, or those
        read for some dates (`marks_between`) when the window is within them; else from the rows the
        check wrote aside, in one pass for every such window (a window holding every date of the data
        counts them all, and any other such window then has the same counts). Kept: each window is
        counted once. None when neither is at hand (a store, exports not read yet, or two pupils whose
        numbers in the rows are equal)."""
        keys = [self._span_of(w) for w in windows]
        missing = [key for key in dict.fromkeys(keys) if key not in self._slots]
        if missing:
            counted = self._count_slots(missing)
            if counted is None:
                return None
            self._slots.update(counted)
        return [self._slots[key] for key in keys]

    def _span_of(self, window: Window | None) -> tuple[dt.date | None, dt.date | None]:
        """A window's dates; (None, None) for one that holds every date of the rows aside."""
        start, end = (window.start, window.end) if window is not None else (None, None)
        if self._span is not None and (start or dt.date.min) <= self._span[0] and (end or dt.date.max) >= self._span[1]:
            return None, None
        return start, end

    def _count_slots(self, keys: list[tuple[dt.date | None, dt.date | None]]) -> dict | None:
        if self._marks is not None:
            return self._marks_by_slot(self._marks, keys)
        counted = {}
        if self._between is not None:  # the windows within the dates whose marks were read
            (low, high), marks = self._between
            inside = [(start, end) for start, end in keys if (low is None or (start is not None and start >= low))
                      and (high is None or (end is not None and end <= high))]
            if inside:
                counted = self._marks_by_slot(marks, inside)
                keys = [key for key in keys if key not in counted]
        if not keys:
            return counted
        ids = self._row_ids()
        if ids is None:
            return None
        grouped = _by_slot(self._rows_aside(), "_pupil", keys).collect(engine="streaming").join(ids, on="_pupil")
        return counted | _split(grouped, keys)

    def _marks_by_slot(self, marks: Marks, keys: list[tuple[dt.date | None, dt.date | None]]) -> dict:
        """`_count_slots` from marks in memory (which keep the unmarked sessions apart)."""
        # streamed: in memory, a group-by of millions of marks by two keys takes gigabytes
        grouped = _by_slot(marks.frame.lazy(), "pupil", keys).collect(engine="streaming").join(marks.pupils, on="pupil")
        counted = _split(grouped, keys)
        blank = pl.lit(self.export.slots.status("unmarked"), dtype=grouped.schema["slot"]).alias("slot")
        for (start, end), counts in counted.items():
            unmarked = (marks.unmarked.filter(_between(start, end)).group_by("pupil_id")
                        .agg(pl.len().cast(pl.Int64).alias("sessions"))
                        .select("pupil_id", blank, "sessions", pl.lit(0, dtype=pl.Int64).alias("minutes_late")))
            counted[(start, end)] = pl.concat([counts, unmarked])
        return counted

    def _row_ids(self) -> pl.DataFrame | None:
        """The rows aside's pupil numbers (`_pupil`) and ids, if the check wrote its rows aside and no
        two pupils' numbers are equal."""
        from attendance_cli.ingest.validate import pupil_hash

        base = self._checked
        if base is None or base.rows_file is None:
            return None
        if self._ids is None:
            ids = base.pupils.select(pupil_hash(pl.col("pupil_id")).alias("_pupil"), "pupil_id")
            self._ids = (ids if ids["_pupil"].n_unique() == ids.height else None,)
        return self._ids[0]

    def _rows_aside(self, mapped: bool = False) -> pl.LazyFrame:
        """The accepted rows and unmarked sessions the checking pass wrote aside (in its pupils'
        enrolment, duplicates left out). Named by its URI, the file is read rather than mapped into
        memory, where each page a pass touches counts towards the command's memory (hundreds of
        megabytes for a large school); `mapped`: mapped, which is quicker, for a pass over a few
        narrow columns while little else is held (the school days)."""
        base = self._checked
        rows = pl.scan_ipc(base.rows_file.as_uri() if os.name == "posix" and not mapped else base.rows_file)
        if "enrolled" in rows.collect_schema().names():
            rows = rows.filter(pl.col("enrolled"))
        slots = self.export.slots
        ok = slots.lookup.filter(pl.col("status") == "ok")["slot"]
        rows = rows.filter(pl.col("slot").is_in(ok.implode()) | (pl.col("slot") == slots.status("unmarked")))
        if base.excluded.height:  # collapsed duplicates
            keys = ["file", "row", "date", "session"]
            rows = rows.join(base.excluded.select(keys).lazy(), on=keys, how="anti", nulls_equal=True)
        return rows

    def _from_slots(self, window: Window | None, attributes: Sequence[str] | None, codes: bool) -> Tally | None:
        """A window's counts from the marks in memory or the rows aside (`slot_counts`), with the whole
        check's report and pupils; None if neither is at hand, or the rows aside lack an attribute
        (then the exports are counted)."""
        base = self._checked
        if self._marks is None and attributes is not None and not set(attributes) <= set(base.pupils.columns):
            return None
        counted = self.slot_counts([window])
        if counted is None:
            return None
        grouped = counted[0]
        marks = self._marks
        lookup = marks.lookup if marks is not None else self.export.slots.lookup.filter(pl.col("status") == "ok")
        lookup = lookup.select("slot", "code", "category", "late", "closure")
        counts = grouped.join(lookup, on="slot").drop("slot")
        present = lookup.join(grouped.select(pl.col("slot").unique()), on="slot")
        if present["code"].n_unique() < present.height:  # a code's spellings or eras, each a slot: one row each
            counts = (counts.group_by("pupil_id", "code", "category", "late", "closure")
                      .agg(pl.col("sessions").sum(), pl.col("minutes_late").sum()))
        counts = self._shaped(counts, codes)
        unmarked = (grouped.filter(pl.col("slot") == self.export.slots.status("unmarked")).group_by("pupil_id")
                    .agg(pl.col("sessions").sum())
                    .select("pupil_id", pl.lit(SCOPE_COUNTED, dtype=pl.UInt8).alias("scope"), "sessions"))
        return self._tally(base, window, counts, unmarked, attributes, codes)

    def marks_between(self, start: dt.date | None, end: dt.date | None) -> Marks:
        """The accepted marks from `start` to `end` (None: open) as `Marks`, the pupils numbered as in
        `marks` (every pupil with a mark, in id order): from the marks in memory, else only these
        dates of the rows the check wrote aside (the year's marks are never all held), else `marks`."""
        from attendance_cli.rules.marks import Marks

        between = _between(start, end)
        ids = self._row_ids() if self._marks is None else None
        if ids is None:
            marks = self.marks
            return Marks(marks.frame.filter(between), marks.pupils, marks.lookup, marks.lessons,
                         unmarked=marks.unmarked.filter(between))
        if self._between is not None and self._between[0] == (start, end):
            return self._between[1]
        if self._marked is None:  # every pupil with a mark (the check counted), numbered in id order as `marks` are
            counted = self._checked.counts.filter((pl.col("scope") == SCOPE_COUNTED) & (pl.col("sessions") > 0))
            self._marked = (counted.select(pl.col("pupil_id").unique().sort()).with_row_index("pupil")
                            .select(pl.col("pupil").cast(pl.UInt32), "pupil_id"))
        pupils = self._marked
        lookup = self.export.slots.lookup.filter(pl.col("status") == "ok").select("slot", "code", "category", "late", "closure")
        numbers = ids.join(pupils, on="pupil_id", how="left").select("_pupil", "pupil")  # (null: no mark)
        rows = (self._rows_aside().filter(between)
                .select("_pupil", "date", "session", "slot", pl.col("minutes_late").cast(pl.Int16))
                .join(numbers.lazy(), on="_pupil", how="left", maintain_order="left")  # (as the rows pass: cheap)
                .collect(engine="streaming"))
        blank = pl.col("slot") == self.export.slots.status("unmarked")
        unmarked = rows.filter(blank).join(ids, on="_pupil", maintain_order="left").select("pupil_id", "date")
        frame = rows.filter(~blank).select("pupil", "date", "session", "slot", "minutes_late")
        ordered = frame.select(((pl.col("pupil") > pl.col("pupil").shift(1))
                                | ((pl.col("pupil") == pl.col("pupil").shift(1))
                                   & ((pl.col("date") > pl.col("date").shift(1))
                                      | ((pl.col("date") == pl.col("date").shift(1))
                                         & (pl.col("session") >= pl.col("session").shift(1))))))
                               .fill_null(True).all()).item()
        if not ordered:
            frame = frame.sort("pupil", "date", "session")
        marks = Marks(frame, pupils, lookup, False, unmarked=unmarked)  # (rows are set aside for session registers only)
        self._between = ((start, end), marks)  # (these dates' counts are then counted from them)
        return marks

    def _from_store(self, store: Store, window: Window | None, attributes: Sequence[str] | None, codes: bool) -> Tally:
        counts, unmarked = store.counts(self.export.slots, window.start if window else None, window.end if window else None,
                                        codes=codes)
        counts = self._shaped(counts, codes)
        report = self._store_report(store, window, counts, unmarked)
        pupils = store.pupils(list(attributes) if attributes is not None else self.export.attributes)
        from attendance_cli.ingest.validate import tidy_pupils

        pupils = tidy_pupils(pupils)
        empty = pl.DataFrame(schema={"file": pl.UInt16, "row": pl.UInt32, "date": pl.Date, "session": pl.String})
        return Tally(self.export, window, [], report, counts, pupils, empty, unmarked, codes, None)

    def _store_report(self, store: Store, window: Window | None, counts: pl.DataFrame, unmarked: pl.DataFrame):
        from attendance_cli.ingest.validate import report_from_dict

        report = report_from_dict(store.info.get("report", {}))
        notes = store.changed_exports()
        if notes and report.files:
            first = report.files[0]
            first.encoding_note = "; ".join([*([first.encoding_note] if first.encoding_note else []), *notes])
        # the marks and pupils read are the store's all (as a check of the exports reports them)
        return replace(report, window=window.describe() if window else "all dates in the data",
                       unmarked_in_window=int(unmarked["sessions"].sum() or 0))

    @staticmethod
    def _shaped(counts: pl.DataFrame, codes: bool) -> pl.DataFrame:
        """Counts in `Tally.counts`' columns: per code, or (codes=False) one total per pupil."""
        counts = counts.filter(pl.col("sessions") > 0)
        if not codes:
            counts = (counts.group_by("pupil_id").agg(pl.col("sessions").sum(), pl.col("minutes_late").sum())
                      .with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in ("code", "category", "late"))
                      .with_columns(pl.lit(None, dtype=pl.Boolean).alias("closure")))
        return counts.select("pupil_id", pl.lit(SCOPE_COUNTED, dtype=pl.UInt8).alias("scope"), "sessions", "minutes_late",
                             "code", "category", "late", "closure")

    def _tally(self, base: Tally, window: Window | None, counts: pl.DataFrame, unmarked: pl.DataFrame,
               attributes: Sequence[str] | None, codes: bool) -> Tally:
        wanted = [c for c in base.pupils.columns if c == "pupil_id" or attributes is None or c in attributes]
        # the marks and pupils read are the check's (every mark read, as a tally of the window reports
        # them); only what is counted in the window is the window's
        report = replace(base.report, window=window.describe() if window else "all dates in the data",
                         unmarked_in_window=int(unmarked["sessions"].sum() or 0),
                         code_counts=None if not codes else base.report.code_counts)
        return Tally(self.export, window, [], report, counts, base.pupils.select(wanted), base.excluded, unmarked, codes,
                     base.runs)


def _between(start: dt.date | None, end: dt.date | None) -> pl.Expr:
    return pl.col("date").is_between(pl.lit(start or dt.date.min), pl.lit(end or dt.date.max))


def _by_slot(rows: pl.LazyFrame, pupil: str, keys: list[tuple[dt.date | None, dt.date | None]]) -> pl.LazyFrame:
    """Each window's (its dates') marks summed per pupil and slot: sessions_0, minutes_late_0, sessions_1,
    ... Only the dates the windows span are read; one window's marks are counted, several windows' each
    summed as a column (quicker than a filter in the group-by)."""
    starts, ends = [start for start, _ in keys], [end for _, end in keys]
    if None not in starts or None not in ends:
        rows = rows.filter(_between(None if None in starts else min(starts), None if None in ends else max(ends)))
    if len(keys) == 1:
        return rows.group_by(pupil, "slot").agg(pl.len().cast(pl.Int64).alias("sessions_0"),
                                                pl.col("minutes_late").sum().cast(pl.Int64).alias("minutes_late_0"))
    columns = []
    for i, (start, end) in enumerate(keys):
        inside = _between(start, end)
        columns += [inside.cast(pl.Int64).alias(f"sessions_{i}"),
                    pl.when(inside).then(pl.col("minutes_late").cast(pl.Int64)).alias(f"minutes_late_{i}")]
    return rows.select(pupil, "slot", *columns).group_by(pupil, "slot").sum()


def _split(grouped: pl.DataFrame, keys: list[tuple[dt.date | None, dt.date | None]]) -> dict:
    """The counts of `_by_slot`, one frame per window (pupil_id, slot, sessions, minutes_late)."""
    return {key: grouped.select("pupil_id", "slot", pl.col(f"sessions_{i}").alias("sessions"),
                                pl.col(f"minutes_late_{i}").alias("minutes_late")).filter(pl.col("sessions") > 0)
            for i, key in enumerate(keys)}
