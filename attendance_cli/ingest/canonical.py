"""The canonical row frame every layout is turned into, and the *slot* of each row.

Canonical rows (one per mark, lazily read):

| column | type | meaning |
|---|---|---|
| `file` | UInt16 | index of the export in the command line |
| `row` | UInt32 | 0-based data row in that file (the line is `data_start + row + 1`) |
| `pupil_id` | String | the MIS identifier, kept as text (leading zeros, dashes) |
| pupil fields | String | `upn, surname, forename, year_group, form, ...` as exported |
| `date` | Date | day-first parsed; null if the text is not a date |
| `session` | Enum AM/PM | session registers; null for lesson registers |
| lesson fields | String | `start_time, end_time, period, event_id, group_code, subject` |
| `mark` | String | the mark as exported |
| `minutes_late` | Int32 | null when blank |
| `slot` | UInt16 | what the row is: a code as valid on its date, or a row status |
| `key` | Int32 | date × 2 + PM, to prove uniqueness cheaply; null for lessons |

A *slot* packs "which code, read with the meaning it had on that date" into one small integer,
so a single group-by can count marks by code and account for every row at the same time. Slots
`era * len(tokens) + token` are codes; the two after them mean "unmarked" and "problem" (a row
that cannot be used as it is; `_reason` says why). `MarkSlots.lookup` says what each slot means.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import polars as pl

from attendance_cli.codes import CodeTable
from attendance_cli.ingest.dates import date_expr
from attendance_cli.ingest.headers import SESSION_VALUES

SESSION = pl.Enum(["AM", "PM"])

#: Slots that are not codes: a row with no mark, or a row that cannot be read as it is.
STATUSES = ("unmarked", "problem")
#: What a slot is (MarkSlots.lookup's `status`).
STATUS = pl.Enum(["ok", "not_valid_on_date", *STATUSES])
#: Spare columns read past the header: a row that fills one has more fields than the header.
SPARE_COLUMNS = 2


def _session_spellings() -> tuple[list[str], int]:
    am = sorted({v for k, s in SESSION_VALUES.items() if s == "AM" for v in (k, k.upper(), k.title())})
    pm = sorted({v for k, s in SESSION_VALUES.items() if s == "PM" for v in (k, k.upper(), k.title())})
    return am + pm, len(am)


_SPELLINGS, _N_AM = _session_spellings()
_SESSION_SPELLINGS = pl.Enum(_SPELLINGS)
# spelling index -> AM/PM, looked up by position (cheaper than building strings per row)
_SESSION_OF_SPELLING = pl.Series(["AM"] * _N_AM + ["PM"] * (len(_SPELLINGS) - _N_AM), dtype=SESSION)


@dataclass(frozen=True)
class MarkSlots:
    """Slot numbering for one code table."""

    codes: CodeTable

    @cached_property
    def tokens(self) -> tuple[str, ...]:
        return self.codes.tokens

    @cached_property
    def token_enum(self) -> pl.Enum:
        # "-" is the conventional "no mark"; it is a token so that it costs nothing to spot
        return pl.Enum([*self.tokens, "-"])

    @property
    def n_eras(self) -> int:
        return len(self.codes.era_starts) + 1

    @property
    def n_code_slots(self) -> int:
        return self.n_eras * len(self.tokens)

    def status(self, name: str) -> int:
        return self.n_code_slots + STATUSES.index(name)

    @cached_property
    def lookup(self) -> pl.DataFrame:
        """One row per slot: `slot, status, era, token, code, category, late, closure, valid`.

        `status` is "ok" for a code valid on its date, "not_valid_on_date" for a known mark
        used outside the dates it was a code, or one of STATUSES.
        """
        rows = []
        for era in range(self.n_eras):
            for index, token in enumerate(self.tokens):
                code = self.codes.code_for(token, era)
                rows.append({
                    "slot": era * len(self.tokens) + index, "status": "ok" if code else "not_valid_on_date",
                    "era": era, "token": token, "code": code.code if code else None,
                    "category": code.category if code else None, "late": code.late if code else None,
                    "closure": bool(code and code.closure),
                })
        for name in STATUSES:
            rows.append({"slot": self.status(name), "status": name, "era": None, "token": None, "code": None,
                         "category": None, "late": None, "closure": False})
        return pl.DataFrame(rows, schema={
            "slot": pl.UInt16, "status": pl.String, "era": pl.UInt8, "token": pl.String, "code": pl.String,
            "category": pl.String, "late": pl.String, "closure": pl.Boolean,
        })

    @property
    def any_code(self) -> int:
        """The slot that stands for every code valid on its date, when codes are not counted one by one."""
        return self.n_code_slots + len(STATUSES)

    def fold_codes(self, slot: pl.Expr) -> pl.Expr:
        """Every slot of a code valid on its date -> `any_code`; the others (unmarked, problems) kept."""
        folded = self.lookup.sort("slot").select(
            pl.when(pl.col("status") == "ok").then(self.any_code).otherwise(pl.col("slot")).cast(pl.UInt16))
        return pl.lit(folded.to_series()).gather(slot)

    @cached_property
    def statuses(self) -> pl.DataFrame:
        """`slot, status` of every slot, `any_code` included (as "ok"); the status as an Enum (the
        checking pass's groups carry it: a number each, not a string)."""
        table = self.lookup.select("slot", pl.col("status").cast(STATUS))
        return pl.concat([table, pl.DataFrame({"slot": [self.any_code], "status": ["ok"]}, schema=table.schema)])

    def era_expr(self, date: pl.Expr) -> pl.Expr:
        era = pl.lit(0, dtype=pl.UInt16)
        for cut in self.codes.era_starts:
            era = era + (date >= pl.lit(cut)).cast(pl.UInt16)
        return era


def stripped(text: pl.Expr) -> pl.Expr:
    """Text without its padding; a cell of spaces is blank (null). A per-row expression that the
    streaming engine runs chunk by chunk (`replace("", None)` is not one)."""
    trimmed = text.str.strip_chars()
    return pl.when(trimmed.str.len_bytes() > 0).then(trimmed)


@dataclass(frozen=True)
class Tolerance:
    """Slower parsing a file is reopened with when its problem rows (or padded pupil ids) show it needs it.

    The first pass assumes clean exports (the common case, and the fast one); rows it cannot
    read are looked at again, and if they are only padded with spaces, have minutes late written
    as "5.0", or use another day-first date format, the file is read again with these set.
    """

    strip: bool = False  # pupil ids, marks, sessions and minutes padded with spaces, or quoted empty ("")
    decimal_minutes: bool = False  # minutes late written with a decimal point
    date_formats: tuple[str, ...] = ()  # day-first formats beyond those in the first rows


def canonicalise(
    raw: pl.LazyFrame,
    present: set[str],
    *,
    file_index: int,
    slots: MarkSlots,
    date_formats: list[str],
    shape: str,
    blank_means: str | None = None,
    date_is_parsed: bool = False,
    tolerance: Tolerance = Tolerance(),
    date_lookup: bool = False,
) -> pl.LazyFrame:
    """Add the typed and derived columns to a raw frame of text columns named by field.

    Kept to the few per-row operations every row needs: a row is either a code, unmarked, or a
    *problem*. `_reason` (why a problem row is one) is computed only when it is asked for.
    """
    id_field = "pupil_id" if "pupil_id" in present else next(f for f in ("admission_number", "upn") if f in present)
    if tolerance.strip:
        # each padded value column stripped once, in its own step (Polars does not share a repeated
        # sub-expression between the expressions below, so stripping inside them costs many times over),
        # then a blank made null in another; a date or session left blank reads as no date or session
        padded = [c for c in [id_field, "mark", "minutes_late", "subcode", *([] if date_is_parsed else ["date"]),
                              *([] if shape == "lessons" else ["session"])] if c in present]
        raw = raw.with_columns(pl.col(c).cast(pl.String).str.strip_chars() for c in padded)
        raw = raw.with_columns(pl.when(pl.col(c).str.len_bytes() > 0).then(pl.col(c)).alias(c)
                               for c in padded if c not in ("date", "session"))
    cols: list[pl.Expr] = [pl.lit(file_index, dtype=pl.UInt16).alias("file")]
    if id_field != "pupil_id":
        cols.append(pl.col(id_field).alias("pupil_id"))
    formats = [*date_formats, *[f for f in tolerance.date_formats if f not in date_formats]]
    if date_is_parsed:
        date = pl.col("date")
    elif "date" in present:
        date = date_expr("date", formats, lookup=date_lookup and not tolerance.date_formats)
    else:  # lesson exports that carry the date only inside the start time
        date = date_expr("start_time", formats)
    cols.append(date.alias("date"))
    if shape == "lessons":
        cols.append(pl.lit(None, dtype=SESSION).alias("session"))
    else:
        phys = pl.col("session").cast(_SESSION_SPELLINGS, strict=False).to_physical()
        cols.append(pl.lit(_SESSION_OF_SPELLING).gather(phys).alias("session"))
        cols.append(pl.col("session").alias("_session_text"))
    mark = pl.col("mark")
    if "subcode" in present:
        # Bromcom: the parent code (C, J, Y) with the real code (C1, J1, Y3) in a subcode column; a
        # subcode that is not one of its mark's (I with M, / with C1) is a problem, never a silent override
        subcode = pl.col("subcode") if tolerance.strip else stripped(pl.col("subcode"))
        subcode_fits = subcode.is_null() | mark.is_null() | subcode.str.starts_with(mark.str.strip_chars())
        mark = pl.when(subcode.is_not_null() & subcode_fits).then(subcode).otherwise(mark)
        cols.append(subcode_fits.alias("_subcode_fits"))
    if blank_means:
        mark = mark.fill_null(pl.lit(blank_means))
    cols.append(mark.alias("mark"))
    if "minutes_late" in present:
        raw_minutes = pl.col("minutes_late")
        if tolerance.decimal_minutes and not tolerance.strip:
            raw_minutes = stripped(raw_minutes)
        if tolerance.decimal_minutes:
            number = raw_minutes.cast(pl.Float64, strict=False)
            whole = number.is_not_null() & (number == number.floor())
            minutes = pl.when(whole).then(number.cast(pl.Int32))
        else:
            minutes = raw_minutes.cast(pl.Int32, strict=False)
        minutes = pl.when((minutes >= 0) & (minutes < 24 * 60)).then(minutes)
        cols.append(minutes.alias("minutes_late"))
        cols.append(raw_minutes.alias("_minutes_text"))
    else:
        cols.append(pl.lit(None, dtype=pl.Int32).alias("minutes_late"))
        cols.append(pl.lit(None, dtype=pl.String).alias("_minutes_text"))
    frame = raw.with_columns(cols)

    # quoted empty cells ("") and cells of spaces are blank (and so take --blank-means)
    mark_text = pl.col("mark")
    # the code's position in the table, computed once (see above)
    frame = frame.with_columns(mark_text.cast(slots.token_enum, strict=False).to_physical().cast(pl.UInt16).alias("_token"))
    token = pl.col("_token")
    dash = len(slots.tokens)
    ragged = pl.col("_ragged") if "_ragged" in present else pl.lit(False)
    session_bad = pl.col("session").is_null() if shape != "lessons" else pl.lit(False)
    bad_minutes = pl.col("_minutes_text").is_not_null() & pl.col("minutes_late").is_null()
    unknown = mark_text.is_not_null() & token.is_null()
    bad_subcode = ~pl.col("_subcode_fits") if "subcode" in present else pl.lit(False)
    problem = ragged | pl.col("pupil_id").is_null() | pl.col("date").is_null() | session_bad | unknown | bad_minutes
    if "subcode" in present:
        problem = problem | bad_subcode
    slot = (
        pl.when(problem).then(slots.status("problem"))
        .when(mark_text.is_null() | (token == dash)).then(slots.status("unmarked"))
        .otherwise(slots.era_expr(pl.col("date")) * len(slots.tokens) + token)
        .cast(pl.UInt16)
    )
    reason = (
        pl.when(ragged).then(pl.lit("extra_fields"))
        .when(pl.col("pupil_id").is_null()).then(pl.lit("no_pupil"))
        .when(pl.col("date").is_null()).then(pl.lit("bad_date"))
        .when(session_bad).then(pl.lit("bad_session"))
        .when(bad_subcode).then(pl.lit("bad_subcode"))
        .when(unknown).then(pl.lit("unknown_code"))
        .when(bad_minutes).then(pl.lit("bad_minutes"))
    )
    if shape == "lessons":
        key = pl.lit(None, dtype=pl.Int32)
    else:
        key = pl.col("date").cast(pl.Int32) * 2 + pl.col("session").to_physical().cast(pl.Int32)
    # the slot of a row already checked and found clean: no field count or minutes to look at, so a
    # second pass over a clean file reads fewer columns (Polars only computes what is used)
    checked_slot = (
        pl.when(mark_text.is_null() | (token == dash)).then(slots.status("unmarked"))
        .otherwise(slots.era_expr(pl.col("date")) * len(slots.tokens) + token)
        .cast(pl.UInt16)
    )
    return frame.with_columns(slot.alias("slot"), key.alias("key"), reason.alias("_reason"),
                              checked_slot.alias("_checked_slot"))


def enrolment_expr(present: set[str], date_formats: dict[str, list[str]]) -> pl.Expr | None:
    """True where a row's date falls within the pupil's admission and leaving dates, if the
    export carries them; None if it carries neither."""
    parts = []
    if "admission_date" in present:
        admitted = date_expr("admission_date", date_formats.get("admission_date", []))
        parts.append(pl.col("date") >= pl.coalesce(admitted, pl.lit(dt.date.min)))
    if "leaving_date" in present:
        left = date_expr("leaving_date", date_formats.get("leaving_date", []))
        parts.append(pl.col("date") <= pl.coalesce(left, pl.lit(dt.date.max)))
    if not parts:
        return None
    return pl.all_horizontal(parts)
