"""The report's comparisons on the sample secondary school: last year's window counted as the report's
own figures (the same cohort and method as `summary`), a short window's persistent and severe absence
kept apart from a term's national figure, the nearest published period named as such, the PDF laid
out as the HTML, and a benchmark row that does not add up refused."""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import pytest

from tests.test_national import BENCHMARK, headline, secondary


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    from attendance_cli.sample import write_samples

    folder = tmp_path_factory.mktemp("sample")
    write_samples(folder)
    return folder


def rows(page: str) -> dict[str, list[str]]:
    """The headline table: measure -> its cells."""
    out = {}
    for row in re.findall(r"<tr><td>(.*?)</td></tr>", headline(page)):
        cells = [html.unescape(c) for c in row.split("</td><td>")]
        out[cells[0]] = cells[1:]
    return out


def secondary_exports(sample: Path) -> list[Path]:
    return sorted(sample.glob("secondary_arbor_*.csv"))


def test_last_year_with_cohort_dfe_is_summary_for_last_years_dates(run, sample, tmp_path):
    from tests.conftest import csv_frame

    exports = secondary_exports(sample)
    out = tmp_path / "r.html"
    result = run("report", *exports, "--cohort", "dfe", "--phase", "secondary", "--out", out)
    assert result.exit_code == 0, result.stderr
    table = rows(out.read_text(encoding="utf-8"))
    # summary for last year's window, with the same cohort, pupil by pupil
    pupils = csv_frame(run("summary", *exports, "--cohort", "dfe", "--from", "03/11/2025", "--to", "21/11/2025",
                           "-f", "csv", "-q").stdout)
    possible = sum(int(v) for v in pupils["possible_sessions"])
    attended = sum(int(v) for v in pupils["attended_sessions"])
    pa = sum(v == "true" for v in pupils["persistent_absence"])
    sa = sum(v == "true" for v in pupils["severe_absence"])
    days = sum(float(v) for v in pupils["days_missed"])
    assert (pupils.height, possible, attended, pa, sa, days) == (997, 29868, 27389, 261, 35, 1239.5)
    assert table["Attendance"][2] == "91.70%"  # 27,389 of 29,868, rounded down
    assert table["Persistent absence (10% or more missed), this window"][2] == "26.18% (261 pupils)"
    assert table["Severe absence (50% or more missed), this window"][2] == "3.51% (35 pupils)"
    assert table["Days lost to absence"][2] == "1,239.5"
    assert table["Authorised absence"][2] == "4.72%" and table["Unauthorised absence"][2] == "3.58%"


def test_a_half_terms_pa_is_not_set_beside_the_autumn_terms(run, sample, tmp_path):
    out = tmp_path / "r.html"
    assert run("report", *secondary_exports(sample), "--phase", "all", "--out", out).exit_code == 0
    page = out.read_text(encoding="utf-8")
    table = rows(page)
    # the half term 02/11 to 20/11/2026: 26.20% beside nothing; the year to date's beside the latest
    # autumn term's, 19.47% (2025/26, daily data)
    assert table["Persistent absence (10% or more missed), this window"][:2] == ["26.20% (262 pupils)", "–"]
    assert table["Severe absence (50% or more missed), this window"][1] == "–"
    assert table["Persistent absence, school year to date"][:2] == ["22.23% (223 pupils)", "19.47%"]
    note = html.unescape(headline(page))
    assert ("persistent absence and severe absence: this window (02/11/2026 to 20/11/2026) is shorter than the "
            "autumn term, and published figures are for whole terms or years") in note
    assert "the autumn term, the period the school year to date has reached" in note


@pytest.mark.parametrize("phase, national, why", [
    # all schools: the spring term 2024/25 (daily data, 7.0% absence), the latest spring term published
    ("all", "93.00%", "national all, spring term 2024/25 (DfE, Pupil attendance in schools (daily data), 2025 week "
                      "15, https://explore-education-statistics.service.gov.uk/find-statistics/pupil-attendance-in-"
                      "schools/2025-week-15, publication date not recorded; state-funded schools, 6 January to 11 "
                      "April 2025; figures to one decimal); the spring term, the term this window is part of; the "
                      "latest published"),
    # secondary: no spring term figure, so the autumn and spring terms 2024/25 (census, 8.09%)
    ("secondary", "91.91%", "national secondary, autumn and spring terms 2024/25 (DfE, Pupil absence in schools in "
                            "England: autumn and spring term 2024/25 (school census), https://explore-education-"
                            "statistics.service.gov.uk/find-statistics/pupil-absence-in-schools-in-england/2024-25-"
                            "autumn-and-spring-term, published 23/10/2025; state-funded secondary schools); no spring "
                            "term figure is in the shipped national figures, so the nearest published period: the "
                            "autumn and spring terms, which include the spring term"),
])
def test_a_spring_half_term_is_compared_with_the_spring_term_or_the_nearest_published_period(run, sample, tmp_path,
                                                                                              phase, national, why):
    out = tmp_path / "r.html"
    result = run("report", sample / "secondary_arbor_2025-26_spring2.csv", "--phase", phase, "--out", out)
    assert result.exit_code == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    assert rows(page)["Attendance"][:2] == ["91.43%", national]
    note = html.unescape(headline(page))
    assert why in note and "the period of this window" not in note
    # the exports begin with the second spring half term: no year to date to set beside it
    assert "The exports begin on 23/02/2026, after the school year began: the school year to date is not shown." in note
    assert rows(page)["Persistent absence (10% or more missed)"][1] == "–"


