"""Guardians from a contacts CSV: who each letter goes to.

One row per guardian; several rows per pupil. Columns (any case, spaces or underscores):

    pupil_id (Student ID, Learner ID)  guardian_name (Contact Name, Name)  relationship
    parental_responsibility (PR: yes/no)  salutation  email
    address (one cell, lines separated by commas or line breaks)  or  address_1 ... address_5, town, postcode

A letter goes to every guardian with parental responsibility (everyone listed, when the file has no
such column). A guardian is posted a letter unless e-mail was chosen and they have an address.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl

from attendance_cli.errors import ConfigError, InputError, Problem
from attendance_cli.formatting import plural
from attendance_cli.ingest.headers import is_pupil_id

FIELDS = {
    "guardian_name": ("guardian_name", "guardian", "contact name", "contact", "name", "parent name", "carer name",
                      "guardian name"),
    "relationship": ("relationship", "relation"),
    "parental_responsibility": ("parental_responsibility", "parental responsibility", "pr",
                                "has parental responsibility"),
    "salutation": ("salutation", "addressee", "dear"),
    "email": ("email", "e-mail", "email address", "e-mail address"),
    "address": ("address", "postal address"),
}
ADDRESS_PARTS = ("address_1", "address_2", "address_3", "address_4", "address_5", "street", "town", "city", "county",
                 "postcode", "post code")
_YES = {"yes", "y", "true", "1", "x"}
_NO = {"no", "n", "false", "0", ""}
#: One plain ASCII address (dot-atom@domain): what the e-mail's To: can carry as it is, so a bad one
#: is refused here, with its line, rather than stopping the run while the letters are rendered.
_ADDRESS = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
ADDRESS = _ADDRESS
#: Columns of `read_contacts`.
SCHEMA = {"pupil_id": pl.String, "guardian": pl.Int64, "guardian_name": pl.String, "relationship": pl.String,
          "salutation": pl.String, "email": pl.String, "address": pl.List(pl.String), "line": pl.Int64}


def _key(header: str) -> str:
    return re.sub(r"[\s_]+", " ", header.strip().lower()).replace("address line ", "address_").replace("address ", "address_")


def _not_csv(path: Path, data: Path | bytes) -> InputError:
    """The file and line where the CSV breaks, without the cell's text: it is a guardian's name,
    address or e-mail, which must not end up in a cron job's log."""
    line = _broken_line(data)
    where = f"{path}, line {line}" if line else str(path)
    return InputError(f"{where}: not valid CSV: a quoted field is not closed, or has text after its closing quote; "
                      "no letter was written.",
                      fix="Correct the quotes on that line (a field with a quote in it is written \"like \"\"this\"\"\"), "
                          "or save the file again as CSV from the program it came from.")


