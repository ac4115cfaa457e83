"""The staff file: who receives each form's (or year group's) digest.

    form,name,email
    5B,Ms K. Patel,k.patel@brooklane.example.org
    5B,Mr D. Okoro,d.okoro@brooklane.example.org

One row per member of staff and group (several rows for a group: each gets the digest). With
`--by year_group` the first column is `year_group`. Headers in any case.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from attendance_cli.errors import ConfigError, InputError, Problem
from attendance_cli.letters.contacts import ADDRESS

#: Columns of `read_staff`.
SCHEMA = {"group": pl.String, "name": pl.String, "email": pl.String, "line": pl.Int64}


def read_staff(path: Path, by: str) -> pl.DataFrame:
    """Staff by group (`by`: form or year_group), in file order; a row repeated is kept once. Errors
    name the file, the lines and the column (not the addresses: they reach cron logs)."""
    from attendance_cli.ingest.encoding import open_text

    if not path.is_file():
        raise ConfigError(f"There is no staff file at {path}.", fix="Check the path given to --staff.")
    try:
        table = pl.read_csv(open_text(path).data, infer_schema=False, raise_if_empty=False)
    except pl.exceptions.ComputeError:
        raise InputError(f"{path}: not a valid CSV file; nothing was sent.",
                         fix="Save it again as CSV with the columns form, name, email.") from None
    names = {column.strip().lower().replace(" ", "_"): column for column in table.columns}
    wanted = (by, "name", "email")
    missing = [column for column in wanted if column not in names]
    if missing:
        raise InputError(f"{path}: the staff file has no column {', '.join(missing)} (it has: "
                         f"{', '.join(table.columns) or 'nothing'}); nothing was sent.",
                         fix=f"Give it the columns {', '.join(wanted)}: one row per member of staff and {by}.")
    frame = table.with_row_index("line", offset=2).select(
        pl.col(names[by]).str.strip_chars().alias("group"), pl.col(names["name"]).str.strip_chars().fill_null("").alias("name"),
        pl.col(names["email"]).str.strip_chars().fill_null("").alias("email"), pl.col("line").cast(pl.Int64))
    problems = []
    no_group = frame.filter(pl.col("group").fill_null("") == "")
    if no_group.height:
        problems.append(Problem(str(path), f"no {by}", no_group["line"].to_list(), names[by], None,
                                f"the {by} whose digest this person receives", count=no_group.height))
    bad = frame.filter(~pl.col("email").str.contains(ADDRESS))
    if bad.height:
        problems.append(Problem(str(path), "not an e-mail address", bad["line"].to_list(), names["email"], None,
                                "one address such as name@example.org", count=bad.height))
    if problems:
        raise InputError(f"{path}: the staff file has problems; nothing was sent.", problems)
    return frame.unique(["group", "email"], keep="first", maintain_order=True).select(list(SCHEMA))
