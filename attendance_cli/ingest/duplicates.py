"""Sessions that appear more than once: identical copies collapse, conflicting ones are errors.

The pass proves most pupils free of duplicates (their rows are contiguous and in order); the
pupils it cannot prove, and pupils whose files overlap in dates, are checked here: first by a hash
of each row's session (no two equal: no duplicate), then row by row where two hashes are equal.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from attendance_cli.errors import Problem
from attendance_cli.ingest.canonical import SESSION
from attendance_cli.ingest.dates import format_date
from attendance_cli.ingest.exports import Export
from attendance_cli.ingest.problems import REASONS, REJECT_SCHEMA
from attendance_cli.calendar.windows import Window
from attendance_cli.ingest.scope import COHORT_PERIOD, PERIODS, scoped

def _session_hash(key: list[str]) -> pl.Expr:
    """One number per row from its session (pupil, date, session): rows of the same session have the
    same number, so rows whose numbers all differ hold no session twice (the converse need not hold)."""
    return pl.struct(*key).hash().alias("_hash")


def _checked_rows(export: Export, frame: pl.LazyFrame) -> pl.LazyFrame:
    """The rows a duplicate can be among: accepted marks and unmarked sessions."""
    slots = export.slots
    ok_slots = slots.lookup.filter(pl.col("status") == "ok")["slot"]
    return frame.filter(pl.col("slot").is_in(ok_slots.implode()) | (pl.col("slot") == slots.status("unmarked")))


#: What makes a session register's row one session.
SESSION_KEY = ["pupil_id", "date", "session"]


def checked_session_hashes(export: Export, frame: pl.LazyFrame) -> pl.LazyFrame:
    """Each checked row's session as a number (`_hash`), for `find_duplicates(hashes_file=...)`: the
    main pass writes them aside for exports not kept by pupil, where every pupil must be checked."""
    return _checked_rows(export, frame).select(_session_hash(SESSION_KEY))


def find_duplicates(export: Export, window: Window | None, per_file: pl.DataFrame, by_marks: list[str],
                    hashes_file: Path | None = None) -> tuple[pl.DataFrame, list[Problem], pl.DataFrame]:
    """Find sessions that appear more than once.

    `hashes_file`: every checked row's session number (`checked_session_hashes`), written by the
    main pass; every pupil is then checked from it, and the exports read again only for the rows
    whose numbers are shared.

    Returns the rows to leave out (identical copies, unmarked copies of a marked session, and
    with keep-last the earlier side of a conflict), the conflicts as problems (error mode), and
    conflicting rows as rejects (error mode with --lenient).
    """
    slots = export.slots
    # a pupil whose rows in a file are contiguous and in order (validate._per_file) holds no session twice
    proven = pl.lit(False) if hashes_file is not None else pl.col("in_order") & ~pl.col("has_problem")
    per_file = per_file.with_columns(proven.alias("proven"))
    # files that share a date for the same pupil may hold the same session twice
    overlapping = pl.Series([], dtype=pl.String) if len(export.files) == 1 or export.shape != "sessions" else (
        per_file.filter(pl.col("first_date").is_not_null()).sort("pupil_id", "first_date")
        .with_columns((pl.col("first_date") <= pl.col("last_date").cum_max().shift(1).over("pupil_id")).alias("_overlap"))
        .group_by("pupil_id").agg(pl.col("_overlap").any())
        .filter(pl.col("_overlap"))["pupil_id"]
    )
    suspect = per_file.filter(~pl.col("proven") | pl.col("pupil_id").is_in(overlapping.implode()))
    suspects = suspect["pupil_id"].unique()
    suspect_files = [export.files[i] for i in sorted(suspect["file"].unique().to_list())]
    empty_excluded = pl.DataFrame(schema={"file": pl.UInt16, "row": pl.UInt32, "date": pl.Date, "session": SESSION,
                                          "pupil_id": pl.String,
                                          "slot": pl.UInt16, "scope": pl.UInt8, "minutes_late": pl.Int32,
                                          **{b: pl.Int32 if b == COHORT_PERIOD else pl.UInt8 if b == PERIODS else pl.String
                                             for b in by_marks}})
    if suspects.is_empty():
        return empty_excluded, [], pl.DataFrame(schema=REJECT_SCHEMA)

    if export.shape == "sessions":
        key = SESSION_KEY
    elif any("event_id" in f.fields for f in export.files):
        key = ["pupil_id", "date", "event_id"]
    else:
        present = set().union(*(f.fields for f in export.files))
        key = ["pupil_id", "date", *[c for c in ("start_time", "period", "group_code", "subject") if c in present]]
    unmarked = slots.status("unmarked")
    suspected = _checked_rows(export, scoped(export, window, suspect_files)).filter(pl.col("pupil_id").is_in(suspects.implode()))
    # First one number per row, a hash of its session, kept sorted: rows of one session have the
    # same number, so where no two numbers are equal no session appears twice (the usual case, as
    # when rows are merely out of order). Only rows whose number is shared are then read in full.
    hashes = (pl.scan_ipc(hashes_file).collect() if hashes_file is not None and key == SESSION_KEY
              else suspected.select(_session_hash(key)).collect(engine="streaming"))["_hash"].sort()
    shared = hashes.filter(hashes == hashes.shift(1)).unique()
    del hashes
    if shared.is_empty():
        return empty_excluded, [], pl.DataFrame(schema=REJECT_SCHEMA)
    rows = (
        suspected.filter(_session_hash(key).is_in(shared.implode()))
        .select("file", "row", *list(dict.fromkeys([*key, "date", "session", "slot", "scope", "minutes_late", "mark",
                                                    *by_marks])))
        .collect(engine="streaming")
    )
    rows = rows.with_columns(
        (pl.col("file").cast(pl.UInt64) * (1 << 32) + pl.col("row").cast(pl.UInt64)).alias("_order"),
        (pl.col("slot") != unmarked).alias("_marked"),
    )
    dup = rows.filter(pl.len().over(key) > 1)
    if dup.is_empty():
        return empty_excluded, [], pl.DataFrame(schema=REJECT_SCHEMA)
    keep_last = export.options.duplicates == "keep-last"
    # copies agree if they hold the same code and do not give different minutes late (a grid has
    # no minutes, so its copy of an L agrees with a long export's L with minutes)
    marked = pl.col("_marked")
    summary = dup.group_by(key).agg(
        (pl.col("slot").filter(marked).n_unique() + (pl.col("minutes_late").filter(marked).drop_nulls().n_unique() > 1)
         ).alias("_variants"),
        pl.col("_order").filter(marked).min().alias("_first_marked"),
        pl.col("_order").filter(marked).max().alias("_last_marked"),
        pl.col("_order").filter(marked & pl.col("minutes_late").is_not_null()).min().alias("_first_with_minutes"),
        pl.col("_order").min().alias("_first"),
    )
    dup = dup.join(summary, on=key, how="left", nulls_equal=True)
    conflict = pl.col("_variants") > 1
    keep = (pl.when(conflict & pl.lit(keep_last)).then(pl.col("_last_marked"))
            .otherwise(pl.coalesce(pl.col("_first_with_minutes"), pl.col("_first_marked"), pl.col("_first"))))
    dup = dup.with_columns(keep.alias("_keep"))
    lenient = export.options.lenient
    # error mode: a conflict is reported; with --lenient every marked row of it is rejected instead
    conflicted = dup.filter(conflict & ~pl.lit(keep_last))
    problems: list[Problem] = []
    conflict_rejects = pl.DataFrame(schema=REJECT_SCHEMA)
    if conflicted.height:
        if lenient:
            conflict_rejects = _conflict_rejects(export, conflicted.filter(pl.col("_marked")))
        else:
            problems = _conflict_problems(export, conflicted.filter(pl.col("_marked")), key)
    excluded = dup.filter((pl.col("_order") != pl.col("_keep")) & ~(conflict & ~pl.lit(keep_last)))
    if lenient and conflicted.height:
        excluded = pl.concat([excluded, conflicted.filter(pl.col("_marked"))], how="diagonal_relaxed")
    return excluded.select(empty_excluded.columns).cast(empty_excluded.schema), problems, conflict_rejects


def _describe_session(row: dict) -> str:
    when = format_date(row["date"])
    if row.get("session"):
        return f"{when} {row['session']}"
    extra = " ".join(str(row[c]) for c in ("start_time", "period", "event_id", "group_code", "subject") if row.get(c))
    return f"{when} {extra}".strip()


def _held(row: dict, with_minutes: bool) -> str:
    """A conflicting row's mark, and its minutes late when the marks agree and the minutes do not."""
    minutes = row.get("minutes_late")
    return f"{row['mark']!r}" + (f" ({minutes} minutes late)" if with_minutes and minutes is not None else "")