def _broken_line(data: Path | bytes) -> int | None:
    """The line on which the record Python's strict CSV reader cannot read starts (an unclosed
    quote runs to the end of the file, so the line it ends on says nothing)."""
    import csv
    import io

    text = data.read_text(encoding="utf-8", errors="replace") if isinstance(data, Path) else data.decode(
        "utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), strict=True)
    start = 1
    try:
        for _ in reader:
            start = reader.line_num + 1
    except csv.Error:
        return start
    return None


def read_contacts(path: Path, warn: Callable[[str], None] | None = None) -> pl.DataFrame:
    """Guardians who receive letters, numbered 1, 2, ... within each pupil in file order.

    A guardian listed more than once for a pupil (the same name, e-mail and address, ignoring
    case) is kept once, at their first row, so a family gets one letter, not three. The rows left
    out are reported to `warn` (standard error when not given) by file and line only: the rows
    hold a guardian's name, e-mail and address, which must not reach a log."""
    from attendance_cli.ingest.encoding import open_text

    if not path.is_file():
        raise ConfigError(f"There is no contacts file at {path}.", fix="Check the path given to --contacts.")
    decoded = open_text(path)
    try:
        table = pl.read_csv(decoded.data, infer_schema=False, raise_if_empty=False, truncate_ragged_lines=True)
    except pl.exceptions.ComputeError:
        raise _not_csv(path, decoded.data) from None  # Polars' message quotes the cell: a guardian's details
    table = table.with_row_index("line", offset=2).with_columns(pl.col("line").cast(pl.Int64))
    seen = {_key(h): h for h in table.columns if h != "line"}
    columns: dict[str, str] = {}
    ids = [h for h in table.columns if h != "line" and is_pupil_id(h)]  # named as the exports name it
    if ids:
        columns["pupil_id"] = ids[0]
    for field, aliases in FIELDS.items():
        for alias in aliases:
            key = _key(alias)
            if key in seen:
                columns[field] = seen[key]
                break
    parts = [seen[_key(p)] for p in ADDRESS_PARTS if _key(p) in seen]
    if "pupil_id" not in columns:
        raise ConfigError(f"{path}: no pupil id column (headers seen: {', '.join(h for h in table.columns if h != 'line')}).",
                          fix="Name the column pupil_id (or Student ID, Learner ID).")
    text = {f: pl.col(c).str.strip_chars() for f, c in columns.items()}
    address = (pl.col(columns["address"]).str.replace_all(r"\r?\n", ",").str.split(",") if "address" in columns
               else pl.concat_list([pl.col(c) for c in parts]) if parts else pl.lit([], dtype=pl.List(pl.String)))
    address = address.list.eval(pl.element().str.strip_chars()).list.eval(pl.element().filter(pl.element() != ""))
    pr = (text["parental_responsibility"].str.to_lowercase().fill_null("") if "parental_responsibility" in text
          else pl.lit("yes"))
    frame = table.select(
        "line",
        text["pupil_id"].alias("pupil_id"),
        *[(text[f] if f in text else pl.lit(None, dtype=pl.String)).alias(f)
          for f in ("guardian_name", "relationship", "salutation", "email")],
        address.alias("address"),
        pr.alias("_pr"),
    )
    problems = []
    bad_pr = frame.filter(~pl.col("_pr").is_in(sorted(_YES | _NO)))
    if bad_pr.height:
        problems.append(Problem(str(path), "parental responsibility must be yes or no", bad_pr["line"].to_list(),
                                columns["parental_responsibility"], bad_pr["_pr"][0], "yes or no", count=bad_pr.height))
    no_id = frame.filter(pl.col("pupil_id").fill_null("") == "")
    if no_id.height:
        problems.append(Problem(str(path), "no pupil id", no_id["line"].to_list(), columns["pupil_id"], "",
                                fix="Give every guardian row the pupil's id, as in the register export.",
                                count=no_id.height))
    bad_email = frame.filter(pl.col("email").is_not_null() & (pl.col("email") != "")
                             & ~pl.col("email").str.contains(_ADDRESS))
    if bad_email.height:
        problems.append(Problem(str(path), "not an e-mail address", bad_email["line"].to_list(), columns.get("email"),
                                bad_email["email"][0], "one address such as name@example.org", count=bad_email.height))
    if problems:
        raise InputError(f"{path}: the contacts file has problems; no letter was written.", problems)
    same = pl.struct(pl.col("pupil_id"),
                     *[pl.col(c).fill_null("").str.to_lowercase() for c in ("guardian_name", "email")],
                     pl.col("address").list.join("\n").str.to_lowercase())
    frame = frame.filter(pl.col("_pr").is_in(sorted(_YES))).with_columns(same.is_first_distinct().alias("_first"))
    repeated = frame.filter(~pl.col("_first"))["line"].to_list()
    if repeated:
        shown = ", ".join(map(str, repeated[:10])) + (f" and {len(repeated) - 10:,} more" if len(repeated) > 10 else "")
        (warn or _stderr)(f"Warning: {path}: {plural(len(repeated), 'duplicate guardian row')} "
                          f"({'line' if len(repeated) == 1 else 'lines'} {shown}) left out: "
                          "one letter per distinct guardian.")
    frame = frame.filter(pl.col("_first")).with_columns(
        pl.col("email").replace("", None),
        pl.int_range(1, pl.len() + 1).over("pupil_id").cast(pl.Int64).alias("guardian"),
    )
    return frame.select(list(SCHEMA))


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)