def test_a_window_spanning_its_term_compares_its_pa_with_the_terms(run, tmp_path):
    own = tmp_path / "newtown.csv"
    own.write_text(BENCHMARK, encoding="utf-8")
    out = tmp_path / "r.html"
    # the ten weeks from 07/09 to 13/11/2026 as chosen dates from 07/09: the year to date, against the autumn's
    assert run("report", secondary(tmp_path / "m.csv"), "--from", "07/09/2026", "--to", "13/11/2026",
               "--benchmark", own, "--out", out).exit_code == 0
    assert rows(out.read_text(encoding="utf-8"))["Persistent absence (10% or more missed)"][:2] == ["0.00% (0 pupils)",
                                                                                                   "12.00%"]


@pytest.mark.parametrize("start, end, period, whole", [
    (dt.date(2026, 9, 3), dt.date(2026, 12, 18), "autumn", True),
    (dt.date(2026, 11, 2), dt.date(2026, 12, 18), "autumn", False),   # the second half term only
    (dt.date(2026, 9, 3), dt.date(2026, 11, 20), "autumn", False),    # ends weeks before the term does
    (dt.date(2027, 1, 5), dt.date(2027, 3, 19), "spring", True),      # Easter Sunday 2027 is 28/03
    (dt.date(2027, 2, 22), dt.date(2027, 3, 26), "spring", False),
    (dt.date(2027, 4, 12), dt.date(2027, 7, 21), "summer", True),
])
def test_a_window_covers_its_term_only_from_its_start_to_its_last_weeks(start, end, period, whole):
    from attendance_cli.reports.benchmarks import covers

    assert covers(start, end, period) is whole


def test_a_benchmark_row_that_does_not_add_up_is_refused_naming_file_line_and_values(run, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(BENCHMARK.replace(",5.00,3.00,2.00,", ",7.9,4.9,5.0,"), encoding="utf-8")
    out = tmp_path / "r.html"
    result = run("report", secondary(tmp_path / "m.csv"), "--benchmark", bad, "--out", out)
    assert result.exit_code != 0 and not out.exists()
    assert (f"{bad}, line 2: authorised_absence_pct 4.9 + unauthorised_absence_pct 5.0 = 9.90, not "
            "overall_absence_pct 7.9 (they may differ by rounding, by 0.1 at most)") in " ".join(result.stderr.split())


def test_the_shipped_figures_add_up_and_are_dated_where_the_source_says():
    from attendance_cli.reports.benchmarks import read_benchmarks

    rows_ = read_benchmarks().rows  # read without refusal: every row adds up within 0.1
    census = [r for r in rows_ if r.school_year == "2023/24" and r.period == "full-year"]
    assert len(census) == 4 and {r.published for r in census} == {dt.date(2025, 3, 20)}


def test_pdf_lists_method_and_letters_as_the_html(run, tmp_path):
    from tests.test_report_fixes import pdf_text

    from tests.test_reports import register

    # P0 missed 4 of 20 sessions: newly persistently absent, listed with the school year's attendance
    pupils = {f"P{i}": ("Year 9", "9A", f"Pupil{i}", ["/"] * 20) for i in range(1, 6)}
    pupils["P0"] = ("Year 9", "9A", "Pupil0", ["O"] * 4 + ["/"] * 16)
    marks = register(tmp_path / "m.csv", pupils)
    out = tmp_path / "r.pdf"
    assert run("report", marks, "--out", out, "--suppress-below", "1").exit_code == 0
    text = " ".join(pdf_text(out).split())
    assert "Newly persistently absent Pupil Name Form Attendance % (school year) P0" in text
    assert ("Percentages Attendance rounded down and absence rounded up to two decimals, so no figure crosses a "
            "threshold by rounding.") in text
    assert "Absence by reason Code Meaning Counts as Sessions O" in text
    assert ("Letters are shown with --policy and the ledger its letters are recorded in (--db): this report was made "
            "without a policy.") in text
    page = tmp_path / "r.html"
    assert run("report", marks, "--out", page, "--suppress-below", "1").exit_code == 0
    assert ("<p>Letters are shown with --policy and the ledger its letters are recorded in (--db): this report was "
            "made without a policy.</p>") in page.read_text(encoding="utf-8")


def test_a_letter_with_under_a_week_of_registers_after_it_is_left_out_and_counted(run, tmp_path):
    from tests.test_letters import POLICY, SCHOOL, register as lettered

    (tmp_path / "school.toml").write_text(SCHOOL, encoding="utf-8")
    (tmp_path / "policy.toml").write_text('school = "school.toml"\n' + POLICY, encoding="utf-8")
    # three lates from Monday 02/11/2026; the registers end on Thursday 12/11, four school days after
    # the letter of Monday 09/11
    marks = lettered(tmp_path / "m.csv", {"S1": ("Smith", "Amy", {0: ("L", 5), 1: ("L", 5), 2: ("L", 5)})}, days=9)
    db = tmp_path / "ledger.sqlite"
    assert run("letters", marks, "--policy", tmp_path / "policy.toml", "--db", db, "--out", tmp_path / "out",
               "-f", "txt", "--as-of", "06/11/2026", "--date", "09/11/2026").exit_code == 0
    out = tmp_path / "report.html"
    result = run("report", marks, "--out", out, "--window", "ytd", "--policy", tmp_path / "policy.toml", "--db", db,
                 "--suppress-below", "1")
    assert result.exit_code == 0, result.stderr
    section = out.read_text(encoding="utf-8").split('<section id="interventions">')[1].split("</section>")[0]
    assert "<table" not in section
    assert ("Left out: 1 letter (3 late sessions this half term), with fewer than 5 school days of registers after "
            "them (the registers end 12/11/2026).") in html.unescape(section)
