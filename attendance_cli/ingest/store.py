"""The checked store: the data set `attendance ingest -o store.parquet` writes and every command reads.

One Parquet file, readable by any tool: one row per accepted, de-duplicated mark (and per unmarked
session, with no code), sorted by pupil, date and session, with where each mark came from
(`source_file`, `source_line`) and the pupil's number (`pupil`: 0, 1, ... in pupil id order, so a
reader can count by a small integer instead of an id); and in the file's metadata the pupils'
details (from their latest export), the validation report, the code table and each export's
fingerprint (size and time).

Reading it back is cheap: the rows were checked when the store was written, so commands count
them directly (`counts`, `compact_marks`) instead of checking their text again. Only what the
store cannot answer that way (the DfE cohort, grouping by a lesson's subject) reads it as an
export (`exports._open_parquet`), with identical results.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from attendance_cli.ingest.canonical import SESSION, MarkSlots
from attendance_cli.ingest.exports import PARQUET_KEY, Export
from attendance_cli.ingest.headers import LESSON_FIELDS
from attendance_cli.ingest.validate import Tally
from attendance_cli.outputs import atomic_write

if TYPE_CHECKING:
    from attendance_cli.rules.marks import Marks

#: Version 2 stores hold unmarked sessions, the validation report and the exports' fingerprints;
#: version 3 each row's pupil number; version 4 each code as one of the code table's tokens (an
#: Enum: counted by its number, not its text). An earlier store is read as an export (the same
#: figures, slower).
STORE_VERSION = 5


def canonical_marks(result: Tally) -> pl.LazyFrame:
    """Accepted, de-duplicated marks and unmarked sessions, one row each, with the pupil's details."""
    export = result.export
    present = set().union(*(f.fields for f in export.files))
    lesson = [f for f in LESSON_FIELDS if f in present]
    names = export.file_info().select("file", pl.col("short_name").alias("source_file"), "data_start")
    rows = result.marks(unmarked=True)
    if "enrolled" in rows.collect_schema().names():  # marks outside admission and leaving dates are never counted
        rows = rows.filter(pl.col("enrolled"))
    numbers = result.pupils.select(pl.col("pupil_id").sort()).with_row_index("pupil").lazy()
    marks = (rows
             .join(names.lazy(), on="file", how="left", maintain_order="left")
             .join(numbers, on="pupil_id", how="left", maintain_order="left")
             .with_columns((pl.col("row").cast(pl.Int64) + pl.col("data_start") + 1).alias("source_line"))
             .select("pupil_id", "date", "session", *lesson, pl.col("code").cast(export.slots.token_enum), "minutes_late",
                     "source_file", "source_line",
                     pl.col("pupil").cast(pl.UInt32)))
    if result.runs is not None and not lesson and len(export.files) == 1 and _in_order(result):
        return marks  # one export, each pupil's rows together and in order, pupils in id order: as it is
    return marks.sort("pupil_id", "date", "session", *lesson)


def _in_order(result: Tally) -> bool:
    """Whether the pupils' runs of rows come in pupil id order (the rows within each are in order)."""
    ids = result.runs["pupil_id"]
    return ids.is_sorted() and ids.n_unique() == ids.len()


def write_canonical(result: Tally, path: Path) -> None:
    """Write the store, whole or not at all."""
    export = result.export
    info = {"codes": export.options.codes.name, "tokens": list(export.slots.tokens), "shape": export.shape,
            "version": STORE_VERSION, "extras": sorted({e for f in export.files for e in f.extras}),
            "sources": [str(f.path) for f in export.files],
            "fingerprints": [_fingerprint(f.path) for f in export.files],
            "written": dt.datetime.now().isoformat(timespec="seconds"),
            "report": result.report.as_dict(),
            "pupils": result.pupils.to_dict(as_series=False),
            "history": _history(result)}
    frame = canonical_marks(result)
    atomic_write(path, lambda temp: frame.sink_parquet(temp, metadata={PARQUET_KEY.decode(): json.dumps(info)}))


def _history(result: Tally) -> dict[str, list]:
    """How the pupils' details changed (`validate.detail_history`), dates as ISO text (JSON): kept for
    exports over more than one school year, where year groups change. (Within one school year it is not
    kept: finding it costs a second read of the exports and, for 60,000 pupils, gigabytes; a past window
    of the same school year from the store is grouped by the pupils' latest forms.)"""
    from attendance_cli.calendar import school_year_start
    from attendance_cli.ingest.validate import HISTORY, detail_history

    first, last = result.report.first_date, result.report.last_date
    if first is None or last is None or school_year_start(first) == school_year_start(last):
        return {c: [] for c in HISTORY}
    history = detail_history(result.export.rows, result.export.attributes)
    return history.with_columns(pl.col(c).cast(pl.String) for c in ("from_date", "first_date", "last_date")) \
        .to_dict(as_series=False)


def _fingerprint(path: Path) -> dict[str, object]:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "modified": stat.st_mtime_ns}


