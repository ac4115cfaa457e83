"""National figures for the report: the shipped, dated file; the figure chosen for the window, the
phase and the cohort; an authority's own --benchmark file; the year to date's persistent absence
beside a short window's; the charts' lateness and heat map."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.test_reports import register

SECONDARY_AUTUMN = "national secondary, autumn term 2024/25 (DfE, Pupil absence in schools in England: autumn term 2024/25"


def secondary(path: Path) -> Path:
    """Ten Year 9 pupils, ten weeks from Monday 07/09/2026 to Friday 13/11/2026 (100 sessions each);
    P0 misses 3 sessions, all in the last fortnight (02/11 to 13/11, 20 sessions): 15% of the
    fortnight, 3% of the year to date."""
    pupils = {f"P{i}": ("Year 9", "9A", f"Pupil{i}", ["/"] * 100) for i in range(1, 10)}
    pupils["P0"] = ("Year 9", "9A", "Pupil0", ["/"] * 80 + ["O"] * 3 + ["/"] * 17)
    return register(path, pupils, dt.date(2026, 9, 7))


def headline(page: str) -> str:
    start = page.index('<section id="headline">')
    return page[start:page.index("</section>", start)]


def test_a_secondary_autumn_window_is_compared_with_the_published_autumn_term(run, tmp_path):
    out = tmp_path / "r.html"
    result = run("report", secondary(tmp_path / "m.csv"), "--from", "02/11/2026", "--to", "13/11/2026", "--out", out)
    assert result.exit_code == 0, result.stderr
    table = headline(out.read_text(encoding="utf-8"))
    # 3 of 200 sessions missed; national secondary autumn term 2024/25 (census): 7.66% absence
    assert "<th>National (secondary)</th>" in table
    assert "<tr><td>Attendance</td><td>98.50%</td><td>92.34%</td>" in table
    assert "<tr><td>Overall absence</td><td>1.50%</td><td>7.66%</td>" in table
    assert SECONDARY_AUTUMN in table and "the autumn term, the term this window is part of; the latest published" in table
    # the census autumn release gives overall absence only: authorised and unauthorised are not compared
    assert "<tr><td>Authorised absence</td><td>0.00%</td><td>–</td>" in table
    # persistent absence over a fortnight is not set beside a full year's: the fortnight's (1 of 10
    # pupils) has no national figure; the year to date's (none: 3 of 100) is compared with the full year
    assert "<tr><td>Persistent absence (10% or more missed), this window</td><td>10.00% (1 pupil)</td><td>–</td>" in table
    assert ("<tr><td>Persistent absence, school year to date</td><td>0.00% (0 pupils)</td><td>23.77%</td>"
            in table)
    assert "<tr><td>Severe absence, school year to date</td><td>0.00% (0 pupils)</td><td>–</td>" in table
    assert ("Persistent absence over the school year to date: national secondary, full year 2025/26 (DfE, Pupil "
            "attendance in schools (daily data), 2025/26") in table
    assert ("no autumn term figure is in the shipped national figures, so the nearest published period: the full "
            "year, which includes the autumn term.") in table
    # the fortnight's own: not set beside any term's, and the note says why
    assert ("Not compared: authorised absence and unauthorised absence: the figure overall absence is compared with "
            "does not give it; persistent absence and severe absence: this window (02/11/2026 to 13/11/2026) is "
            "shorter than the autumn term, and published figures are for whole terms or years") in table
    assert "this report counts every pupil (&#39;attendance report --cohort dfe&#39; compares like with like)" in table


def test_a_window_across_terms_is_compared_with_the_full_year(run, tmp_path):
    out = tmp_path / "r.html"
    # the whole year to date: autumn; --phase all: the latest autumn term published for all schools,
    # 2025/26 (daily data: 6.62%), not the older 2024/25 census (6.38%)
    result = run("report", secondary(tmp_path / "m.csv"), "--window", "ytd", "--phase", "all", "--out", out)
    assert result.exit_code == 0, result.stderr
    table = headline(out.read_text(encoding="utf-8"))
    assert "<th>National (all)</th>" in table and "<td>6.62%</td>" in table and "6.38%" not in table
    assert "national all, autumn term 2025/26 (DfE, Pupil attendance in schools (daily data), 2026 week 2" in table
    # the year to date reaches the autumn term: persistent absence against the autumn term's (daily data)
    assert "Persistent absence (10% or more missed)</td><td>0.00% (0 pupils)</td><td>19.47%</td>" in table
    assert "school year to date</td>" not in table  # the window is the year to date: no second row


def test_phase_special_and_the_school_settings_phase(run, tmp_path):
    from tests.test_letters import SCHOOL

    marks = secondary(tmp_path / "m.csv")
    out = tmp_path / "r.html"
    assert run("report", marks, "--from", "02/11/2026", "--to", "13/11/2026", "--phase", "special",
               "--out", out).exit_code == 0
    assert "<tr><td>Overall absence</td><td>1.50%</td><td>12.55%</td>" in out.read_text(encoding="utf-8")
    school = tmp_path / "school.toml"
    school.write_text(SCHOOL + 'phase = "primary"\n', encoding="utf-8")
    assert run("report", marks, "--from", "02/11/2026", "--to", "13/11/2026", "--school", school,
               "--out", out).exit_code == 0
    assert "<tr><td>Overall absence</td><td>1.50%</td><td>5.07%</td>" in out.read_text(encoding="utf-8")
    # --phase wins over the settings
    assert run("report", marks, "--from", "02/11/2026", "--to", "13/11/2026", "--school", school,
               "--phase", "secondary", "--out", out).exit_code == 0
    assert "<tr><td>Overall absence</td><td>1.50%</td><td>7.66%</td>" in out.read_text(encoding="utf-8")


BENCHMARK = """school_year,period,phase,overall_absence_pct,authorised_absence_pct,unauthorised_absence_pct,persistent_absence_pct,severe_absence_pct,source,url,published,note
2026/27,autumn,secondary,5.00,3.00,2.00,12.00,1.50,Newtown Council attendance team,https://newtown.example.org/attendance,2026-12-18,Newtown secondary schools
2025/26,full-year,secondary,6.00,4.00,2.00,15.00,,Newtown Council attendance team,https://newtown.example.org/attendance,,
"""


def test_a_benchmark_file_is_used_and_named(run, tmp_path):
    own = tmp_path / "newtown.csv"
    own.write_text(BENCHMARK, encoding="utf-8")
    out = tmp_path / "r.html"
    result = run("report", secondary(tmp_path / "m.csv"), "--from", "02/11/2026", "--to", "13/11/2026",
                 "--benchmark", own, "--out", out)
    assert result.exit_code == 0, result.stderr
    table = headline(out.read_text(encoding="utf-8"))
    assert "<th>Benchmark (secondary)</th>" in table
    assert "<tr><td>Overall absence</td><td>1.50%</td><td>5.00%</td>" in table
    assert "<tr><td>Unauthorised absence</td><td>1.50%</td><td>2.00%</td>" in table
    # a fortnight's PA and SA are not set beside the autumn term's, even the benchmark's own; the year
    # to date's (to 13/11, in the autumn term) are, with the period it has reached
    assert "this window</td><td>10.00% (1 pupil)</td><td>–</td>" in table
    assert "Severe absence (50% or more missed), this window</td><td>0.00% (0 pupils)</td><td>–</td>" in table
    assert "<tr><td>Persistent absence, school year to date</td><td>0.00% (0 pupils)</td><td>12.00%</td>" in table
    assert "<tr><td>Severe absence, school year to date</td><td>0.00% (0 pupils)</td><td>1.50%</td>" in table
    assert f"Figures compared with, from {own} (phase secondary)." in table
    assert ("benchmark secondary, autumn term 2026/27 (Newtown Council attendance team, "
            "https://newtown.example.org/attendance, published 18/12/2026; Newtown secondary schools); "
            "the autumn term, the term this window is part of.") in table
    assert ("Persistent absence over the school year to date and severe absence over the school year to date: "
            "benchmark secondary, autumn term 2026/27") in table
    assert "the autumn term, the period the school year to date has reached." in table
    assert ("persistent absence and severe absence: this window (02/11/2026 to 13/11/2026) is shorter than the "
            "autumn term") in table
    # the note speaks of the benchmark file, not of the national figures
    assert "National figures" not in table
    assert ("This report counts every pupil; the benchmark file&#39;s note column says which pupils its figures "
            "cover") in table


@pytest.mark.parametrize("text, message", [
    (BENCHMARK.replace("2025/26,full-year,secondary", "2025/26,full-year,middle"),
     "line 3: phase 'middle' is not one of primary, secondary, special, all"),
    (BENCHMARK.replace(",5.00,", ",five,"), "line 2: overall_absence_pct 'five' is not a percentage"),
    (BENCHMARK.replace("2026/27,", "2026/28,", 1), "line 2: school_year '2026/28' is not a school year such as 2024/25"),
    (BENCHMARK.replace("2026-12-18", "18/12/2026"), "line 2: published '18/12/2026' is not a date yyyy-mm-dd"),
    (BENCHMARK.replace("Newtown Council attendance team,https://newtown.example.org/attendance,,",
                       ",https://newtown.example.org/attendance,,"), "line 3: no source"),
    (BENCHMARK.replace("severe_absence_pct,", "sa,", 1), "line 1: no column severe_absence_pct; unknown column sa"),
    (BENCHMARK.splitlines()[0] + "\n", "no figures (only the header)"),
])
def test_a_bad_benchmark_file_is_refused_naming_the_file_and_line(run, tmp_path, text, message):
    bad = tmp_path / "bad.csv"
    bad.write_text(text, encoding="utf-8")
    out = tmp_path / "r.html"
    result = run("report", secondary(tmp_path / "m.csv"), "--benchmark", bad, "--out", out)
    assert result.exit_code != 0
    assert str(bad) in result.stderr and message in " ".join(result.stderr.split())
    assert not out.exists()


#: The rows of the shipped file allowed no publication date (school year, period, source): the day
#: each was published could not be found (attendance_cli/reports/national-sources.md).
UNDATED = {
    ("2023/24", "autumn", "DfE, Pupil absence in schools in England: autumn term 2023/24 (school census)"),
    ("2024/25", "autumn", "DfE, Pupil attendance in schools (daily data), 2025 week 4"),
    ("2024/25", "spring", "DfE, Pupil attendance in schools (daily data), 2025 week 15"),
    ("2025/26", "autumn", "DfE, Pupil attendance in schools (daily data), 2026 week 2"),
    ("2025/26", "full-year", "DfE, Pupil attendance in schools (daily data), 2025/26"),
}


def test_every_shipped_row_names_its_dfe_release_census_or_daily_its_address_and_date():
    from attendance_cli.reports.benchmarks import PERIODS, PHASES, read_benchmarks

    figures = read_benchmarks()  # read without refusal: every row adds up within 0.1
    assert figures.shipped and len(figures.rows) == 36
    # the record of where each release's figures were read ships beside the file
    sources = figures.path.with_name("national-sources.md").read_text(encoding="utf-8")
    assert {r.phase for r in figures.rows} == set(PHASES) and {r.period for r in figures.rows} == set(PERIODS)
    for row in figures.rows:
        census = row.source.startswith("DfE, Pupil absence in schools in England: ") and row.source.count(
            "(school census") == 1
        daily = row.source.startswith("DfE, Pupil attendance in schools (daily data), ")
        assert census != daily, row  # each says which it is, census or daily data
        page = "pupil-absence-in-schools-in-england/" if census else "pupil-attendance-in-schools"
        assert row.url.startswith("https://explore-education-statistics.service.gov.uk/find-statistics/" + page), row
        assert row.note.startswith("state-funded "), row
        assert f"<{row.url}>" in sources and (row.published is None or f"{row.published:%Y-%m-%d}" in sources), row
    undated = {(r.school_year, r.period, r.source) for r in figures.rows if r.published is None}
    assert undated == UNDATED


def test_shipped_rows_were_published_after_their_period_ended():
    from attendance_cli.calendar import easter_sunday
    from attendance_cli.reports.benchmarks import read_benchmarks

    for row in read_benchmarks().rows:
        if row.published is None:
            continue
        ended = {"autumn": dt.date(row.year, 12, 20), "spring": easter_sunday(row.year + 1) - dt.timedelta(days=7),
                 "autumn-spring": easter_sunday(row.year + 1) - dt.timedelta(days=7),
                 "summer": dt.date(row.year + 1, 7, 15), "full-year": dt.date(row.year + 1, 7, 15)}[row.period]
        assert ended < row.published <= dt.date.today(), row


#: reference/rules.md, "National benchmarks (England, state-funded schools)": the figures checked
#: against the DfE's releases. The shipped file must give the same.
RULES = """
| 2023/24 full year (census) | all | 7.1% | 4.7% | 2.5% | 20.0% | 2.3% |
| 2023/24 full year (census) | primary | 5.5% | 3.9% | 1.6% | 14.6% (mainstream) | 0.85% (mainstream) |
| 2023/24 full year (census) | secondary | 8.9% | 5.4% | 3.5% | – | – |
| 2024/25 autumn + spring (census) | all | 6.63% | – | – | 17.63% | 2.26% |
| 2024/25 (daily data) | all | 6.87% | 4.54% | 2.33% | 18.70% | – |
| 2024/25 (daily data) | primary | 5.25% | 3.74% | 1.51% | 13.50% | – |
| 2024/25 (daily data) | secondary | 8.59% | 5.30% | 3.30% | 24.32% | – |
| 2025/26 to 10 Jul 2026 (daily data) | all | 6.88% | 4.52% | 2.36% | 18.78% | – |
| 2025/26 to 10 Jul 2026 (daily data) | primary | 5.28% | 3.73% | 1.55% | 13.77% | – |
| 2025/26 to 10 Jul 2026 (daily data) | secondary | 8.49% | 5.22% | 3.27% | 23.77% | – |
"""


def test_the_shipped_figures_are_those_of_the_reference_rules():
    import re

    from attendance_cli.reports.benchmarks import read_benchmarks

    shipped = {(r.school_year, r.period, r.phase, "census" if "school census" in r.source else "daily data"): r
               for r in read_benchmarks().rows}
    lines = [line.strip("| ").split(" | ") for line in RULES.strip().splitlines()]
    assert len(lines) == 10
    for period, phase, *values in lines:
        year = period[:7]
        key = (year, "autumn-spring" if "autumn + spring" in period else "full-year", phase,
               "census" if "(census)" in period else "daily data")
        numbers = [float(re.match(r"[\d.]+", v)[0]) if v != "–" else None for v in values]
        row = shipped[key]
        assert [row.figures[m] for m in ("overall", "authorised", "unauthorised", "pa", "sa")] == numbers, key
        assert ("mainstream" in row.note) == ("mainstream" in " ".join(values)), key
        assert ("10 July 2026" in row.note) == ("10 Jul 2026" in period), key


@pytest.mark.parametrize("phase, period, year, measure, fallback, value, source, why", [
    # a spring half term: the spring term where one is published (all schools, daily data 2024/25) ...
    ("all", "spring", 2025, "overall", False, 7.0, "2025 week 15", "the spring term, the term this window is part of; "
                                                                      "the latest published"),
    # ... else the autumn and spring terms (secondary, census 2024/25), then the full year
    ("secondary", "spring", 2025, "overall", False, 8.09, "autumn and spring term 2024/25 (school census)",
     "no spring term figure is in the shipped national figures, so the nearest published period: the autumn and "
     "spring terms, which include the spring term"),
    ("secondary", "summer", 2026, "overall", False, 8.49, "(daily data), 2025/26",
     "no summer term figure is in the shipped national figures, so the nearest published period: the full year, "
     "which includes the summer term"),
    # a summer window of 2026/27 (all schools): the only summer term figure, 2023/24's, is three years
    # before it, so the full year 2025/26; a summer window of 2025/26 still has 2023/24's summer term
    ("all", "summer", 2026, "overall", False, 6.88, "(daily data), 2025/26",
     "the latest summer term figure in the shipped national figures is for 2023/24, more than 2 school years "
     "before this window's, so the nearest published period: the full year, which includes the summer term"),
    ("all", "summer", 2025, "overall", False, 7.6, "2023/24 (school census)",
     "the summer term, the term this window is part of; the latest published"),
    # a whole summer term's persistent absence (all schools): the summer term's own, daily data 2024/25
    ("all", "summer", 2026, "pa", False, 21.9, "2025 week 29", "the summer term, the period of this window; the "
                                                               "latest published"),
    # the school year to date reaching spring: the autumn and spring terms, its persistent and severe
    # absence too; secondary has none for that period, so the full year
    ("all", "autumn-spring", 2026, "overall", True, 6.63, "autumn and spring term 2024/25",
     "the autumn and spring terms, the period the school year to date has reached; the latest published"),
    ("all", "autumn-spring", 2026, "sa", True, 2.26, "autumn and spring term 2024/25",
     "the autumn and spring terms, the period the school year to date has reached; the latest published"),
    ("secondary", "autumn-spring", 2026, "pa", True, 23.77, "(daily data), 2025/26",
     "no autumn and spring terms figure is in the shipped national figures, so the nearest published period: the "
     "full year, which includes the autumn and spring terms"),
    # an autumn window: the latest autumn term (all: daily 2025/26; secondary: census 2024/25)
    ("all", "autumn", 2026, "overall", False, 6.62, "2026 week 2", "the latest published"),
    ("secondary", "autumn", 2026, "overall", False, 7.66, "autumn term 2024/25 (school census)", "the latest published"),
    # a window of an earlier year: that year's own figures
    ("all", "autumn", 2023, "authorised", False, 4.5, "autumn term 2023/24 (school census)",
     "the autumn term, the term this window is part of"),
    ("special", "full-year", 2022, "unauthorised", False, 3.2, "2022/23, the previous year", "the full year"),
    # a short window's persistent absence is not set beside a term's
    ("all", "spring", 2025, "pa", False, None, None, "is shorter than the spring term"),
])
def test_the_figure_chosen_for_each_period(phase, period, year, measure, fallback, value, source, why):
    from attendance_cli.reports.benchmarks import choose, read_benchmarks

    whole = (period, measure) == ("summer", "pa")  # a half term, but for the whole summer term's PA
    choice = choose(read_benchmarks(), phase, period, year, measure, fallback=fallback, whole=whole)
    assert choice.value == value and why in choice.why, choice
    assert (choice.row is None) if source is None else (source in choice.row.source), choice


def test_a_year_to_date_reaching_spring_is_compared_with_the_autumn_and_spring_terms(run, tmp_path):
    # ten Year 9 pupils from Monday 07/09/2026 to Friday 05/02/2027 (220 sessions each); P0 misses 30
    pupils = {f"P{i}": ("Year 9", "9A", f"Pupil{i}", ["/"] * 220) for i in range(1, 10)}
    pupils["P0"] = ("Year 9", "9A", "Pupil0", ["O"] * 30 + ["/"] * 190)
    out = tmp_path / "r.html"
    result = run("report", register(tmp_path / "m.csv", pupils, dt.date(2026, 9, 7)), "--window", "ytd",
                 "--phase", "secondary", "--out", out)
    assert result.exit_code == 0, result.stderr
    table = headline(out.read_text(encoding="utf-8"))
    # 30 of 2,200 sessions; the secondary autumn and spring terms 2024/25 (census): 8.09%
    assert "<tr><td>Overall absence</td><td>1.37%</td><td>8.09%</td>" in table
    assert ("Attendance and overall absence: national secondary, autumn and spring terms 2024/25 (DfE, Pupil absence "
            "in schools in England: autumn and spring term 2024/25 (school census)") in table
    assert "the autumn and spring terms, the period the school year to date has reached; the latest published" in table
    # no secondary persistent absence for those terms: the full year's, said so
    assert "<tr><td>Persistent absence (10% or more missed)</td><td>10.00% (1 pupil)</td><td>23.77%</td>" in table
    assert ("Persistent absence: national secondary, full year 2025/26 (DfE, Pupil attendance in schools (daily data), "
            "2025/26") in table
    assert ("no autumn and spring terms figure is in the shipped national figures, so the nearest published period: "
            "the full year, which includes the autumn and spring terms") in table


@pytest.mark.parametrize("start, end, ytd, period", [
    (dt.date(2026, 11, 2), dt.date(2026, 11, 13), False, "autumn"),
    (dt.date(2027, 1, 4), dt.date(2027, 2, 12), False, "spring"),
    (dt.date(2027, 3, 29), dt.date(2027, 4, 9), False, "summer"),      # Easter Sunday 2027 is 28/03
    (dt.date(2027, 3, 22), dt.date(2027, 4, 9), False, "full-year"),   # across it: spring and summer
    (dt.date(2026, 12, 14), dt.date(2027, 1, 15), False, "full-year"),  # across two terms
    (dt.date(2026, 8, 1), dt.date(2026, 11, 13), True, "autumn"),
    (dt.date(2026, 8, 1), dt.date(2027, 2, 12), True, "autumn-spring"),
    (dt.date(2026, 8, 1), dt.date(2027, 6, 1), True, "full-year"),
])
def test_the_period_a_window_is_compared_with(start, end, ytd, period):
    from attendance_cli.reports.benchmarks import period_of

    assert period_of(start, end, ytd) == period


def test_a_grid_export_without_minutes_charts_late_marks_not_zero_minutes(run, tmp_path):
    pupils = {f"P{i}": ("Year 3", "3A", f"Pupil{i}", ["L", "/"] * 10) for i in range(6)}  # no minutes given
    out = tmp_path / "r.html"
    assert run("report", register(tmp_path / "m.csv", pupils), "--out", out).exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert ('<h3 class="chart-title">Late marks by school week</h3>' in page and "<figcaption>Late marks recorded in the "
            "registers, week by week (minutes late are not in these exports).</figcaption>" in page)
    assert "Minutes lost to lateness" not in page


def test_heat_map_labels_contrast_at_least_4_5_to_1_on_every_colour_of_its_fixed_scale():
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    from attendance_cli.reports.charts import HEAT_RANGE, contrast, label_colour

    cmap, norm = colormaps["RdYlGn"], Normalize(*HEAT_RANGE, clip=True)
    for tenth in range(0, 1001):
        background = cmap(norm(tenth / 10))
        text = (0, 0, 0) if label_colour(background) == "#000000" else (1, 1, 1)
        assert contrast(background, text) >= 4.5, tenth / 10
    assert HEAT_RANGE == (80.0, 100.0)  # fixed: not the data's own lowest cell


def test_cohort_dfe_compares_the_compulsory_age_pupils_like_with_like(run, tmp_path):
    # six Year 3 pupils at full attendance, and a Reception pupil (under compulsory school age) who
    # missed every other session: --cohort dfe leaves the Reception pupil out of every figure
    pupils = {f"P{i}": ("Year 3", "3A", f"Pupil{i}", ["/"] * 20) for i in range(6)}
    pupils["R1"] = ("Reception", "RA", "Young", ["O", "/"] * 10)
    marks = register(tmp_path / "m.csv", pupils)
    out = tmp_path / "r.html"
    assert run("report", marks, "--out", out).exit_code == 0
    assert "<tr><td>Attendance</td><td>92.85%</td>" in out.read_text(encoding="utf-8")
    result = run("report", marks, "--cohort", "dfe", "--out", out)
    assert result.exit_code == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    assert "<tr><td>Attendance</td><td>100.00%</td>" in page and "6 pupils" in page
    assert "Like with like: this report counts the DfE cohort" in page
    assert "R1" not in page.split('<section id="patterns">')[1]