def _conflict_problems(export: Export, conflicted: pl.DataFrame, key: list[str]) -> list[Problem]:
    problems = []
    reason, expected, fix = REASONS["conflict"]
    for _, part in conflicted.sort("_order").group_by(key, maintain_order=True):
        items = part.to_dicts()
        first = items[0]
        # the same mark with other minutes late is a conflict too: then the minutes are what differ
        same_mark = len({r["mark"] for r in items}) == 1

        places = [f"{export.files[r['file']].path.name} line {export.files[r['file']].line_of(r['row'])} has "
                  f"{_held(r, same_mark)}" for r in items]
        files = list(dict.fromkeys(str(export.files[r["file"]].path) for r in items))
        problems.append(Problem(
            # rows in several files are named in the reason, each with its line
            file=" and ".join(files),
            reason=f"{reason}: pupil {first['pupil_id']} on {_describe_session(first)}: " + "; ".join(places),
            lines=[export.files[r["file"]].line_of(r["row"]) for r in items] if len(files) == 1 else [],
            expected=expected, fix=fix, count=len(items),
        ))
    return problems


def _conflict_rejects(export: Export, conflicted: pl.DataFrame) -> pl.DataFrame:
    reason, expected, fix = REASONS["conflict"]
    session = pl.col("session").cast(pl.String) if "session" in conflicted.columns else pl.lit(None, dtype=pl.String)
    return (conflicted.sort("_order").join(export.file_info(), on="file", how="left").select(
        pl.col("file_name").alias("file"), (pl.col("row").cast(pl.Int64) + pl.col("data_start") + 1).alias("line"),
        pl.lit(reason).alias("reason"), pl.col("mark_header").alias("column"), pl.col("mark").alias("value"),
        pl.lit(expected).alias("expected"), pl.lit(fix).alias("fix"), "pupil_id",
        pl.col("date").dt.strftime("%d/%m/%Y").alias("date"), session.alias("session"), "mark",
        pl.col("file").alias("_file"), pl.col("row").alias("_row"), pl.lit("conflict").alias("_status"),
    ).cast(REJECT_SCHEMA))