@dataclass(frozen=True)
class Store:
    """A store opened for reading: its rows (lazy) and what its metadata says."""

    path: Path
    info: dict

    @property
    def rows(self) -> pl.LazyFrame:
        return pl.scan_parquet(self.path)

    @property
    def lessons(self) -> bool:
        return self.info.get("shape") == "lessons"

    def changed_exports(self) -> list[str]:
        """Exports the store was written from that have changed since (size or time), as messages."""
        notes = []
        for print_ in self.info.get("fingerprints", []):
            source = Path(print_["path"])
            if not source.exists():
                continue
            stat = source.stat()
            if stat.st_size != print_["size"] or stat.st_mtime_ns != print_["modified"]:
                notes.append(f"{source} has changed since this store was written ({self.info.get('written', 'earlier')}); "
                             f"run 'attendance ingest' again to count it")
        return notes

    def counts(self, slots: MarkSlots, start: dt.date | None, end: dt.date | None,
               codes: bool = True) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Marks per pupil and code in a window, as `Tally.counts` has them, and unmarked sessions per
        pupil (`Tally.unmarked`), counted straight from the checked rows. `codes=False`: marks per
        pupil in total (code, category, late and closure null)."""
        from attendance_cli.ingest.scope import SCOPE_COUNTED

        window = pl.col("date").is_between(pl.lit(start or dt.date.min), pl.lit(end or dt.date.max))
        # by one number per pupil and code (no ids or codes to hash): pupil x 2^16 + the code's token
        # number, 2^16 - 1 for an unmarked session (without codes: 0 for a mark)
        unmarked_token = (1 << 16) - 1
        if codes:
            token = pl.col("code").cast(slots.token_enum).to_physical().cast(pl.UInt64).fill_null(unmarked_token)
        else:
            token = pl.when(pl.col("code").is_null()).then(unmarked_token).otherwise(0).cast(pl.UInt64)
        grouped = (self.rows.filter(window)
                   .group_by((pl.col("pupil").cast(pl.UInt64) * (1 << 16) + token).alias("_key"))
                   .agg(pl.len().cast(pl.Int64).alias("sessions"), pl.col("minutes_late").sum().cast(pl.Int64).alias("minutes_late"))
                   .collect(engine="streaming")
                   .with_columns((pl.col("_key") // (1 << 16)).cast(pl.UInt32).alias("pupil"), (pl.col("_key") % (1 << 16)).alias("_token"))
                   .join(self.numbers, on="pupil", how="left"))
        scope = pl.lit(SCOPE_COUNTED, dtype=pl.UInt8).alias("scope")
        blank = pl.col("_token") == unmarked_token
        unmarked = grouped.filter(blank).select("pupil_id", scope, "sessions")
        if not codes:
            nothing = [pl.lit(None, dtype=pl.String).alias(c) for c in ("code", "category", "late")]
            counts = grouped.filter(~blank).select("pupil_id", scope, "sessions", "minutes_late", *nothing,
                                                   pl.lit(None, dtype=pl.Boolean).alias("closure"))
            return counts, unmarked
        tokens = pl.DataFrame({"_token": range(len(slots.token_enum.categories)),
                               "code": slots.token_enum.categories}, schema={"_token": pl.UInt64, "code": pl.String})
        kinds = slots.lookup.filter(pl.col("status") == "ok").select("code", "category", "late", "closure").unique("code")
        counts = (grouped.filter(~blank).join(tokens, on="_token", how="left").join(kinds, on="code", how="left")
                  .select("pupil_id", scope, "sessions", "minutes_late", "code", "category", "late", "closure"))
        return counts, unmarked

    @property
    def pupil_table(self) -> pl.DataFrame:
        """One row per pupil with their details, as the check that wrote the store had them."""
        data = self.info.get("pupils", {"pupil_id": []})
        return pl.DataFrame(data, schema={c: pl.String for c in data})

    @cached_property
    def numbers(self) -> pl.DataFrame:
        """Each pupil's number (the store's `pupil` column) and id."""
        return (self.pupil_table.select(pl.col("pupil_id").sort()).with_row_index("pupil")
                .with_columns(pl.col("pupil").cast(pl.UInt32)))

    def pupils_as_of(self, pupils: pl.DataFrame, end: dt.date) -> pl.DataFrame:
        """`pupils` with their details as they were on `end` (`validate.history_as_of`), from the
        history of their details the store keeps."""
        from attendance_cli.ingest.validate import HISTORY, history_as_of

        text = {c: pl.Int64 if c == "order" else pl.String for c in HISTORY}  # dates as ISO text
        history = pl.DataFrame(self.info.get("history") or {c: [] for c in HISTORY}, schema=text).with_columns(
            pl.col(c).str.to_date("%Y-%m-%d") for c, dtype in HISTORY.items() if dtype == pl.Date)
        return history_as_of(history, pupils, end)

    def pupils(self, attributes: list[str]) -> pl.DataFrame:
        table = self.pupil_table
        return table.select("pupil_id", *[a for a in dict.fromkeys(attributes) if a in table.columns and a != "pupil_id"])

    @staticmethod
    def _slot(slots: MarkSlots) -> pl.Expr:
        """Each row's mark slot (MarkSlots), from its code's token and its date's code era."""
        token = pl.col("code").cast(slots.token_enum).to_physical().cast(pl.UInt16)
        return (pl.when(pl.col("code").is_null()).then(slots.status("unmarked"))
                .otherwise(slots.era_expr(pl.col("date")) * len(slots.tokens) + token).cast(pl.UInt16))

    def school_days(self, slots: MarkSlots) -> tuple[list[dt.date], dt.date | None]:
        """School days and the last date with a mark (calendar.school_days_in), from the dates and
        codes alone (the marks are not read into memory)."""
        from attendance_cli.calendar import school_days_in

        open_slots = slots.lookup.filter((pl.col("status") == "ok") & ~pl.col("closure"))["slot"].implode()
        rows = self.rows.filter(pl.col("code").is_not_null()).select("date", self._slot(slots).alias("slot"))
        return school_days_in(rows, pl.lit(True), pl.col("slot").is_in(open_slots))

    def compact(self, slots: MarkSlots, minutes: bool = True, pupils: tuple[int, int] | None = None) -> Marks:
        """The accepted marks in the rules' compact form (`rules.marks.Marks`): pupils numbered in id
        order, marks sorted by pupil, date and session (as the store is).
        `pupils`: only those numbered from the first to the second (the rows are sorted by pupil:
        the Parquet reader skips the other row groups)."""
        from attendance_cli.rules.marks import split_unmarked

        lookup = slots.lookup.filter(pl.col("status") == "ok").select("slot", "code", "category", "late", "closure")
        if self.lessons:
            names = self.rows.collect_schema().names()
            parts = [pl.col(c).cast(pl.String) for c in ("start_time", "period", "event_id", "subject") if c in names]
            session = pl.concat_str(parts, separator=" ", ignore_nulls=True) if parts else pl.lit("lesson")
        else:
            session = pl.col("session").cast(SESSION)
        extra = [pl.col("minutes_late").cast(pl.Int16)] if minutes else []
        rows, numbers = self.rows, self.numbers
        if pupils is not None:
            rows = rows.filter(pl.col("pupil").is_between(*pupils))
            numbers = numbers.filter(pl.col("pupil").is_between(*pupils))
        # the pupil's number, not the id: tens of millions of id strings are never read
        frame = (rows.select("pupil", "date", session.alias("session"), self._slot(slots).alias("slot"), *extra)
                 .collect(engine="streaming"))
        if self.lessons or not _sorted(frame):
            frame = frame.sort("pupil", "date", "session")
        return split_unmarked(frame, numbers.select("pupil", "pupil_id"), lookup, self.lessons, slots.status("unmarked"))

    def mark_batches(self, slots: MarkSlots) -> StoreMarks:
        return StoreMarks(self, slots)


