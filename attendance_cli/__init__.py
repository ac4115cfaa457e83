"""attendance: a command-line toolkit for school and college attendance officers."""

import os

__version__ = "0.1.0"

# Polars' streaming group-by keeps the groups it meets often in a "hot" table that grows, as far as
# this size, when the same keys keep missing it. Counting a pupil's marks by code in an export not
# kept by pupil (rows by date, or in no order) meets each of a year's 700,000 pupil-and-code groups
# dozens of times: with Polars' default cap (131,072) most rows miss, and the groups are set aside
# and merged again (60,000 pupils shuffled: 14 s and 3 GB; with this cap, 10 s and 1.2 GB). An
# export kept by pupil never grows the table. Read when Polars is imported, so set here, before the
# package imports it; a value the user sets in the environment is kept.
os.environ.setdefault("POLARS_MAX_HOT_TABLE_SIZE", str(1 << 21))
