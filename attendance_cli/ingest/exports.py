"""Open a set of exports (and canonical Parquet files) as one data set."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from attendance_cli.codes import CodeTable
from attendance_cli.errors import InputError, UsageError
from attendance_cli.ingest.canonical import MarkSlots, canonicalise
from attendance_cli.ingest.headers import PUPIL_FIELDS, ColumnMap, Layout
from attendance_cli.ingest.reader import SourceFile, open_export


@dataclass
class IngestOptions:
    """Everything that changes how exports are read."""

    codes: CodeTable
    source: str | None = None
    maps: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    blank_means: str | None = None
    lenient: bool = False
    duplicates: Literal["error", "keep-last"] = "error"


@dataclass
class Export:
    """Several exports opened as one data set (nothing has been read beyond their headers)."""

    files: list[SourceFile]
    options: IngestOptions
    slots: MarkSlots
    shape: str  # "sessions" or "lessons"

    @property
    def rows(self) -> pl.LazyFrame:
        """Every file's canonical rows, one after another."""
        return self.rows_of(self.files)

    @staticmethod
    def rows_of(files: list[SourceFile]) -> pl.LazyFrame:
        """The canonical rows of some of the files, one after another."""
        frames = [f.frame for f in files]
        return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")

    def file_info(self) -> pl.DataFrame:
        """Per file: index, path, short name, first data line and the mark column's header."""
        def mark_header(f: SourceFile) -> str:
            fields = f.layout.columns.fields
            return f.layout.headers[fields["mark"]] if "mark" in fields else "mark"

        return pl.DataFrame({
            "file": [f.index for f in self.files], "file_name": [f.name for f in self.files],
            "short_name": [f.path.name for f in self.files], "data_start": [f.data_start for f in self.files],
            "mark_header": [mark_header(f) for f in self.files],
        }, schema={"file": pl.UInt16, "file_name": pl.String, "short_name": pl.String, "data_start": pl.Int64,
                   "mark_header": pl.String})

    @property
    def attributes(self) -> list[str]:
        """Pupil columns present in at least one file, in a stable order."""
        present = set().union(*(f.fields for f in self.files))
        known = [f for f in ("full_name", *PUPIL_FIELDS) if f in present]
        extras = sorted({e for f in self.files for e in f.extras})
        return known + [e for e in extras if e not in known]

    @property
    def mark_fields(self) -> list[str]:
        """Columns that describe a mark rather than a pupil (can be grouped by)."""
        present = set().union(*(f.fields for f in self.files))
        return [f for f in ("start_time", "end_time", "period", "event_id", "group_code", "subject") if f in present]


def open_exports(paths: list[Path], options: IngestOptions) -> Export:
    """Open every file; refuse a mix of session and lesson registers."""
    if not paths:
        raise InputError("No export files given.", fix="Name one or more CSV exports, e.g. attendance summary marks.csv")
    slots = MarkSlots(options.codes)
    files = []
    for index, path in enumerate(paths):
        if path.suffix.lower() == ".parquet":
            files.append(_open_parquet(path, index, slots))
        else:
            files.append(open_export(path, index, slots=slots, maps=options.maps, source=options.source,
                                     encoding=options.encoding, blank_means=options.blank_means))
    _check_maps(files, options.maps)
    shapes = {"lessons" if f.layout.shape == "lessons" else "sessions" for f in files}
    if len(shapes) > 1:
        kinds = ", ".join(f"{f.path.name} ({f.layout.name})" for f in files)
        raise InputError(f"Session registers and lesson registers cannot be combined: {kinds}.",
                         fix="Run the command once for the session (AM/PM) exports and once for the lesson exports.")
    return Export(files, options, slots, shapes.pop())


def _check_maps(files: list[SourceFile], maps: dict[str, str]) -> None:
    """A --map whose header no export has is a mistyped header (`Pupil Reff`): refused, as it would
    otherwise leave the column it meant to choose to the aliases, unsaid."""
    from attendance_cli.ingest.headers import normalise

    read = [f for f in files if f.layout.name != "canonical-parquet"]
    seen = {normalise(h) for f in read for h in f.layout.headers}
    for header, target in maps.items():
        if read and header not in seen:
            headers = ", ".join(repr(h) for h in read[0].layout.headers if h.strip())
            raise UsageError(f"--map: no export has a column matching {header!r} (to read as {target}; headers are "
                             "matched ignoring case, spaces, _, - and .).",
                             fix=f"Copy the header as the export writes it. {read[0].name} has: {headers}.")


# -- canonical Parquet written by `attendance ingest -o` ---------------------------------------

PARQUET_KEY = b"attendance_cli"


def _open_parquet(path: Path, index: int, slots: MarkSlots) -> SourceFile:
    """A canonical Parquet file (from `attendance ingest -o`) read back as a source."""
    import json

    try:
        meta = pl.read_parquet_metadata(path)
        info = json.loads(meta.get(PARQUET_KEY.decode(), "{}"))
    except (pl.exceptions.PolarsError, OSError, ValueError) as error:  # cut short in copying, or not Parquet
        reason = str(error).splitlines()[0].removeprefix("parquet: ")
        raise InputError(f"{path}: not a whole Parquet file ({reason}).",
                         fix="Copy it again, or write it again with 'attendance ingest FILE... -o marks.parquet'; "
                             "or give the CSV exports.") from None
    if not info:
        raise InputError(f"{path}: this Parquet file was not written by 'attendance ingest'.",
                         fix="Give the original CSV exports, or write the Parquet file with 'attendance ingest FILE... -o marks.parquet'.")
    if info.get("codes") != slots.codes.name:
        raise InputError(f"{path}: was ingested with the code table {info.get('codes')!r}, not {slots.codes.name!r}.",
                         fix=f"Pass --codes {info.get('codes')} or ingest the exports again.")
    shape = info["shape"]
    raw = pl.scan_parquet(path).with_row_index("row").with_columns(pl.col("code").cast(pl.String))
    if "pupils" in info:  # a version-2 store keeps each pupil's details once, in its metadata
        from attendance_cli.ingest.store import Store

        raw = raw.join(Store(path, info).pupil_table.lazy(), on="pupil_id", how="left", maintain_order="left")
    schema = raw.collect_schema()
    present = set(schema.names()) - {"row", "source_file", "source_line", "code", "pupil"}

    raw = raw.with_columns(pl.col("code").alias("mark"), pl.col("session").cast(pl.String),
                           pl.col("minutes_late").cast(pl.String))
    frame = canonicalise(raw, present | {"mark"}, file_index=index, slots=slots, date_formats=[],
                         shape=shape, date_is_parsed=True)
    frame = frame.with_columns(pl.lit(True).alias("enrolled"))
    layout = Layout("lessons" if shape == "lessons" else "sessions", "canonical", "canonical-parquet", 0, 0, [],
                    ColumnMap())
    fields = present & (set(PUPIL_FIELDS) | {"pupil_id", "date", "session", "mark", "minutes_late",
                                              "start_time", "end_time", "period", "event_id", "group_code", "subject"})
    extras = [c for c in info.get("extras", []) if c in present]
    return SourceFile(path, index, "parquet", None, layout, -1, [], fields | set(extras), extras, frame, raw,
                      store_info=info)

