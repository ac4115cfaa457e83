"""`ingest`: every row checked and accounted for; optionally the checked store written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attendance_cli.dataset import Dataset
    from attendance_cli.ingest import Tally
    from attendance_cli.ingest.quality import Quality


@dataclass(frozen=True)
class IngestResult:
    tally: Tally  # its report is the validation report
    store: Path | None  # the checked store written, if asked for
    quality: Quality | None = None  # the data-quality findings (ingest.quality)

    @property
    def report(self):
        return self.tally.report


def ingest(data: Dataset, store: Path | None = None, quality: bool = True) -> IngestResult:
    """Check every row (the whole data set, every date); with `store`, write the checked store
    (`attendance ingest -o`) that every command reads in place of the exports; with `quality`, what the
    registers leave undone (unmarked sessions, missing days, unresolved N, marks outside enrolment)."""
    result = data.tally()
    if store is not None:
        from attendance_cli.ingest.store import write_canonical

        write_canonical(result, store)
    found = None
    if quality and data.store is None:  # a store holds the accepted marks only: the exports are needed
        from attendance_cli.ingest.quality import data_quality

        days, last = data.dates
        found = data_quality(data.export, days, last)
    return IngestResult(result, store, found)
