"""Ingest: read register exports into canonical rows, check every row, count the marks.

    open_exports(paths, options)  -> Export   (cheap: encodings, headers and layouts only)
    tally(export, window, by)     -> Tally    (one pass over the data: every row accounted for)

`Tally` holds the validation report, the pupils frame and the mark counts that statistics are
computed from; `Tally.marks()` gives the accepted rows themselves for stages that need them.
"""

from attendance_cli.ingest.exports import Export, IngestOptions, open_exports
from attendance_cli.ingest.validate import FileReport, Tally, ValidationReport, tally

__all__ = ["Export", "FileReport", "IngestOptions", "Tally", "ValidationReport", "open_exports", "tally"]
