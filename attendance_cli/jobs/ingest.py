"""`ingest`: every row checked and accounted for; optionally the checked store written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attendance_cli.dataset import Dataset
    from attendance_cli.ingest import Tally


@dataclass(frozen=True)
class IngestResult:
    tally: Tally  # its report is the validation report
    store: Path | None  # the checked store written, if asked for

    @property
    def report(self):
        return self.tally.report


def ingest(data: Dataset, store: Path | None = None) -> IngestResult:
    """Check every row (the whole data set, every date); with `store`, write the checked store
    (`attendance ingest -o`) that every command reads in place of the exports."""
    result = data.tally()
    if store is not None:
        from attendance_cli.ingest.store import write_canonical

        write_canonical(result, store)
    return IngestResult(result, store)
