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
    # the whole year to date: autumn; --phase all: the autumn term 2024/25 census for all schools (6.38%)
    result = run("report", secondary(tmp_path / "m.csv"), "--window", "ytd", "--phase", "all", "--out", out)
    assert result.exit_code == 0, result.stderr
    table = headline(out.read_text(encoding="utf-8"))
    assert "<th>National (all)</th>" in table and "<td>6.38%</td>" in table
    # the year to date reaches the autumn term: persistent absence against the autumn term's (daily data)
    assert "Persistent absence (10% or more missed)</td><td>0.00% (0 pupils)</td><td>19.20%</td>" in table
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


def test_the_shipped_national_figures_are_sourced_and_dated_by_school_year():
    from attendance_cli.reports.benchmarks import PHASES, read_benchmarks

    figures = read_benchmarks()
    assert figures.shipped and len(figures.rows) >= 19
    assert all(r.source.startswith("DfE, ") and r.url.startswith("https://explore-education-statistics.service.gov.uk/")
               for r in figures.rows)
    assert {r.phase for r in figures.rows} == set(PHASES)
    latest = {(r.school_year, r.period, r.phase): r.figures for r in figures.rows}
    assert latest[("2025/26", "full-year", "secondary")]["overall"] == 8.49
    assert latest[("2024/25", "autumn-spring", "all")]["sa"] == 2.26


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
