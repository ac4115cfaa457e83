"""What a pass counts: each row's *scope* within a window (calendar.windows).

A row's scope says whether it is counted: inside the window and the pupil's enrolment (admission
and leaving dates), and with `--cohort dfe` inside the DfE's national cohort. Rows out of scope
are still read, checked and accounted for; they are only not counted.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from attendance_cli.calendar.windows import Window
from attendance_cli.ingest.exports import Export
from attendance_cli.ingest.reader import SourceFile

SCOPE_COUNTED, SCOPE_OUTSIDE_WINDOW, SCOPE_NOT_ENROLLED = 0, 1, 2
SCOPE_OUTSIDE_COHORT, SCOPE_AGE_UNKNOWN = 3, 4  # only when the DfE cohort is counted


#: With the DfE cohort, marks are also counted per period (school year, and whether in its sixth
#: half term); each pupil's periods are kept or left out by their age once the pass is done.
COHORT_PERIOD = "_cohort_period"

#: With inner windows (Window.inner), which of them each row is in: bit i for the i-th.
PERIODS = "_periods"


def scoped(export: Export, window: Window | None, files: Sequence[SourceFile] | None = None) -> pl.LazyFrame:
    """The canonical rows of the files (default: all) with each row's `scope`."""
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
    if window is not None and window.inner:
        rows = rows.with_columns(pl.sum_horizontal(
            [inner.expr().cast(pl.UInt8) * (1 << i) for i, inner in enumerate(window.inner)]).cast(pl.UInt8).alias(PERIODS))
    if window is not None and window.dfe_cohort:
        from attendance_cli.statistics.cohort import period

        # which school year, and whether in its sixth half term: marks are counted per period, and
        # each pupil's periods are kept or left out by their age once the pass is done
        rows = rows.with_columns(period(pl.col("date")).alias(COHORT_PERIOD))
    return rows
