"""The floor `make bench` measures `attendance summary` against.

A minimal hand-written Polars group-by that produces the same per-pupil table from the same file
(names, possible/attended/authorised/unauthorised sessions, lates, minutes late), with none of
the checking: no encoding or layout detection, no date parsing, no unknown-code or duplicate
checks, no report. Usage: python bench/floor.py EXPORT.csv > out.csv
"""

import sys

import polars as pl

PRESENT = ["/", "\\", "L", "K", "V", "P", "W", "B"]
AUTHORISED = ["C1", "M", "J1", "S", "C2", "C", "T", "R", "I", "E"]
UNAUTHORISED = ["G", "U", "O", "N"]

mark = pl.col("Mark")
result = (
    pl.scan_csv(sys.argv[1], infer_schema=False)
    .group_by("Student ID")
    .agg(
        pl.col("Legal Surname", "Legal Forename", "Year Group", "Registration Form").first(),
        mark.is_in(PRESENT + AUTHORISED + UNAUTHORISED).sum().alias("possible_sessions"),
        mark.is_in(PRESENT).sum().alias("attended_sessions"),
        mark.is_in(AUTHORISED).sum().alias("authorised_absences"),
        mark.is_in(UNAUTHORISED).sum().alias("unauthorised_absences"),
        (mark == "L").sum().alias("late_before_close"),
        (mark == "U").sum().alias("late_after_close"),
        pl.col("Minutes Late").cast(pl.Int64, strict=False).sum().alias("minutes_late"),
    )
    .collect(engine="streaming")
)
result.write_csv(sys.stdout)
