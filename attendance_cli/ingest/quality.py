"""What the registers leave undone, for `attendance ingest`'s data-quality section.

The checking pass accounts for every row; this looks at what the rows say together:

- **unmarked sessions** on roll, with each pupil, date and session (`--unmarked FILE` lists them
  all); a register grid's blank cells before a pupil's first mark in it or after their last are
  shown apart, as *probably not on roll* (a grid has a cell for every pupil on every day);
- **missing days**: a school day (a day the school marked anyone) inside a pupil's own span in a
  long export, on which the pupil has no row at all;
- **unresolved N** (no reason yet) more than 5 school days before the data's last date, which the
  DfE asks schools to resolve;
- **marks outside enrolment**: marks dated before a pupil's admission or after their leaving date,
  which are not counted.

One lazy scan of the canonical rows; run by `ingest` only (the other commands never pay for it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

#: An N older than this many school days should have been resolved (DfE guidance: within 5 days).
N_SCHOOL_DAYS = 5
#: Examples shown in the report (the files hold them all).
SHOWN = 5

UNMARKED_COLUMNS = {"pupil_id": pl.String, "date": pl.Date, "session": pl.String, "file": pl.String,
                    "line": pl.Int64, "on_roll": pl.Boolean}


@dataclass(frozen=True)
class Quality:
    unmarked: pl.DataFrame  # UNMARKED_COLUMNS: every unmarked session, on roll or (grids) probably not
    missing: pl.DataFrame  # pupil_id, date: school days with no row for a pupil inside their span
    old_n: pl.DataFrame  # pupil_id, date, session, file, line
    outside: pl.DataFrame  # pupil_id, date, session, file, line: marks outside admission/leaving dates
    last_date: dt.date | None

    def as_dict(self) -> dict:
        def examples(frame: pl.DataFrame) -> list[dict]:
            return [{k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in row.items()}
                    for row in frame.head(SHOWN).to_dicts()]

        on_roll = self.unmarked.filter(pl.col("on_roll"))
        return {"unmarked_on_roll": on_roll.height,
                "unmarked_probably_not_on_roll": self.unmarked.height - on_roll.height,
                "unmarked_pupils": on_roll["pupil_id"].n_unique(), "unmarked_examples": examples(on_roll),
                "missing_days": self.missing.height, "missing_pupils": self.missing["pupil_id"].n_unique(),
                "missing_examples": examples(self.missing),
                "unresolved_n": self.old_n.height, "unresolved_n_examples": examples(self.old_n),
                "outside_enrolment": self.outside.height, "outside_enrolment_examples": examples(self.outside)}


def data_quality(export, school_days: list[dt.date], last_date: dt.date | None) -> Quality:
    """The data-quality findings: a few filtered aggregations over the canonical rows, collected together
    (the rows themselves are never held: a year of a big school is 20 million of them)."""
    slots = export.slots
    unmarked_slot = slots.status("unmarked")
    codes = slots.lookup.filter(pl.col("status") == "ok")
    marked = pl.col("slot").is_in(codes["slot"].implode())
    n_slots = codes.filter(pl.col("code") == "N")["slot"].implode()
    info = export.file_info().lazy().select("file", "file_name", "data_start")
    grids = [f.index for f in export.files if f.layout.shape == "grid"]
    names = export.rows.collect_schema().names()
    session = pl.col("session").cast(pl.String) if "session" in names else pl.lit(None, dtype=pl.String)
    enrolled = pl.col("enrolled") if "enrolled" in names else pl.lit(True)
    rows = (export.rows.filter(pl.col("pupil_id").is_not_null() & pl.col("date").is_not_null())
            .select("file", "row", "pupil_id", "date", session.alias("session"), "slot", enrolled.alias("enrolled")))

    def located(frame: pl.LazyFrame) -> pl.LazyFrame:  # where a row is, as a person finds it: file and line
        return (frame.join(info, on="file")
                .select("pupil_id", "date", "session", pl.col("file").alias("_file"),
                        pl.col("file_name").alias("file"),
                        (pl.col("row").cast(pl.Int64) + pl.col("data_start") + 1).alias("line"),
                        pl.col("enrolled").alias("_enrolled"), "_kind")
                .sort("pupil_id", "date", "session"))

    # one read: each pupil's span and days in each file, and the few rows that need a look
    long_files = [f.index for f in export.files if f.layout.shape != "grid"]
    span = rows.group_by("file", "pupil_id").agg(
        pl.col("date").filter(marked).min().alias("_first"), pl.col("date").filter(marked).max().alias("_last"),
        pl.len().alias("_rows"))
    unmarked_now, is_n = pl.col("slot") == unmarked_slot, pl.col("slot").is_in(n_slots)
    flagged = rows.filter(unmarked_now | is_n | (marked & ~enrolled)).with_columns(
        pl.when(unmarked_now).then(pl.lit("blank")).when(is_n).then(pl.lit("n")).otherwise(pl.lit("outside"))
        .alias("_kind"))
    # one after another: collected together, each query's own read of the exports holds its buffers at
    # the same time (60,000 pupils: 1.3 GB together, under half a GB apart, for some seconds more)
    span_c, flagged_c = (frame.collect(engine="streaming") for frame in (span, flagged))
    span_c = span_c.filter(pl.col("_first").is_not_null())
    flagged_c = located(flagged_c.lazy()).collect()
    blank_c = (flagged_c.filter(pl.col("_kind") == "blank")
               .join(span_c.rename({"file": "_file"}), on=["_file", "pupil_id"], how="left")
               .with_columns(pl.col("_file").is_in(grids).alias("_grid")))
    n_c = flagged_c.filter(pl.col("_kind") == "n")
    outside_c = flagged_c.filter((pl.col("_kind") == "outside") & ~pl.col("_enrolled"))
    key = ["pupil_id", "date", "session"]
    reasons_c = pl.DataFrame(schema={"pupil_id": pl.String, "date": pl.Date, "session": pl.String})
    if len(export.files) > 1 and (blank_c.height or n_c.height):
        # a session unmarked in one export and marked in another is marked (the pass keeps the mark), and
        # one marked N in one export and given a reason in a later one is resolved: those sessions' marks
        wanted = pl.concat([blank_c.select(key), n_c.select(key)]).unique()
        elsewhere = (rows.filter(marked).select(*key, is_n.alias("_n"))
                     .join(wanted.lazy(), on=key, how="semi", nulls_equal=True).collect(engine="streaming"))
        blank_c = blank_c.join(elsewhere.select(key).unique(), on=key, how="anti", nulls_equal=True)
        reasons_c = elsewhere.filter(~pl.col("_n")).select(key).unique()
    blank_c = blank_c.unique(key, keep="first", maintain_order=True)

    outside_span = (pl.col("_first").is_null() | (pl.col("date") < pl.col("_first"))
                    | (pl.col("date") > pl.col("_last")))
    unmarked = blank_c.select("pupil_id", "date", "session", "file", "line",
                              (~(pl.col("_grid") & outside_span)).alias("on_roll"))

    missing = pl.DataFrame(schema={"pupil_id": pl.String, "date": pl.Date})
    if export.shape != "lessons" and school_days:
        calendar = pl.DataFrame({"date": school_days}, schema={"date": pl.Date})
        own = span_c.filter(pl.col("file").is_in(long_files)).group_by("pupil_id").agg(
            pl.col("_first").min(), pl.col("_last").max())
        # a pupil with a row for every session of every school day in their span has no missing day: only
        # those with fewer rows (a day missing, or only a session) are looked at day by day
        # the school days in each span, counted by where its ends fall in the sorted school days (no pupil x
        # day table: 60,000 pupils x 190 days would be 11 million rows)
        sorted_days = calendar["date"].sort()
        expected = own.with_columns(
            ((sorted_days.search_sorted(own["_last"], side="right").cast(pl.Int64)
              - sorted_days.search_sorted(own["_first"], side="left").cast(pl.Int64)) * 2).alias("_expected"))
        rows_of = (span_c.filter(pl.col("file").is_in(long_files)).group_by("pupil_id")
                   .agg(pl.col("_rows").sum()))
        short = expected.join(rows_of, on="pupil_id", how="left").filter(
            pl.col("_expected") > pl.col("_rows").fill_null(0))["pupil_id"]
        if short.len():
            present = (rows.filter(pl.col("pupil_id").is_in(short.implode())).select("pupil_id", "date").unique()
                       .collect(engine="streaming"))
            missing = (own.filter(pl.col("pupil_id").is_in(short.implode())).join(calendar, how="cross")
                       .filter(pl.col("date").is_between("_first", "_last")).select("pupil_id", "date")
                       .join(present, on=["pupil_id", "date"], how="anti").sort("pupil_id", "date"))

    old_n = n_c.head(0).drop([c for c in n_c.columns if c.startswith("_")])
    if last_date is not None:
        before = [d for d in school_days if d <= last_date]
        if len(before) > N_SCHOOL_DAYS:
            cutoff = before[-1 - N_SCHOOL_DAYS]
            old_n = (n_c.filter(pl.col("date") <= cutoff).join(reasons_c, on=["pupil_id", "date", "session"],
                                                                how="anti", nulls_equal=True)
                     .select("pupil_id", "date", "session", "file", "line"))
    return Quality(unmarked.cast(UNMARKED_COLUMNS), missing, old_n,
                   outside_c.select("pupil_id", "date", "session", "file", "line"), last_date)
