"""A past window's pupils as they were then: each pupil's name, year group and form from their
latest row up to the window's end, so last year's figures group by last year's year groups."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from tests.conftest import ARBOR_HEADER, csv_frame, weekdays

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
SECONDARY = sorted(SAMPLES.glob("secondary_arbor_*.csv"))  # 2025/26 and the autumn of 2026/27


def _latest_year_group(path: Path, start: dt.date, end: dt.date) -> dict[str, int]:
    """Counted independently, from the export's own text: pupils per year group on their latest row
    in the window."""
    rows = (pl.read_csv(path, infer_schema=False).with_columns(pl.col("Date").str.to_date("%d/%m/%Y"))
            .filter(pl.col("Date").is_between(start, end)))
    latest = rows.sort("Date", "Session").group_by("Student ID").agg(pl.col("Year Group").last())
    return dict(latest.group_by("Year Group").len().iter_rows())


def _groups(table: pl.DataFrame, key: str = "year_group") -> dict[str, int]:
    return {group: int(pupils) for group, pupils in table.select(key, "pupils").iter_rows() if group != "All pupils"}


def test_last_years_half_term_is_grouped_by_last_years_year_groups(run):
    # the reviewer's case: with the exports of 2026/27 beside them, last year's Year 10 and Year 11
    # were both shown as "Year 11" and Year 7 had 4 pupils
    result = run("summary", *SECONDARY, "--from", "03/11/2025", "--to", "21/11/2025", "--by", "year_group", "-f", "csv")
    assert result.exit_code == 0, result.stderr
    table = csv_frame(result.stdout)
    expected = _latest_year_group(SAMPLES / "secondary_arbor_2025-26_autumn2.csv", dt.date(2025, 11, 3),
                                  dt.date(2025, 11, 21))
    assert _groups(table) == expected == {"Year 7": 200, "Year 8": 199, "Year 9": 202, "Year 10": 198, "Year 11": 198}
    assert table["year_group"].to_list() == ["Year 7", "Year 8", "Year 9", "Year 10", "Year 11", "All pupils"]
    # the named window as of that date is the same window, grouped the same way
    named = csv_frame(run("summary", *SECONDARY, "--window", "half-term", "--as-of", "21/11/2025", "--by",
                          "year_group", "-f", "csv", "-q").stdout)
    assert _groups(named) == expected
    # the current half term still groups by this year's year groups
    now = csv_frame(run("summary", *SECONDARY, "--window", "half-term", "--by", "year_group", "-f", "csv", "-q").stdout)
    assert _groups(now) == _latest_year_group(SAMPLES / "secondary_arbor_2026-27_autumn2.csv",
                                              dt.date(2026, 11, 2), dt.date(2026, 11, 20))


def test_a_store_groups_a_past_window_as_its_exports_do(run, tmp_path):
    # a store keeps each pupil's details once, with how they changed: last year from it is grouped by
    # last year's year groups and forms, as from the exports
    store = tmp_path / "marks.parquet"
    assert run("ingest", *SECONDARY, "-o", store).exit_code == 0
    for by in ("year_group", "form"):
        window = ("--from", "03/11/2025", "--to", "21/11/2025", "--by", by, "-f", "csv", "-q")
        from_store, from_exports = run("summary", store, *window), run("summary", *SECONDARY, *window)
        assert from_store.exit_code == 0, from_store.stderr
        assert from_store.stdout == from_exports.stdout
    table = csv_frame(run("summary", store, "--from", "03/11/2025", "--to", "21/11/2025", "--by", "year_group",
                          "-f", "csv", "-q").stdout)
    assert _groups(table) == {"Year 7": 200, "Year 8": 199, "Year 9": 202, "Year 10": 198, "Year 11": 198}
    now = ("--window", "half-term", "--by", "year_group", "-f", "csv", "-q")
    assert run("summary", store, *now).stdout == run("summary", *SECONDARY, *now).stdout


def test_an_export_without_names_in_the_window_keeps_the_details_given_around_it(run):
    # spring 2 is an Arbor warehouse export (no names, year groups or forms): its pupils' details
    # come from spring 1 (two who joined in spring 2 from summer 1), not from the autumn of 2026/27
    files = [SAMPLES / f"secondary_arbor_{name}.csv"
             for name in ("2025-26_spring1", "2025-26_spring2", "2025-26_summer1", "2026-27_autumn1")]
    end = dt.date(2026, 3, 27)
    result = run("summary", *files, "--from", "23/02/2026", "--to", "27/03/2026", "--by", "year_group", "-f", "csv", "-q")
    assert result.exit_code == 0, result.stderr
    in_window = (pl.read_csv(files[1], infer_schema=False).with_columns(pl.col("DATE").str.slice(0, 10).str.to_date("%Y-%m-%d"))
                 .filter(pl.col("DATE").is_between(dt.date(2026, 2, 23), end))["STUDENT_ID"].unique())
    named = (pl.concat([pl.read_csv(f, infer_schema=False) for f in (files[0], files[2])])
             .with_columns(pl.col("Date").str.to_date("%d/%m/%Y")).filter(pl.col("Student ID").is_in(in_window.implode()))
             .sort("Date", "Session").group_by("Student ID")
             .agg(pl.coalesce(pl.col("Year Group").filter(pl.col("Date") <= end).last(),
                              pl.col("Year Group").filter(pl.col("Date") > end).first())))
    assert named.height == in_window.len() == 1004
    assert _groups(csv_frame(result.stdout)) == dict(named.group_by("Year Group").len().iter_rows())


def test_one_export_over_two_school_years(write, run):
    july, september = weekdays(dt.date(2025, 7, 14), 5), weekdays(dt.date(2025, 9, 8), 5)

    def rows(pupil: str, days: list[dt.date], year: str, form: str, surname: str = "Smith") -> list[str]:
        return [f"{pupil},{surname},Amy,{year},{form},{d:%d/%m/%Y},{s},/," for d in days for s in ("AM", "PM")]

    path = write("two-years.csv", [
        ARBOR_HEADER,
        *rows("P1", july, "Year 10", "10A"), *rows("P1", september, "Year 11", "11B"),
        *rows("P2", july[:4], "Year 9", "9C", surname="Jones"), *rows("P2", july[4:], "Year 9", "", surname="Jones"),  # a blank form
        *rows("P2", september, "Year 10", "10C", surname="Jones-Patel"),
        *rows("P3", september, "Year 7", "7A"),  # joined in September
    ])
    past = ("--from", "14/07/2025", "--to", "18/07/2025")
    by_year = csv_frame(run("summary", path, *past, "--by", "year_group", "-f", "csv", "-q").stdout)
    assert _groups(by_year) == {"Year 9": 1, "Year 10": 1}
    by_form = csv_frame(run("summary", path, *past, "--by", "form", "-f", "csv", "-q").stdout)
    assert _groups(by_form, "form") == {"9C": 1, "10A": 1}  # a blank cell does not blank the form
    pupils = csv_frame(run("summary", path, *past, "-f", "csv", "-q").stdout)
    assert pupils.select("pupil_id", "surname", "year_group", "form").rows() == [
        ("P1", "Smith", "Year 10", "10A"), ("P2", "Jones", "Year 9", "9C")]
    # the whole data: each pupil as they are now
    now = csv_frame(run("summary", path, "--by", "year_group", "-f", "csv", "-q").stdout)
    assert _groups(now) == {"Year 7": 1, "Year 10": 1, "Year 11": 1}


def test_details_as_of_several_dates_read_together_are_each_dates_own(write):
    from attendance_cli.codes import load_code_table
    from attendance_cli.dataset import Dataset
    from attendance_cli.ingest import IngestOptions
    from attendance_cli.ingest.validate import details_as_of, pupils_as_of

    july, september = weekdays(dt.date(2025, 7, 14), 5), weekdays(dt.date(2025, 9, 8), 5)

    def rows(pupil: str, days: list[dt.date], year: str, form: str, surname: str = "Smith") -> list[str]:
        return [f"{pupil},{surname},Amy,{year},{form},{d:%d/%m/%Y},{s},/," for d in days for s in ("AM", "PM")]

    path = write("two-years.csv", [
        ARBOR_HEADER,
        *rows("P1", july, "Year 10", " 10A "), *rows("P1", september, "Year 11", "11B"),  # a cell padded with spaces
        *rows("P2", july[:2], "Year 9", "9C", surname="Jones"), *rows("P2", july[2:], "Year 9", "  ", surname="Jones"),
        *rows("P2", september, "Year 10", "10C", surname="Jones-Patel"),
        *rows("P3", september, "Year 7", "7A"),  # joined in September
    ])
    export = Dataset.open([path], IngestOptions(codes=load_code_table("dfe"))).export
    columns = ["surname", "forename", "year_group", "form"]
    ends = [dt.date(2025, 7, 15), dt.date(2025, 7, 18), dt.date(2025, 9, 9)]
    together = details_as_of(export, columns, ends)
    pupils = pl.DataFrame({"pupil_id": ["P1", "P2", "P3"], **{c: ["?"] * 3 for c in columns}})
    for end in ends:
        assert pupils_as_of(export, pupils, end).sort("pupil_id").equals(
            pupils.update(together[end], on="pupil_id").sort("pupil_id")), end
    # in July P2's form is the one on their latest row that gives one (the blank cells after it do not
    # blank it); P3, who joined in September, has no row up to then and keeps their own details
    assert together[dt.date(2025, 7, 18)].sort("pupil_id").rows() == [
        ("P1", "Smith", "Amy", "Year 10", "10A"), ("P2", "Jones", "Amy", "Year 9", "9C")]
    assert together[dt.date(2025, 9, 9)].sort("pupil_id").rows() == [
        ("P1", "Smith", "Amy", "Year 11", "11B"), ("P2", "Jones-Patel", "Amy", "Year 10", "10C"),
        ("P3", "Smith", "Amy", "Year 7", "7A")]
