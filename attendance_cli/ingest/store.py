"""Canonical marks written to Parquet by `attendance ingest -o`, read back by every command."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from attendance_cli.ingest.exports import PARQUET_KEY
from attendance_cli.ingest.headers import LESSON_FIELDS
from attendance_cli.ingest.validate import Tally
from attendance_cli.outputs import atomic_write


def canonical_marks(result: Tally) -> pl.LazyFrame:
    """Accepted, de-duplicated marks, one row each, with the pupil's details (latest export)."""
    export = result.export
    present = set().union(*(f.fields for f in export.files))
    lesson = [f for f in LESSON_FIELDS if f in present]
    names = export.file_info().select("file", pl.col("short_name").alias("source_file"), "data_start")
    marks = (result.marks()
             .join(names.lazy(), on="file", how="left")
             .with_columns((pl.col("row").cast(pl.Int64) + pl.col("data_start") + 1).alias("source_line"))
             .select("pupil_id", "date", "session", *lesson, "code", "minutes_late", "source_file", "source_line"))
    return (marks.join(result.pupils.lazy(), on="pupil_id", how="left")
            .sort("pupil_id", "date", "session", *lesson))


def write_canonical(result: Tally, path: Path) -> None:
    """Write the canonical marks to Parquet, whole or not at all."""
    export = result.export
    info = {"codes": export.options.codes.name, "shape": export.shape,
            "extras": sorted({e for f in export.files for e in f.extras}),
            "sources": [str(f.path) for f in export.files]}
    frame = canonical_marks(result)
    atomic_write(path, lambda temp: frame.sink_parquet(temp, metadata={PARQUET_KEY.decode(): json.dumps(info)}))
