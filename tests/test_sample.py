"""The synthetic sample exports: deterministic, the right files, the right quirks, national-looking figures."""

from __future__ import annotations

import csv
import io
import unicodedata
from pathlib import Path

import polars as pl
import pytest

from attendance_cli.sample import write_samples

EXPECTED = sorted(
    [f"primary_arbor_2025-26_{t}.csv" for t in ("autumn", "spring", "summer")]
    + ["primary_arbor_2026-27_autumn_grid.csv", "primary_arbor_2026-27_week-47.csv"]
    + [f"secondary_arbor_2025-26_{h}.csv" for h in ("autumn1", "autumn2", "spring1", "spring2", "summer1", "summer2")]
    + [f"secondary_arbor_2026-27_{h}.csv" for h in ("autumn1", "autumn2")]
    + [f"college_progresso_lessons_2025-26_{h}.csv"
       for h in ("autumn1", "autumn2", "spring1", "spring2", "summer1", "summer2")]
    + [f"college_progresso_lessons_2026-27_{h}.csv" for h in ("autumn1", "autumn2")]
    + ["college_progresso_rollcall_2026-27_autumn.csv"]
    + ["primary_contacts.csv", "primary_requests.csv", "primary_school.toml"]
)
EXPORTS = [name for name in EXPECTED if name.endswith(".csv") and "contacts" not in name and "requests" not in name]
AUTHORISED = ["C1", "M", "J1", "S", "C2", "C", "T", "R", "I", "E"]
UNAUTHORISED = ["G", "U", "O", "N"]
# Not possible sessions; `-` is "no mark entered", so it is not a possible session either.
NOT_POSSIBLE = ["X", "D", "Q", "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7", "Z", "#", "-"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[Path]]:
    """The default set generated twice, into two folders (the only two runs in the session)."""
    first = write_samples(tmp_path_factory.mktemp("first"))
    second = write_samples(tmp_path_factory.mktemp("second"))
    return first, second


@pytest.fixture(scope="module")
def folder(generated: tuple[list[Path], list[Path]]) -> Path:
    return generated[0][0].parent


def _long(path: Path, encoding: str = "utf-8") -> pl.DataFrame:
    """A long export's data rows as text, without title lines, BOM or totals/legend lines."""
    lines = path.read_bytes().decode(encoding).lstrip("\ufeff").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(("Student ID", "STUDENT_ID", "EventId",
                                                                        "LearnerId")))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return pl.read_csv(io.StringIO("\n".join(lines[start:end])), infer_schema=False)


def _rates(frame: pl.DataFrame) -> tuple[float, pl.DataFrame]:
    """Overall absence rate and each pupil's rate, computed the DfE way from session marks."""
    marks = frame.select(
        pl.col("Student ID"),
        possible=pl.col("Mark").is_not_null() & ~pl.col("Mark").is_in(NOT_POSSIBLE),
        absent=pl.col("Mark").is_in(AUTHORISED + UNAUTHORISED),
    )
    overall = marks["absent"].sum() / marks["possible"].sum()
    pupils = (marks.group_by("Student ID")
              .agg(possible=pl.col("possible").sum(), absent=pl.col("absent").sum())
              .filter(pl.col("possible") > 0)
              .with_columns(rate=pl.col("absent") / pl.col("possible")))
    return overall, pupils


def _primary_year(folder: Path) -> pl.DataFrame:
    return pl.concat([
        _long(folder / "primary_arbor_2025-26_autumn.csv"),
        _long(folder / "primary_arbor_2025-26_spring.csv"),
        _long(folder / "primary_arbor_2025-26_summer.csv", "cp1252"),
    ])


def test_same_seed_gives_identical_bytes(generated: tuple[list[Path], list[Path]]) -> None:
    first, second = generated
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_file_list_and_sizes(generated: tuple[list[Path], list[Path]], folder: Path) -> None:
    paths = generated[0]
    assert paths == sorted(paths)
    assert [p.name for p in paths] == EXPECTED
    assert sorted(p.name for p in folder.iterdir()) == EXPECTED  # no temporary files left behind
    for path in paths:
        assert 0 < path.stat().st_size < 4.5 * 1024 * 1024, path.name


