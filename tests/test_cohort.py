"""--cohort dfe: the national statistics' cohort, pupils of compulsory school age (5 to 15 at 31 August),
without the 15-year-olds' sessions in the sixth half term (from the spring bank holiday)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from attendance_cli.errors import InputError
from attendance_cli.calendar import Window
from tests.conftest import csv_frame, read, stats

HEADER = "Student ID,Legal Surname,Legal Forename,Date of Birth,Year Group,Date,Session,Mark,Minutes Late"
AUTUMN = [dt.date(2025, 9, 1), dt.date(2025, 9, 2)]
# the spring bank holiday 2026 is Monday 25 May: the 22nd is in the fifth half term, the 26th in the sixth
SUMMER = [dt.date(2026, 5, 22), dt.date(2026, 5, 26)]
COHORT = Window(None, None, dfe_cohort=True)


def rows(pupil: str, born: str, year: str, days: list[dt.date], mark: str = "/") -> list[str]:
    return [f"{pupil},S{pupil},F{pupil},{born},{year},{day:%d/%m/%Y},{half},{mark}," for day in days for half in ("AM", "PM")]


def possible(frame: pl.DataFrame) -> dict[str, int]:
    return dict(frame.select("pupil_id", "possible_sessions").iter_rows())


def test_ages_at_31_august_from_dates_of_birth(write):
    path = write("dob.csv", [HEADER,
                             *rows("FIVE", "31/08/2020", "Year 1", AUTUMN + SUMMER),  # 5 at 31/08/2025
                             *rows("FOUR", "01/09/2020", "Reception", AUTUMN + SUMMER),  # 4: not yet of compulsory age
                             *rows("FIFTEEN", "01/09/2009", "Year 11", AUTUMN + SUMMER, "O"),  # 15: sixth half term left out
                             *rows("SIXTEEN", "31/08/2009", "Year 12", AUTUMN + SUMMER)])  # 16
    assert possible(stats([path])) == {"FIFTEEN": 8, "FIVE": 8, "FOUR": 8, "SIXTEEN": 8}
    counted = stats([path], window=COHORT)
    assert possible(counted) == {"FIFTEEN": 6, "FIVE": 8}
    fifteen = counted.filter(pl.col("pupil_id") == "FIFTEEN").row(0, named=True)
    assert (fifteen["unauthorised_absences"], fifteen["attendance_pct"]) == (6, 0.0)
    report = read([path], window=COHORT).report
    assert (report.outside_cohort, report.age_unknown) == (2, 0)


def test_without_dates_of_birth_the_year_group_of_the_latest_marks_says_the_age(write):
    header = "Student ID,Legal Surname,Legal Forename,Year Group,Date,Session,Mark,Minutes Late"

    def year_rows(pupil: str, year: str, days: list[dt.date]) -> list[str]:
        return [f"{pupil},S,F,{year},{day:%d/%m/%Y},{half},/," for day in days for half in ("AM", "PM")]

    last_year = write("2025-26.csv", [header, *year_rows("P1", "Reception", AUTUMN), *year_rows("P11", "Year 11", SUMMER),
                                      *year_rows("P12", "Year 12", AUTUMN)])
    # this year's export: P1 is now in Year 1; a warehouse file without year groups for P1 too
    this_year = write("2026-27.csv", [header, *year_rows("P1", "Year 1", [dt.date(2026, 9, 7)])])
    warehouse = write("wh.csv", ["STUDENT_ID,RAW_MARK,MINUTES_LATE,PERIOD,DATE", "P1,/,,MORNING,2026-09-08",
                                 "NOBODY,/,,MORNING,2026-09-08"])
    counted = stats([last_year, this_year, warehouse], window=COHORT)
    # P1: Reception in 2025/26 (left out), Year 1 from September 2026 (counted, the warehouse mark too);
    # P11: Year 11, sixth half term sessions left out; P12: Year 12; NOBODY: no year group anywhere
    assert possible(counted) == {"P1": 3, "P11": 2}
    report = read([last_year, this_year, warehouse], window=COHORT).report
    assert (report.outside_cohort, report.age_unknown) == (1, 1)


def test_exports_with_no_age_at_all_are_refused(write):
    path = write("plain.csv", ["Student ID,Date,Session,Mark", "1,01/09/2025,AM,/"])
    with pytest.raises(InputError) as raised:
        read([path], window=COHORT)
    assert raised.value.describe().splitlines()[0] == (
        "The exports have no date of birth or year group, so the DfE cohort (pupils of compulsory school age) "
        "cannot be told.")


def test_the_command_line_says_the_cohort_and_who_was_left_out(run, write):
    path = write("dob.csv", [HEADER, *rows("FIVE", "31/08/2020", "Year 1", AUTUMN),
                             *rows("FOUR", "01/09/2020", "Reception", AUTUMN),
                             *rows("ODD", "", "Unknown", AUTUMN)])
    result = run("summary", path, "--cohort", "dfe", "-f", "csv")
    assert csv_frame(result.stdout)["pupil_id"].to_list() == ["FIVE"]
    assert "counting all dates in the data; DfE cohort (compulsory school age)." in result.stderr
    assert ("1 pupil outside the DfE cohort's ages left out; 1 pupil with no date of birth or year group giving an "
            "age left out.") in result.stderr
    table = run("summary", path, "--cohort", "dfe", "-f", "table", "--by", "year_group")
    assert "DfE cohort: pupils of compulsory school age" in " ".join(table.stdout.split())
    assert run("summary", path, "-f", "csv", "-q").stdout.count("\n") == 4  # every pupil without it


def test_an_unreadable_date_of_birth_is_refused_not_replaced_by_the_year_group(write):
    path = write("dob.csv", [HEADER, *rows("FIVE", "31/08/2020", "Year 1", AUTUMN), *rows("BAD", "31/02/2019", "Year 1", AUTUMN)])
    with pytest.raises(InputError) as raised:
        read([path], window=COHORT)
    lines = raised.value.describe().splitlines()
    assert lines[0] == "1 date of birth could not be read, so the DfE cohort cannot be told."
    assert lines[1] == (f"  - {path}, line 6: not a day-first date of birth (pupil BAD); column 'Date of Birth'; "
                        "value '31/02/2019'")
    assert possible(stats([path])) == {"BAD": 4, "FIVE": 4}  # every pupil is counted without the cohort