@dataclass(frozen=True)
class StoreMarks:
    """The store's marks for the rules (rules.engine.MarkSource), read a batch of pupils at a time:
    only one batch's marks are in memory at once."""

    store: Store
    slots: MarkSlots

    @cached_property
    def first_date(self) -> dt.date | None:
        return self.store.rows.filter(pl.col("code").is_not_null()).select(pl.col("date").min()).collect().item()

    def batches(self, rows: int) -> Iterator[Marks]:
        """Batches of about `rows` marks (pupils have about as many marks each), at least one."""
        total = self.store.rows.select(pl.len()).collect().item()
        pupils = self.store.numbers.height
        size = max(1, pupils * rows // max(total, 1))
        for low in range(0, max(pupils, 1), size):
            yield self.store.compact(self.slots, minutes=False, pupils=(low, low + size - 1))


def _sorted(frame: pl.DataFrame) -> bool:
    later = ((pl.col("pupil") > pl.col("pupil").shift(1))
             | ((pl.col("pupil") == pl.col("pupil").shift(1))
                & ((pl.col("date") > pl.col("date").shift(1))
                   | ((pl.col("date") == pl.col("date").shift(1)) & (pl.col("session") > pl.col("session").shift(1))))))
    return bool(frame.select(later.fill_null(True).all()).item())


def open_store(path: Path, info: dict | None = None) -> Store | None:
    """The store at `path`, or None if it is a Parquet file of the first version (read as an export)."""
    if info is None:
        info = json.loads(pl.read_parquet_metadata(path).get(PARQUET_KEY.decode(), "{}"))
    if info.get("version", 1) < STORE_VERSION:
        return None
    return Store(path, info)


def single_store(export: Export) -> Store | None:
    """The store, when the data set is exactly one store file (the fast paths)."""
    if len(export.files) != 1 or export.files[0].layout.name != "canonical-parquet":
        return None
    store = open_store(export.files[0].path, export.files[0].store_info)
    if store is None or store.info.get("tokens") != list(export.slots.tokens):
        return None
    return store