def test_primary_encodings_and_layout_quirks(folder: Path) -> None:
    summer = (folder / "primary_arbor_2025-26_summer.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        summer.decode("utf-8")
    text = summer.decode("cp1252")
    assert "O’Brien" in text and "Zoë" in text
    assert (folder / "primary_arbor_2025-26_spring.csv").read_bytes().startswith(b"\xef\xbb\xbf")

    autumn = (folder / "primary_arbor_2025-26_autumn.csv").read_text(encoding="utf-8").splitlines()
    assert autumn[0] == "Oakfield Primary Academy - Attendance marks"
    assert autumn[1] == "Date range: 01/09/2025 - 19/12/2025"
    assert autumn[-3] == ""
    assert autumn[-2] == f"Total marks,,,,,,,,{len(autumn) - 6},"
    assert autumn[-1].startswith("Key: ")


def test_grid_has_two_header_rows_matching_the_weekly_export(folder: Path) -> None:
    with open(folder / "primary_arbor_2026-27_autumn_grid.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    first, second = rows[0], rows[1]
    assert first[:6] == ["Student ID", "Legal Surname", "Legal Forename", "Year Group", "Registration Form",
                         "Thu 03/09/2026"]
    assert first[6] == "" and second[:7] == ["", "", "", "", "", "AM", "PM"]
    assert first[-2] == "Fri 20/11/2026" and second[-2:] == ["AM", "PM"]
    assert all(len(row) == len(first) for row in rows)

    column = {(first[c] if second[c] == "AM" else first[c - 1]).split()[1] + second[c]: c
              for c in range(5, len(first))}
    grid = {row[0]: row for row in rows[2:]}
    week = _long(folder / "primary_arbor_2026-27_week-47.csv")
    assert week["Date"].unique().sort().to_list() == [f"{d}/11/2026" for d in range(16, 21)]
    for pupil, day, session, mark in week.select("Student ID", "Date", "Session", "Mark").iter_rows():
        assert grid[pupil][column[day + session]] == (mark or "")


def test_primary_year_looks_national(folder: Path) -> None:
    overall, pupils = _rates(_primary_year(folder))
    assert 0.045 <= overall <= 0.065
    persistent = (pupils["rate"] >= 0.10).mean()
    assert 0.08 <= persistent <= 0.20


def test_secondary_year_looks_national(folder: Path) -> None:
    files = sorted(folder.glob("secondary_arbor_2025-26_*.csv"))
    frames = [_long(p).rename({"STUDENT_ID": "Student ID", "RAW_MARK": "Mark"}, strict=False)
              .select("Student ID", "Mark") for p in files]
    overall, _ = _rates(pl.concat(frames))
    assert 0.075 <= overall <= 0.095


def test_no_pupil_has_two_marks_for_one_slot(generated: tuple[list[Path], list[Path]]) -> None:
    for path in generated[0]:
        if path.name.endswith("_grid.csv") or path.name not in EXPORTS:
            continue
        frame = _long(path, "cp1252" if path.name.endswith("_summer.csv") and "primary" in path.name else "utf-8")
        pupil = next(c for c in ("Student ID", "STUDENT_ID", "LearnerId") if c in frame.columns)
        slot = next(c for c in ("Session", "PERIOD", "Period") if c in frame.columns)
        date = "DATE" if "DATE" in frame.columns else "Date"
        assert frame.height > 0, path.name
        assert not frame.select(pl.struct(pupil, date, slot).is_duplicated().any()).item(), path.name


def test_lesson_event_ids_name_one_lesson(folder: Path) -> None:
    frame = pl.concat([_long(p) for p in sorted(folder.glob("college_progresso_lessons_*.csv"))])
    lessons = frame.select("EventId", "GroupCode", "Date", "Period").unique()
    assert lessons["EventId"].n_unique() == lessons.height


@pytest.mark.parametrize(("pattern", "codes"), [
    ("primary_arbor_*.csv", "dfe"), ("secondary_arbor_*.csv", "dfe"), ("college_progresso_lessons_*.csv", "college")])
def test_each_sample_school_reads_whole_through_the_pipeline(folder: Path, pattern: str, codes: str) -> None:
    # every export of the school together: all rows accounted for, every pupil named (the Arbor
    # warehouse half terms carry no names; earlier exports give them)
    from tests.conftest import read, stats

    files = sorted(folder.glob(pattern))
    result = read(files, codes)
    assert all(f.balanced for f in result.report.files) and result.report.rejected == 0
    figures = stats(files, codes)
    assert figures.height > 250
    if codes == "dfe":  # Progresso lesson exports carry no names
        assert figures["surname"].null_count() == 0
    assert (figures["possible_sessions"] == figures["attended_sessions"] + figures["authorised_absences"]
            + figures["unauthorised_absences"]).all()


def test_the_committed_sample_data_is_what_the_generator_writes(generated: tuple[list[Path], list[Path]]) -> None:
    """README: `attendance sample` writes sample_data/ byte for byte."""
    committed = Path(__file__).resolve().parents[1] / "sample_data"
    for path in generated[0]:
        assert (committed / path.name).read_bytes() == path.read_bytes(), f"regenerate sample_data: {path.name}"


def test_guardians_are_named_as_grown_ups_whose_title_fits(folder: Path) -> None:
    """A Mr has a father's forename, a Mrs or Ms a mother's, a Mx a name anyone may have; never the pupil's own
    forename; the salutation is the title and surname; the e-mail, when there is one, is the guardian's."""
    from attendance_cli.sample import GUARDIAN_FORENAMES

    with (folder / "primary_contacts.csv").open(encoding="utf-8", newline="") as handle:
        guardians = list(csv.DictReader(handle))
    grid = (folder / "primary_arbor_2026-27_autumn_grid.csv").read_text(encoding="utf-8").splitlines()
    pupils = {row[0]: row[2] for row in csv.reader(grid[2:])}  # every pupil on roll this year: id -> forename
    expected = {"Mrs": "Mother", "Ms": "Mother", "Mr": "Father", "Mx": "Parent"}
    assert len(guardians) > 400
    for guardian in guardians:
        title, forename, surname = guardian["Contact Name"].split(" ", 2)
        assert expected[title] == guardian["Relationship"], guardian
        assert forename in GUARDIAN_FORENAMES[guardian["Relationship"]], guardian
        assert forename != pupils.get(guardian["Student ID"]), guardian
        assert guardian["Salutation"] == f"{title} {surname}"
        assert guardian["Email"] == "" or guardian["Email"].startswith(
            unicodedata.normalize("NFKD", forename).encode("ascii", "ignore").decode().lower() + ".")
    assert {guardian["Contact Name"].split()[0] for guardian in guardians} == set(expected)
    assert {guardian["Student ID"] for guardian in guardians} <= set(pupils)
