"""Reading absence and leave requests: a CSV or workbook from the MIS or an online form.

One row per request: the pupil or student, the first and last day asked for, the sessions (AM, PM
or the whole day; for lesson registers, the lessons), the type, the reason, free text, and the day
the request was received. Headers are matched by alias, as for registers, and `--map` names the
rest. Every row is accounted for: read as a request, skipped as blank, or merged as an exact
duplicate of another; anything else is an error naming the file, the line, the value and the fix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from attendance_cli.errors import ConfigError, InputError, Problem
from attendance_cli.ingest.headers import is_pupil_id, normalise
from attendance_cli.rules.policy import REQUEST_TYPES

#: Field -> header aliases (matched case-folded, without spaces, `_`, `-` or `.`).
ALIASES: dict[str, tuple[str, ...]] = {
    "request_id": ("Request ID", "Request Ref", "Request Reference", "Reference", "Ref", "Request No",
                   "Request Number", "Form ID", "Submission ID", "Response ID"),
    "surname": ("Surname", "Legal Surname", "Last Name", "Family Name"),
    "forename": ("Forename", "Legal Forename", "First Name", "Given Name"),
    "date_from": ("From", "Start", "Start Date", "From Date", "Date From", "First Day", "Absence From", "Leave From",
                  "First Day of Absence", "Date"),
    "date_to": ("To", "End", "End Date", "To Date", "Date To", "Last Day", "Absence To", "Leave To",
                "Last Day of Absence"),
    "sessions": ("Sessions", "Session", "AM/PM", "AMPM", "Part of Day", "Lessons", "Classes", "Periods",
                 "Lessons Missed", "Classes Missed"),
    "type": ("Type", "Request Type", "Absence Type", "Leave Type", "Category", "Type of Absence", "Type of Request"),
    "reason": ("Reason", "Reason for Absence", "Absence Reason", "Reason for Request"),
    "details": ("Details", "Notes", "Comments", "Description", "Further Information", "Additional Information",
                "Free Text", "Message", "More Information"),
    "received": ("Received", "Date Received", "Received On", "Submitted", "Submitted On", "Date Submitted",
                 "Requested On", "Request Date", "Date of Request", "Timestamp"),
}
FIELDS = ("request_id", "pupil_id", *[f for f in ALIASES if f != "request_id"])
_INDEX = {normalise(alias): name for name, aliases in ALIASES.items() for alias in aliases}

#: How types are written on forms and in MIS exports -> the policy's types.
TYPE_WORDS: dict[str, str] = {
    **{w: "illness" for w in ("illness", "ill", "sick", "sickness", "unwell", "illnessnotmedicalappointment")},
    **{w: "appointment" for w in ("appointment", "medicalappointment", "dentalappointment", "medical", "dental",
                                  "medicalordental", "medicalordentalappointment", "medicaldental",
                                  "hospitalappointment", "doctor", "doctorsappointment")},
    **{w: "exceptional" for w in ("exceptional", "exceptionalcircumstances", "leave", "leaveofabsence",
                                  "exceptionalleave", "termtimeleave", "holiday", "familyholiday",
                                  "termtimeholiday")},
    **{w: "religious" for w in ("religious", "religiousobservance", "religiousfestival", "religiousholiday")},
    "other": "other",
}
#: Parts of the day a session-register request may ask for.
SESSION_WORDS = {"": "all", "all": "all", "allday": "all", "fullday": "all", "day": "all", "wholeday": "all",
                 "amandpm": "all", "ampm": "all", "am": "AM", "morning": "AM", "pm": "PM", "afternoon": "PM"}
#: A request longer than this is a typo in a date (a school year is 190 days).
LONGEST_DAYS = 366


@dataclass(frozen=True)
class RequestsRead:
    """The requests, one row per request (`COLUMNS`), and how every row of the files was used."""

    table: pl.DataFrame
    files: list[str]
    rows: int  # data rows in the files
    blank: int  # rows with nothing in them
    duplicates: int  # rows that repeat another row exactly (same request, same content)
    notes: list[str] = field(default_factory=list)

    def accounted(self) -> str:
        return (f"{self.rows:,} rows in {len(self.files)} file{'s' if len(self.files) != 1 else ''}: "
                f"{self.table.height:,} requests, {self.duplicates:,} repeated rows merged, {self.blank:,} blank rows")


COLUMNS: dict[str, pl.DataType] = {
    "request_id": pl.String(), "pupil_id": pl.String(), "surname": pl.String(), "forename": pl.String(),
    "type": pl.String(), "date_from": pl.Date(), "date_to": pl.Date(), "sessions": pl.String(),
    "reason": pl.String(), "details": pl.String(), "received": pl.Date(), "file": pl.String(), "line": pl.Int64(),
}


def read_requests(paths: list[Path], maps: dict[str, str] | None = None, encoding: str | None = None) -> RequestsRead:
    """Every request in `paths`. Raises InputError listing every bad row of every file."""
    frames, problems, notes = [], [], []
    rows = blank = 0
    for path in paths:
        frame, file_problems, counts = _read_one(path, maps or {}, encoding)
        problems += file_problems
        rows += counts[0]
        blank += counts[1]
        if frame is not None:
            frames.append(frame)
    if problems:
        raise InputError(f"The requests file{'s' if len(paths) != 1 else ''} cannot be used as they stand; "
                         "nothing was read.", problems,
                         fix="Correct these rows in the file (or the form's export) and run again.")
    table = pl.concat(frames) if frames else pl.DataFrame(schema=COLUMNS)
    table, duplicates = _one_per_request(table)
    if any(frame["_derived"].any() for frame in frames):
        notes.append("No request id column: each request is named by an id made from its pupil, dates, sessions, "
                     "type and received date (the same request always gets the same id).")
    return RequestsRead(table.drop("_derived"), [str(p) for p in paths], rows, blank, duplicates, notes)


def _read_one(path: Path, maps: dict[str, str], encoding: str | None) -> tuple[pl.DataFrame | None, list[Problem], tuple[int, int]]:
    from attendance_cli.ingest.encoding import open_text

    if not path.exists():
        from attendance_cli.errors import MissingFileError

        raise MissingFileError(f"Requests file {path} does not exist.")
    decoded = open_text(path, encoding)
    try:
        raw = pl.read_csv(decoded.data, infer_schema=False, raise_if_empty=False, separator=decoded.separator,
                          truncate_ragged_lines=False)
    except pl.exceptions.ComputeError as error:
        raise ConfigError(f"{path}: not a CSV file or workbook this program can read ({str(error).splitlines()[0]}).",
                          fix="Save it again as CSV (comma-separated) or .xlsx from the program it came from.") from None
    columns = _columns(path, raw.columns, maps)
    name = str(path)
    data = raw.with_row_index("line", offset=2).with_columns(pl.col("line").cast(pl.Int64))
    text = {f: (pl.col(columns[f]).str.strip_chars() if f in columns else pl.lit(None, dtype=pl.String)).alias(f)
            for f in FIELDS}
    data = data.select("line", *text.values())
    filled = pl.any_horizontal([pl.col(f).fill_null("").ne("") for f in FIELDS])
    empty = data.filter(~filled).height
    data = data.filter(filled)
    problems: list[Problem] = []

    def problem(bad: pl.DataFrame, reason: str, column: str | None, value_of: str | None, expected: str,
                fix: str | None = None) -> None:
        """One Problem per distinct value (lines 5 and 11 are not both '31/11/2026' unless they are)."""
        header = columns.get(column) if column else None
        if value_of is None:
            if bad.height:
                problems.append(Problem(name, reason, bad["line"].to_list(), header, None, expected, fix,
                                        count=bad.height))
            return
        for (value,), rows in bad.group_by(value_of, maintain_order=True):
            problems.append(Problem(name, reason, rows["line"].to_list(), header, value or "", expected, fix,
                                    count=rows.height))

    problem(data.filter(pl.col("pupil_id").fill_null("") == ""), "no pupil or student id", "pupil_id", None,
            "the id the registers use for the pupil")
    dates = {}
    for column in ("date_from", "date_to", "received"):
        values = data[column].drop_nulls().to_list()
        from attendance_cli.ingest.dates import date_expr, detect_formats

        dates[column] = date_expr(column, detect_formats(values, decoded.workbook)).alias(f"_{column}")
    data = data.with_columns(*dates.values())
    problem(data.filter(pl.col("date_from").fill_null("") == ""), "no first day", "date_from", None,
            "the first day asked for, day first: 14/01/2027")
    problem(data.filter(pl.col("date_from").fill_null("").ne("") & pl.col("_date_from").is_null()),
            "not a day-first date", "date_from", "date_from", "a date such as 14/01/2027 (day first) or 2027-01-14")
    problem(data.filter(pl.col("date_to").fill_null("").ne("") & pl.col("_date_to").is_null()),
            "not a day-first date", "date_to", "date_to", "a date such as 14/01/2027 (day first) or 2027-01-14")
    problem(data.filter(pl.col("received").fill_null("").ne("") & pl.col("_received").is_null()),
            "not a day-first date", "received", "received", "the day the request came in, such as 02/12/2026")
    data = data.with_columns(pl.coalesce("_date_to", "_date_from").alias("_date_to"))
    problem(data.filter(pl.col("_date_to") < pl.col("_date_from")), "last day before the first day", "date_to",
            "date_to", "a last day on or after the first day")
    span = (pl.col("_date_to") - pl.col("_date_from")).dt.total_days()
    problem(data.filter(span >= LONGEST_DAYS), f"a request of more than {LONGEST_DAYS} days", "date_to", "date_to",
            "the last day of the absence (is the year right?)")
    kind = pl.col("type").fill_null("").str.replace_all(r"[\s_\-./'’&]+", "").str.to_lowercase()
    data = data.with_columns(kind.replace_strict(TYPE_WORDS, default=None, return_dtype=pl.String).alias("_type"))
    problem(data.filter(pl.col("type").fill_null("") == ""), "no request type", "type", None,
            f"one of {', '.join(REQUEST_TYPES)}")
    problem(data.filter(pl.col("type").fill_null("").ne("") & pl.col("_type").is_null()), "not a request type",
            "type", "type", f"one of {', '.join(REQUEST_TYPES)} (illness, medical appointment, exceptional "
            "circumstances, religious observance, other)")
    part = pl.col("sessions").fill_null("").str.replace_all(r"[\s_\-./&+]+", "").str.to_lowercase()
    data = data.with_columns(part.replace_strict(SESSION_WORDS, default=None, return_dtype=pl.String).alias("_part"))
    problem(data.filter(pl.col("_part").is_null() & pl.col("sessions").fill_null("").ne("")
                        & ~pl.lit(_lessons_text(columns))), "not a part of the day", "sessions", "sessions",
            "AM, PM or all (blank means the whole day)")
    derived = "request_id" not in columns
    if not derived:
        problem(data.filter(pl.col("request_id").fill_null("") == ""), "no request id", "request_id", None,
                "the form's reference for the request")
    if problems:
        return None, problems, (data.height + empty, empty)
    sessions = (pl.col("sessions").fill_null("") if _lessons_text(columns) else pl.col("_part"))
    out = data.select(
        pl.col("request_id"), "pupil_id", "surname", "forename", pl.col("_type").alias("type"),
        pl.col("_date_from").alias("date_from"), pl.col("_date_to").alias("date_to"),
        sessions.alias("sessions"), pl.col("reason").fill_null(""), pl.col("details").fill_null(""),
        pl.col("_received").alias("received"), pl.lit(name).alias("file"), "line")
    if derived:
        out = out.with_columns(_derived_id().alias("request_id"))
    return out.with_columns(pl.lit(derived).alias("_derived")).cast(COLUMNS | {"_derived": pl.Boolean()}), [], \
        (data.height + empty, empty)


def _lessons_text(columns: dict[str, str]) -> bool:
    """The sessions column names lessons (Lessons, Classes, Periods): kept as the text written."""
    header = columns.get("sessions")
    return header is not None and normalise(header) in {normalise(h) for h in
                                                        ("Lessons", "Classes", "Periods", "Lessons Missed",
                                                         "Classes Missed")}


def _columns(path: Path, headers: list[str], maps: dict[str, str]) -> dict[str, str]:
    """Field -> header, by --map first, then by alias. A field two headers could be is an error."""
    unknown = sorted({f for f in maps.values() if f not in FIELDS})
    if unknown:
        from attendance_cli.errors import UsageError

        raise UsageError(f"--map: {', '.join(unknown)} is not a field of a request.",
                         fix=f"Map a header to one of: {', '.join(FIELDS)}.")
    found: dict[str, list[str]] = {}
    mapped = set(maps.values())
    for header in headers:
        key = normalise(header)
        name = maps.get(key) or _INDEX.get(key) or ("pupil_id" if is_pupil_id(header) else None)
        if key not in maps and name in mapped:
            continue  # --map named another header for this field: this one is set aside
        if name is not None:
            found.setdefault(name, []).append(header)
    twice = {f: hs for f, hs in found.items() if len(hs) > 1}
    if twice:
        f, hs = next(iter(twice.items()))
        raise ConfigError(f"{path}: the columns {', '.join(map(repr, hs))} could each be the {f} of a request.",
                          fix=f"Say which with --map \"{hs[0]}={f}\" and rename the other in the file.")
    missing = [f for f in ("pupil_id", "date_from", "type") if f not in found]
    if missing:
        wanted = {"pupil_id": "pupil or student id (Student ID, Pupil ID, Adno, ...)",
                  "date_from": "first day (From, Start Date, First Day, or Date for one day)",
                  "type": "type (Type, Request Type, Absence Type)"}
        raise ConfigError(f"{path}: no {', no '.join(wanted[f] for f in missing)} column "
                          f"(headers seen: {', '.join(headers) or 'none'}).",
                          fix="Name the column as above, or map it: --map \"Your Header=" + missing[0] + "\".")
    return {f: hs[0] for f, hs in found.items()}


def _derived_id() -> pl.Expr:
    """An id for a request whose file has none: made from what the request is, so it is the same in
    every run and every file (R followed by 8 characters)."""
    key = pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in
                         ("pupil_id", "date_from", "date_to", "sessions", "type", "received")], separator="|")
    return pl.lit("R") + key.map_batches(_hashes, return_dtype=pl.String)


def _hashes(keys: pl.Series) -> pl.Series:
    # a hash that is the same on every machine and in every version (Polars' own hash is not)
    return pl.Series([hashlib.sha1(k.encode()).hexdigest()[:8].upper() for k in keys.to_list()], dtype=pl.String)


def _one_per_request(table: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Rows repeating a request exactly are merged (a form submitted twice, or two overlapping
    exports); two different requests under one id are an error naming both lines."""
    content = [c for c in COLUMNS if c not in ("file", "line")]
    unique = table.unique(content, keep="first", maintain_order=True)
    clash = unique.filter(pl.col("request_id").is_duplicated())
    if clash.height:
        first = clash.filter(pl.col("request_id") == clash["request_id"][0])
        where = " and ".join(f"{f} line {n}" for f, n in zip(first["file"], first["line"]))
        raise InputError("Two different requests have the same id; nothing was read.",
                         [Problem(first["file"][0], f"request id used for two different requests ({where})",
                                  first["line"].to_list(), "request id", first["request_id"][0],
                                  "one id per request", count=first.height)],
                         fix="Give each request its own id in the file, or correct the repeated row.")
    return unique, table.height - unique.height
