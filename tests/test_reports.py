"""`attendance report`, `slips` and `digest` as a school uses them: the report's figures are the
summary's, small groups are suppressed, the HTML stands alone with every chart, the PDF has its
pages, slips put each pupil in exactly one band, digests have one file per group."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import ARBOR_HEADER, csv_frame, weekdays

BANDS_POLICY = """name = "banded"
extends = "dfe-national"
[[bands]]
name = "Requires improvement"
from = 0
explanation = "Below 96%."
[[bands]]
name = "Good"
from = 96
explanation = "96% up to 100%."
[[bands]]
name = "Outstanding"
from = 100
explanation = "Every session."
"""

#: dfe-national without the six weeks its state letters wait for (these registers are days long)
NATIONAL = str(Path(__file__).parent / "policies" / "dfe-national-any-length.toml")


def register(path: Path, pupils: dict[str, tuple[str, str, str, list[str]]], start=dt.date(2026, 11, 2)) -> Path:
    """Arbor long export: pupil -> (year group, form, surname, marks session by session from `start`)."""
    rows = [ARBOR_HEADER]
    for pupil_id, (year, form, surname, marks) in pupils.items():
        days = weekdays(start, (len(marks) + 1) // 2)
        slots = [(d, s) for d in days for s in ("AM", "PM")]
        rows += [f"{pupil_id},{surname},Pat,{year},{form},{d:%d/%m/%Y},{s},{m}," for (d, s), m in zip(slots, marks)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def school(tmp_path):
    # Year 3: six pupils in 3A; Year 4: two pupils in 4A (a group too small to show)
    pupils = {f"P{i}": ("Year 3", "3A", f"Pupil{i}", ["/"] * 20) for i in range(5)}
    pupils["P5"] = ("Year 3", "3A", "Absent", ["O"] * 4 + ["/"] * 16)   # 80%: persistently absent
    pupils["Q1"] = ("Year 4", "4A", "Small", ["I"] * 2 + ["/"] * 18)
    pupils["Q2"] = ("Year 4", "4A", "Group", ["/"] * 20)
    return register(tmp_path / "marks.csv", pupils)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.figures: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "figure":
            self.figures.append(attrs.get("id", ""))
        for name in ("src", "href"):
            if attrs.get(name):
                self.links.append(attrs[name])


def test_report_html_stands_alone_has_every_chart_and_the_summary_figures(run, school, tmp_path):
    out = tmp_path / "report.html"
    result = run("report", school, "--out", out, "--window", "half-term")
    assert result.exit_code == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    parser = _Page()
    parser.feed(page)
    assert parser.figures == ["chart-trend", "chart-heatmap", "chart-reasons", "chart-lateness"]
    assert page.count("<svg") == 4 and parser.links == []  # nothing fetched from the network
    # the headline and breakdowns are the summary's: 154 of 160 sessions; Year 3 116 of 120
    summary = csv_frame(run("summary", school, "--window", "half-term", "--by", "year_group", "-f", "csv", "-q").stdout)
    assert summary["attendance_pct"].to_list() == ["96.66666666666667", "95.0", "96.25"]  # and the whole school
    assert "<tr><td>Attendance</td><td>96.25%</td>" in page
    # Year 4 has two pupils: suppressed, its figures absent; and so Year 3, which with the headline's 8 pupils
    # would give Year 4 away by subtraction
    assert '<tr class="suppressed"><td>Year 4</td><td colspan="6">fewer than 5 pupils: not shown</td></tr>' in page
    assert ('<tr class="suppressed"><td>Year 3</td><td colspan="6">hidden, as a smaller group could be worked out '
            'from it: not shown</td></tr>') in page
    shown = tmp_path / "shown.html"
    assert run("report", school, "--out", shown, "--window", "half-term", "--suppress-below", "1").exit_code == 0
    assert "<tr><td>Year 3</td><td>6</td><td>96.66</td><td>3.34</td>" in shown.read_text(encoding="utf-8")  # rounded down, absence up
    # P5 missed 4 of 20 sessions, Q1 exactly 2 of 20: both persistently absent (10% or more)
    # a fortnight's persistent absence is not set beside a full year's; the exports begin in November, so
    # there is no year to date to compare instead
    assert "Persistent absence (10% or more missed)</td><td>25.00% (2 pupils)</td><td>–</td>" in page
    assert "The exports begin on 02/11/2026, after the school year began: the school year to date is not shown." in page
    assert "National figures compared with (phase primary)." in page
    assert "DfE method: attendance %" in page


def test_report_pdf_has_its_pages_and_figures(run, school, tmp_path):
    out = tmp_path / "report.pdf"
    result = run("report", school, "--out", out, "--anonymous")
    assert result.exit_code == 0, result.stderr
    reader = PdfReader(out)
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert len(reader.pages) >= 2
    assert "96.25%" in text and "Breakdowns" in text and "Method" in text
    assert "Absent" not in text.split("Patterns")[1].split("Letters and attendance")[0]  # anonymous: no pupil names in the lists


def test_report_names_newly_persistently_absent_pupils(run, school, tmp_path):
    out = tmp_path / "report.html"
    assert run("report", school, "--out", out).exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert "<h3>Newly persistently absent</h3>" in page and "<td>P5</td><td>Pat Absent</td>" in page


def test_a_window_with_no_school_days_is_refused_not_reported_empty(run, school, tmp_path):
    expected = ("holds no school day of the exports, which run from 02/11/2026 to 13/11/2026.")
    report = run("report", school, "--out", tmp_path / "r.html", "--window", "week", "--as-of", "01/01/2020")
    assert report.exit_code == 2 and "The window week of 30/12/2019: 30/12/2019 to 01/01/2020 " + expected in report.stderr
    assert not (tmp_path / "r.html").exists()
    digest = run("digest", school, "--by", "form", "--out", tmp_path / "d", "--as-of", "01/01/2020")
    assert digest.exit_code == 2 and expected in digest.stderr and not (tmp_path / "d").exists()
    (tmp_path / "policy.toml").write_text(BANDS_POLICY, encoding="utf-8")
    slips = run("slips", school, "--policy", tmp_path / "policy.toml", "--out", tmp_path / "s.pdf", "--as-of", "01/01/2020")
    assert slips.exit_code == 2 and expected in slips.stderr


def test_report_refuses_an_unknown_suffix(run, school, tmp_path):
    result = run("report", school, "--out", tmp_path / "report.docx")
    assert result.exit_code == 2 and "Name it .html or .pdf." in result.stderr


def test_slips_one_page_per_pupil_in_form_order_with_exact_bands(run, tmp_path):
    # 96.00% exactly is Good; 95.83% is Requires improvement; 100% Outstanding
    marks = register(tmp_path / "m.csv", {
        "B2": ("Year 2", "2B", "Zed", ["/"] * 24 + ["O"]),          # 24 / 25 = 96.00%
        "A1": ("Year 1", "1A", "Able", ["/"] * 23 + ["I"]),          # 23 / 24 = 95.83%
        "A2": ("Year 1", "1A", "Best", ["/"] * 24),                  # 100%
    })
    (tmp_path / "policy.toml").write_text(BANDS_POLICY, encoding="utf-8")
    out = tmp_path / "slips.pdf"
    result = run("slips", marks, "--policy", tmp_path / "policy.toml", "--out", out, "--per-pupil", tmp_path / "each",
                 "--date", "23/11/2026")
    assert result.exit_code == 0, result.stderr
    pages = [" ".join(page.extract_text().split()) for page in PdfReader(out).pages]
    assert len(pages) == 6 and pages[1::2] == ["", "", ""]  # each slip on a sheet of its own: a blank back
    pages = pages[::2]
    assert ["Able" in pages[0], "Best" in pages[1], "Zed" in pages[2]] == [True, True, True]
    assert "95.83%" in pages[0] and "Requires improvement Below 96%." in pages[0]
    assert "100.00%" in pages[1] and "Outstanding Every session." in pages[1]
    assert "96.00%" in pages[2] and "Good 96% up to 100%." in pages[2] and "½ day" in pages[2]
    assert sorted(p.name for p in (tmp_path / "each").iterdir()) == ["A1.pdf", "A2.pdf", "B2.pdf"]
    assert "Best" in PdfReader(tmp_path / "each" / "A2.pdf").pages[0].extract_text()


def test_slips_need_a_policy_with_bands(run, school):
    result = run("slips", school, "--policy", NATIONAL, "--out", school.parent / "s.pdf")
    assert result.exit_code == 1 and "has no attendance bands" in result.stderr


def test_digest_one_file_per_form_with_the_week_and_the_year(run, school, tmp_path):
    out = tmp_path / "digests"
    result = run("digest", school, "--by", "form", "--out", out, "-f", "csv", "--policy", NATIONAL,
                 "--db", tmp_path / "none.sqlite")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["digest-3A.csv", "digest-4A.csv"]
    rows = csv_frame((out / "digest-3A.csv").read_text(encoding="utf-8"))
    absent = rows.filter(rows["pupil_id"] == "P5").row(0, named=True)
    assert (absent["week_possible"], absent["week_absences"], absent["week_attendance_pct"]) == ("10", "0", "100.00")
    assert (absent["ytd_attendance_pct"], absent["ytd_days_missed"], absent["persistent_absence"]) == ("80.00", "2.0", "true")
    assert "persistent-absence" in absent["new_trigger_rules"]
    html = run("digest", school, "--by", "year_group", "--out", tmp_path / "h")
    assert html.exit_code == 0 and (tmp_path / "h" / "digest-Year-3.html").exists()
    assert run("digest", school, "--by", "house", "--out", tmp_path / "x").exit_code == 2
    pdf = run("digest", school, "--by", "form", "--out", tmp_path / "p", "-f", "pdf")
    assert pdf.exit_code == 0, pdf.stderr
    text = " ".join(PdfReader(tmp_path / "p" / "digest-4A.pdf").pages[0].extract_text().split())
    assert "Attendance this week: Form 4A" in text and "Small" in text and "Pupil0" not in text


def test_breakdowns_by_attributes_from_a_pupil_file_with_small_groups_suppressed(run, school, tmp_path):
    pupils = tmp_path / "pupils.csv"
    pupils.write_text("Student ID,SEN,Gender\n" + "".join(f"P{i},{'K' if i < 2 else 'N'},{'F' if i % 2 else 'M'}\n"
                                                           for i in range(6)) + "Q1,N,F\nQ2,N,M\n", encoding="utf-8")
    out = tmp_path / "report.html"
    result = run("report", school, "--out", out, "--pupils", pupils, "--suppress-below", "3")
    assert result.exit_code == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    assert "<h3>Sen</h3>" in page or "<h3>Special educational needs</h3>" in page
    # SEN K: two pupils, fewer than 3: suppressed; SEN N: six pupils, shown
    assert '<tr class="suppressed"><td>K</td><td colspan="6">fewer than 3 pupils: not shown</td></tr>' in page
    # SEN N: six pupils, but the headline's 8 less its 6 would give K away: hidden too
    assert '<tr class="suppressed"><td>N</td><td colspan="6">hidden, as a smaller group' in page
    assert "<tr><td>F</td><td>4</td>" in page and "<h3>Gender</h3>" in page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (.ci/run installs Debian's chromium)")
def test_report_opens_in_a_headless_browser_with_every_chart(run, school, tmp_path):
    out = tmp_path / "report.html"
    assert run("report", school, "--out", out).exit_code == 0
    browser = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", "--dump-dom", out.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert browser.returncode == 0, browser.stderr[-2000:]
    dom = browser.stdout
    for chart in ("chart-trend", "chart-heatmap", "chart-reasons", "chart-lateness"):
        figure = dom.split(f'id="{chart}"', 1)[1].split("</figure>", 1)[0]
        assert "<svg" in figure and "<path" in figure, chart
    assert "Uncaught" not in browser.stderr and "Failed to load resource" not in browser.stderr
    assert "<h2>Method</h2>" in dom


def test_report_shows_attendance_before_and_after_the_letters(run, tmp_path):
    from tests.test_letters import POLICY, SCHOOL, register as lettered

    (tmp_path / "school.toml").write_text(SCHOOL, encoding="utf-8")
    (tmp_path / "policy.toml").write_text('school = "school.toml"\n' + POLICY, encoding="utf-8")
    # three lates in the first week, then absent two mornings after the letter on 09/11/2026
    marks = lettered(tmp_path / "m.csv", {"S1": ("Smith", "Amy", {0: ("L", 5), 1: ("L", 5), 2: ("L", 5),
                                                                    6: ("O", 0), 7: ("O", 0)})}, days=15)
    db = tmp_path / "ledger.sqlite"
    assert run("letters", marks, "--policy", tmp_path / "policy.toml", "--db", db, "--out", tmp_path / "out",
               "-f", "txt", "--as-of", "06/11/2026", "--date", "09/11/2026").exit_code == 0
    out = tmp_path / "report.html"
    result = run("report", marks, "--out", out, "--window", "ytd", "--policy", tmp_path / "policy.toml", "--db", db)
    assert result.exit_code == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    # one pupil had the letter: fewer than 5, so their figures are not shown
    assert ("<tr><td>3 late sessions this half term</td><td>fewer than 5</td><td>late marks per 100 sessions</td>"
            "<td>c</td><td>c</td><td>c</td><td>5 school days before, 10 after (the registers end 20/11/2026)</td></tr>"
            ) in page
    result = run("report", marks, "--out", out, "--window", "ytd", "--policy", tmp_path / "policy.toml", "--db", db,
                 "--suppress-below", "1")
    page = out.read_text(encoding="utf-8")
    # a punctuality letter is measured by the late rate: before (2-6 Nov) 3 late marks in 10 sessions, after
    # (9-20 Nov, where the registers end) none in 20
    assert ("<tr><td>3 late sessions this half term</td><td>1</td><td>late marks per 100 sessions</td><td>30.00</td>"
            "<td>0.00</td><td>-30.00</td><td>5 school days before, 10 after (the registers end 20/11/2026)</td></tr>"
            ) in page


# -- the lateness chart's dates ---------------------------------------------------------------------

def school_weeks(count: int) -> list[dt.date]:
    """The Mondays of `count` school weeks from 1 September 2025, skipping the half-term and
    Christmas holidays (as a report's weeks do)."""
    mondays = [dt.date(2025, 9, 1) + dt.timedelta(weeks=i) for i in range(count + 3)]
    holidays = {dt.date(2025, 10, 27), dt.date(2025, 12, 22), dt.date(2025, 12, 29)}
    return [monday for monday in mondays if monday not in holidays][:count]


@pytest.mark.parametrize("chart", ["lateness", "trend"])
@pytest.mark.parametrize("count", [1, 3, 7, 14, 39])
def test_charts_by_week_label_school_weeks_by_their_mondays_and_never_overlap_them(count, chart):
    from attendance_cli.reports import charts

    weeks = school_weeks(count)
    figure = charts.lateness_figure(weeks, [5 * i for i in range(count)]) if chart == "lateness" else \
        charts.weekly_trend_figure(weeks, [90 + (i % 7) for i in range(count)], 92.9, "National, full year")
    renderer = figure.canvas.get_renderer()
    figure.canvas.draw()
    axes = figure.axes[0]
    labels = [label for label in axes.get_xticklabels() if label.get_text()]
    shown = [label.get_text() for label in labels]
    # every label names one of the weeks' Mondays, the first week first, and in order
    names = [f"{monday:%d %b}" for monday in weeks]
    assert shown[0] == names[0] and all(text in names for text in shown)
    assert [names.index(text) for text in shown] == sorted(names.index(text) for text in shown)
    if count <= 7:
        assert shown == names  # a half term: every week named
    else:
        assert len(shown) >= 5  # a year: still dated along the way
    # a tick at every week's Monday (labelled or not)
    import matplotlib.dates as mdates

    ticks = sorted(set(axes.xaxis.get_majorticklocs()) | set(axes.xaxis.get_minorticklocs()))
    assert ticks == [mdates.date2num(monday) for monday in weeks]
    # the labels as drawn: no two boxes touch
    boxes = sorted((label.get_window_extent(renderer) for label in labels), key=lambda box: box.x0)
    for left, right in zip(boxes, boxes[1:]):
        assert right.x0 > left.x1, (left, right)
    import matplotlib.pyplot as plt

    plt.close(figure)
