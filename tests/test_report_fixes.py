"""Fixes to `report`, `slips` and `digest` found in testing, each with the exact figures or files:
file names one per pupil or group, all or none; windows with nothing to count refused; leavers not
at risk; last year beside a year-to-date window; letters' four weeks of 28 days on both sides; one
rounding per figure; counts in words; calendar dates as people write them. Real parts throughout:
real HTML read back, real PDFs compiled by Typst and read with pypdf, a real SQLite ledger."""

from __future__ import annotations

import datetime as dt
import errno
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import ARBOR_HEADER, csv_frame, weekdays
from tests.test_reports import BANDS_POLICY, register


def pdf_text(path: Path) -> str:
    """All of a PDF's text, whitespace collapsed (pypdf breaks lines where Typst did)."""
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(path).pages)


def one_line(text: str) -> str:
    return " ".join(text.split())


def marks_file(path: Path, pupils: dict[str, tuple[str, list[str]]], start: dt.date) -> Path:
    """Arbor long export: pupil id -> (form, marks session by session from `start`), names from the id."""
    rows = [ARBOR_HEADER]
    for pupil_id, (form, marks) in pupils.items():
        days = weekdays(start, (len(marks) + 1) // 2)
        slots = [(d, s) for d in days for s in ("AM", "PM")]
        rows += [f"{pupil_id},Surname{pupil_id},Pat,Year 3,{form},{d:%d/%m/%Y},{s},{m},"
                 for (d, s), m in zip(slots, marks)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


# -- 1. per-pupil slips: one file per pupil -------------------------------------------------------


def test_per_pupil_slips_for_ids_that_clean_to_the_same_name_are_two_files(run, tmp_path):
    # A/1 and A-1 both clean to A-1: A-1 keeps the plain name, A/1 gets the hash of "A/1"
    marks = register(tmp_path / "m.csv", {
        "A/1": ("Year 1", "1A", "Slash", ["/"] * 10),
        "A-1": ("Year 1", "1A", "Dash", ["/"] * 10),
        "B1": ("Year 1", "1A", "Plain", ["/"] * 10),
    })
    (tmp_path / "policy.toml").write_text(BANDS_POLICY, encoding="utf-8")
    result = run("slips", marks, "--policy", tmp_path / "policy.toml", "--out", tmp_path / "all.pdf",
                 "--per-pupil", tmp_path / "each", "--date", "23/11/2026")
    assert result.exit_code == 0, result.stderr
    assert "Wrote 3 slips to" in result.stderr
    each = tmp_path / "each"
    assert sorted(p.name for p in each.iterdir()) == ["A-1-a5b3d27a.pdf", "A-1.pdf", "B1.pdf"]
    assert "Pat Slash" in pdf_text(each / "A-1-a5b3d27a.pdf") and "Ref. A/1" in pdf_text(each / "A-1-a5b3d27a.pdf")
    assert "Pat Dash" in pdf_text(each / "A-1.pdf") and "Ref. A-1" in pdf_text(each / "A-1.pdf")
    assert "Pat Plain" in pdf_text(each / "B1.pdf")


def test_file_names_are_unique_ignoring_case_and_stable():
    from attendance_cli.reports.naming import file_names, id_hash

    assert id_hash("A/1") == "a5b3d27a"
    # a clash: the one already clean keeps its name; ids differing only in case clash on Windows and macOS
    assert file_names(["3/B", "3-B", "Year 3", "3a", "3A"]) == {
        "3/B": "3-B-c31b6cd5", "3-B": "3-B", "Year 3": "Year-3", "3a": "3a-f2cd852e", "3A": "3A-324453ef"}
    # per pupil: a changed id always has its hash, whoever else is in the run
    assert file_names(["A/1", "1003"], mark_changed=True) == {"A/1": "A-1-a5b3d27a", "1003": "1003"}
    # two long ids that differ only after the 40 characters a name keeps
    long = ["X" * 40 + "1", "X" * 40 + "2"]
    names = file_names(long)
    assert names == {long[0]: "X" * 40 + "-" + id_hash(long[0]), long[1]: "X" * 40 + "-" + id_hash(long[1])}


# -- 2. digests: one file per group, all or none -------------------------------------------------------


def test_digest_for_groups_that_clean_to_the_same_name_writes_both(run, tmp_path):
    marks = marks_file(tmp_path / "m.csv", {"S1": ("3/B", ["/"] * 10), "D1": ("3-B", ["O"] + ["/"] * 9)},
                       dt.date(2026, 11, 2))
    out = tmp_path / "cd"
    result = run("digest", marks, "--by", "form", "--out", out, "-f", "csv")
    assert result.exit_code == 0, result.stderr
    assert "Wrote 2 digests to" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["digest-3-B-c31b6cd5.csv", "digest-3-B.csv"]
    slash = csv_frame((out / "digest-3-B-c31b6cd5.csv").read_text(encoding="utf-8-sig"))
    dash = csv_frame((out / "digest-3-B.csv").read_text(encoding="utf-8-sig"))
    assert (slash["pupil_id"].to_list(), slash["form"].to_list()) == (["S1"], ["3/B"])
    assert (dash["pupil_id"].to_list(), dash["form"].to_list(), dash["ytd_attendance_pct"].to_list()) == (
        ["D1"], ["3-B"], ["90.00"])


@pytest.fixture
def fail_second_move(monkeypatch):
    """The disk fills while the digests are moved into place: the move of digest-4A.csv fails."""
    real = Path.replace

    def replace(self, target):
        if Path(target).name == "digest-4A.csv":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, target)

    monkeypatch.setattr(Path, "replace", replace)


def test_a_digest_that_fails_part_way_through_moving_leaves_the_folder_as_it_was(run, tmp_path, fail_second_move):
    marks = marks_file(tmp_path / "m.csv", {"S1": ("3A", ["/"] * 10), "S2": ("4A", ["/"] * 10)}, dt.date(2026, 11, 2))
    out = tmp_path / "digests"
    out.mkdir()
    (out / "digest-3A.csv").write_text("last week's\n", encoding="utf-8")
    result = run("digest", marks, "--by", "form", "--out", out, "-f", "csv")
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    # digest-3A.csv was moved in before 4A failed: it is taken out again and last week's put back
    assert [p.name for p in out.iterdir()] == ["digest-3A.csv"]
    assert (out / "digest-3A.csv").read_text(encoding="utf-8") == "last week's\n"
    # and a folder the failed run made is gone
    fresh = run("digest", marks, "--by", "form", "--out", tmp_path / "new", "-f", "csv")
    assert fresh.exit_code == 1 and not (tmp_path / "new").exists()


# -- 3. a window with no possible session is refused -------------------------------------------------------


NO_POSSIBLE = "holds no possible session: every mark in it is a code that is not counted (such as X) or is unmarked"


def test_a_window_of_only_x_and_blank_marks_is_refused_by_slips_digest_and_report(run, tmp_path):
    only_x = marks_file(tmp_path / "x.csv", {"1": ("3A", ["X"] * 6 + [""] * 2), "2": ("3A", ["X"] * 6 + [""] * 2)},
                        dt.date(2026, 9, 7))
    (tmp_path / "policy.toml").write_text(BANDS_POLICY, encoding="utf-8")
    slips = run("slips", only_x, "--policy", tmp_path / "policy.toml", "--out", tmp_path / "s.pdf")
    assert slips.exit_code == 2 and not (tmp_path / "s.pdf").exists()
    assert ("The window school year 2026/27 to date: 01/08/2026 to 09/09/2026 " + NO_POSSIBLE) in one_line(slips.stderr)
    digest = run("digest", only_x, "--by", "form", "--out", tmp_path / "d")
    assert digest.exit_code == 2 and not (tmp_path / "d").exists()
    assert ("The window week of 07/09/2026: 07/09/2026 to 09/09/2026 " + NO_POSSIBLE) in one_line(digest.stderr)
    # a report of one all-X day among days with attendance
    mixed = marks_file(tmp_path / "m.csv", {"1": ("3A", ["/"] * 4 + ["X"] * 2), "2": ("3A", ["/"] * 4 + ["X"] * 2)},
                       dt.date(2026, 9, 7))
    report = run("report", mixed, "--from", "09/09/2026", "--to", "09/09/2026", "--out", tmp_path / "r.html")
    assert report.exit_code == 2 and not (tmp_path / "r.html").exists()
    assert ("The window chosen dates: 09/09/2026 to 09/09/2026 " + NO_POSSIBLE) in one_line(report.stderr)


# -- 4. a leaver is not at risk in a window they were not in -------------------------------------------------------


def test_a_pupil_with_no_session_in_the_window_is_not_listed_at_risk(run, tmp_path):
    # two weeks from 07/09/2026; L1 left after the first week: 10 of 10 sessions, so 4 more absences
    # would make L1 persistently absent (4 of 14), but the second week's report must not list L1 at
    # all. P1 missed 1 of 20 (5%): within 4 sessions of it. P2 missed none (100.00%): 4 absences of 24
    # sessions would be 16.7%, but a pupil who has missed nothing is not at risk on their record
    marks = marks_file(tmp_path / "m.csv", {
        "P1": ("3A", ["O"] + ["/"] * 19), "P2": ("3A", ["/"] * 20), "L1": ("3A", ["/"] * 10)},
        dt.date(2026, 9, 7))
    out = tmp_path / "r.html"
    result = run("report", marks, "--window", "week", "--out", out)
    assert result.exit_code == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    at_risk = page.split("<h3>At risk of persistent absence</h3>")[1].split("</table>")[0]
    assert at_risk.count("<tr><td>") == 1
    assert "<tr><td>P1</td><td>Pat SurnameP1</td><td>3A</td><td>95.00</td></tr>" in at_risk
    assert "P2" not in page.split('<section id="patterns">')[1]
    assert "100.00" not in at_risk
    assert "L1" not in page.split('<section id="patterns">')[1]
    assert "At risk of persistent absence (within 4 sessions of it): 1 pupil." in page


def test_a_report_to_a_date_with_no_start_counts_nothing_before_it(run, tmp_path):
    # --to alone: the window runs from the first mark, so nothing comes before it in its school year and
    # a pupil persistently absent in it (P1: 3 of 20 missed) is newly so (the report used to fail on
    # the day before the earliest date)
    marks = marks_file(tmp_path / "m.csv", {"P1": ("3A", ["O"] * 3 + ["/"] * 17), "P2": ("3A", ["/"] * 20)},
                       dt.date(2026, 9, 7))
    out = tmp_path / "r.html"
    result = run("report", marks, "--to", "18/09/2026", "--out", out)
    assert result.exit_code == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    assert "Newly persistently absent this window: 1 pupil; newly severely absent: 0 pupils." in page
    new = page.split("<h3>Newly persistently absent</h3>")[1].split("</table>")[0]
    assert "<tr><td>P1</td><td>Pat SurnameP1</td><td>3A</td><td>85.00</td></tr>" in new and "P2" not in new


# -- 5. last year beside a year-to-date window -------------------------------------------------------


def two_autumns(path: Path, first_day_last_year: dt.date) -> Path:
    """Ten pupils, three weeks of each autumn: last year from `first_day_last_year`, 4 of 30 sessions
    missed by every pupil; this year from Thursday 03/09/2026, 3 of 30 missed."""
    rows = [ARBOR_HEADER]
    for number in range(10):
        for start, missed in ((first_day_last_year, 4), (dt.date(2026, 9, 3), 3)):
            slots = [(d, s) for d in weekdays(start, 15) for s in ("AM", "PM")]
            for index, (day, session) in enumerate(slots):
                mark = "I" if index < missed else "/"
                rows.append(f"{number},Surname{number},Pat,Year 3,3A,{day:%d/%m/%Y},{session},{mark},")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("window", ["ytd", "year"])
def test_same_window_last_year_is_shown_for_a_school_year_window(run, tmp_path, window):
    # this year: 03/09/2026 to 23/09/2026, 270 of 300 sessions (90.00%); last year 260 of 300 (86.66%)
    marks = two_autumns(tmp_path / "m.csv", dt.date(2025, 9, 3))
    out = tmp_path / "r.html"
    result = run("report", marks, "--window", window, "--out", out)
    assert result.exit_code == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    end = {"ytd": "24/09/2025", "year": "01/08/2026"}[window]  # 52 weeks before 23/09/2026 and 31/07/2027
    assert f"<th>Same window last year (02/08/2025 to {end})</th>" in page
    # the year to date ends in the autumn term: compared with the national primary autumn term (5.07%
    # absence, census 2024/25); the whole year with the latest full year (5.28%, daily data 2025/26)
    national = {"ytd": ("94.93", "5.07"), "year": ("94.72", "5.28")}[window]
    assert f"<tr><td>Attendance</td><td>90.00%</td><td>{national[0]}%</td><td>86.66%</td></tr>" in page
    assert f"<tr><td>Overall absence</td><td>10.00%</td><td>{national[1]}%</td><td>13.34%</td></tr>" in page
    # last year's authorised and unauthorised absence are filled: 40 of 300 sessions of illness (I)
    assert "<tr><td>Authorised absence</td><td>10.00%</td>" in page and "<td>13.33%</td></tr>" in page
    assert f"<tr><td>Unauthorised absence</td><td>0.00%</td><td>{'–' if window == 'ytd' else '1.55%'}</td><td>0.00%</td></tr>" in page
    assert "The exports do not cover the same window last year." not in page


def test_last_year_is_not_shown_when_the_exports_begin_weeks_into_it(run, tmp_path):
    # last year's marks begin on 01/10/2025, four weeks after the school year's first day a year back
    marks = two_autumns(tmp_path / "m.csv", dt.date(2025, 10, 1))
    out = tmp_path / "r.html"
    assert run("report", marks, "--window", "ytd", "--out", out).exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert "<tr><td>Attendance</td><td>90.00%</td><td>94.93%</td><td>–</td></tr>" in page
    assert "The exports do not cover the same window last year." in page


# -- 6. letters: 28 days before, 28 days after -------------------------------------------------------


def test_letters_four_weeks_before_and_after_are_28_days_each(run, tmp_path):
    from tests.test_letters import POLICY, SCHOOL, register as lettered

    (tmp_path / "school.toml").write_text(SCHOOL, encoding="utf-8")
    (tmp_path / "policy.toml").write_text('school = "school.toml"\n' + POLICY, encoding="utf-8")
    # weekdays from Monday 05/10/2026 to Tuesday 08/12/2026; three lates in the week of 02/11 (a letter
    # goes only for an event of the last fortnight); the letter is dated Monday 09/11/2026: before is
    # 12/10 to 08/11, after 09/11 to 06/12 (28 days each). A punctuality letter is measured by lates.
    lates = {4: ("L", 5),                   # Friday 09/10: 31 days before, in neither
             5: ("L", 5),                   # Monday 12/10 (28 days before): before
             25: ("L", 5),                  # Monday 09/11, the letter's day: after
             45: ("L", 5)}                  # Monday 07/12, 28 days after: the 29th day, in neither
    marks = lettered(tmp_path / "m.csv", {"S1": ("Smith", "Amy", {20: ("L", 5), 21: ("L", 5), 22: ("L", 5), **lates})},
                     days=47, start=dt.date(2026, 10, 5))
    db = tmp_path / "ledger.sqlite"
    sent = run("letters", marks, "--policy", tmp_path / "policy.toml", "--db", db, "--out", tmp_path / "out",
               "-f", "txt", "--as-of", "06/11/2026", "--date", "09/11/2026")
    assert sent.exit_code == 0, sent.stderr
    out = tmp_path / "report.html"
    result = run("report", marks, "--out", out, "--window", "ytd", "--policy", tmp_path / "policy.toml", "--db", db,
                 "--suppress-below", "1")  # one pupil had the letter
    assert result.exit_code == 0, result.stderr
    # before: 4 late marks (12/10 and the three of 02/11 to 04/11) in 40 sessions; after: 1 (09/11) in 40;
    # measured by the late rate, per 100 sessions; named by the rule; 20 school days each side
    page = out.read_text(encoding="utf-8")
    assert ("<tr><td>3 late sessions this half term</td><td>1</td><td>late marks per 100 sessions</td><td>10.00</td>"
            "<td>2.50</td><td>-7.50</td><td>20 school days before, 20 after</td></tr>") in page
    assert "punctuality-1" not in page.split('<section id="interventions">')[1]
    assert "regression to the mean" in page
    pdf = tmp_path / "report.pdf"
    assert run("report", marks, "--out", pdf, "--window", "ytd", "--policy", tmp_path / "policy.toml",
               "--db", db, "--suppress-below", "1").exit_code == 0
    text = " ".join(pdf_text(pdf).split())
    assert "3 late sessions this half term 1 late marks per 100 sessions 10.00 2.50 -7.50 20 school days before, 20 after" in text


def test_the_letters_table_covers_only_the_reports_window(run, tmp_path):
    from tests.test_letters import POLICY, SCHOOL, register as lettered

    (tmp_path / "school.toml").write_text(SCHOOL, encoding="utf-8")
    (tmp_path / "policy.toml").write_text('school = "school.toml"\n' + POLICY, encoding="utf-8")
    marks = lettered(tmp_path / "m.csv", {"S1": ("Smith", "Amy", {20: ("L", 5), 21: ("L", 5), 22: ("L", 5)})},
                     days=47, start=dt.date(2026, 10, 5))
    db = tmp_path / "ledger.sqlite"
    assert run("letters", marks, "--policy", tmp_path / "policy.toml", "--db", db, "--out", tmp_path / "out",
               "-f", "txt", "--as-of", "06/11/2026", "--date", "09/11/2026").exit_code == 0
    policy = ("--policy", tmp_path / "policy.toml", "--db", db)
    # the letter of 09/11/2026 is in a window from 09/11, not in one that ends on 06/11
    inside, outside = tmp_path / "in.html", tmp_path / "out.html"
    assert run("report", marks, "--out", inside, "--from", "09/11/2026", "--to", "08/12/2026", *policy,
               "--suppress-below", "1").exit_code == 0  # one pupil had the letter
    assert run("report", marks, "--out", outside, "--from", "05/10/2026", "--to", "06/11/2026", *policy).exit_code == 0
    assert "<tr><td>3 late sessions this half term</td><td>1</td>" in inside.read_text(encoding="utf-8")
    page = outside.read_text(encoding="utf-8")
    assert "3 late sessions this half term" not in page.split('<section id="interventions">')[1]
    assert "No letters recorded in the ledger for this policy in this window" in page


def test_the_change_after_a_letter_is_the_difference_of_the_figures_shown():
    from attendance_cli.figures import points_between as _points  # was reports.render._points

    # 76.884 and 79.056 show as 76.88 and 79.05: the change shown is +2.17, not +2.172 rounded
    assert [_points("76.88", "79.05"), _points("100.00", "90.00"), _points("95.00", "95.00")] == [
        "+2.17", "-10.00", "+0.00"]


# -- 7. one rounding per figure -------------------------------------------------------


def test_absence_is_rounded_the_same_way_in_the_headline_and_the_patterns(run, tmp_path):
    # 1 absence in 120 sessions: 0.8333% absence, shown 0.84% (absence rounds up) everywhere
    marks = marks_file(tmp_path / "m.csv", {"P1": ("3A", ["N"] + ["/"] * 39), "P2": ("3A", ["/"] * 40),
                                            "P3": ("3A", ["/"] * 40)}, dt.date(2026, 9, 7))
    out = tmp_path / "r.html"
    assert run("report", marks, "--window", "ytd", "--out", out, "--suppress-below", "1").exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert "<tr><td>Overall absence</td><td>0.84%</td><td>5.07%</td><td>–</td></tr>" in page
    assert ("<li>Absence on the 0 school days next to a holiday or bank holiday: –, "
            "against 0.84% on other days.</li>") in page
    assert "<tr><td>Year 3</td><td>3</td><td>99.16</td><td>0.84</td>" in page
    pdf = tmp_path / "r.pdf"
    assert run("report", marks, "--window", "ytd", "--out", pdf).exit_code == 0
    text = pdf_text(pdf)
    assert "Overall absence 0.84% 5.07%" in text and "against 0.84% on other days." in text


# -- 8. counts in words -------------------------------------------------------


def test_patterns_say_one_pupil_one_run_and_none(run, tmp_path):
    # P1: a term-time holiday session, then absent five whole days (one run); P2 always present
    marks = marks_file(tmp_path / "m.csv", {"P1": ("3A", ["/", "G"] + ["O"] * 10 + ["/"] * 8),
                                            "P2": ("3A", ["/"] * 20)}, dt.date(2026, 9, 7))
    out = tmp_path / "r.html"
    result = run("report", marks, "--window", "ytd", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "Wrote " in result.stderr and ", 2 pupils." in result.stderr
    page = out.read_text(encoding="utf-8")
    assert "<li>Term-time holidays (code G): 1 session, 1 pupil.</li>" in page
    assert "<li>Runs of absence of 5 school days or more: 1 pupil (1 run; the longest 5 days).</li>" in page
    assert "<li>Newly persistently absent this window: 1 pupil; newly severely absent: 1 pupil.</li>" in page
    # nobody with a run (the longest is 2 days), one pupil in all: the PDF says so in words
    alone = marks_file(tmp_path / "a.csv", {"P1": ("3A", ["O"] * 4 + ["/"] * 16)}, dt.date(2026, 9, 7))
    pdf = tmp_path / "a.pdf"
    result = run("report", alone, "--window", "ytd", "--out", pdf, "--suppress-below", "1")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip().endswith(", 1 pupil.")
    text = pdf_text(pdf)
    assert "· 1 pupil · phase: primary" in text
    assert "Runs of absence of 5 school days or more: none." in text and "the longest" not in text
    assert "Term-time holidays (code G): 0 sessions, 0 pupils." in text
    assert "Groups of fewer than 1 pupil (and any group from which one could be worked out" in text
    assert ("Newly persistently absent: 1 pupil; newly severely absent: 0 pupils; "
            "at risk (within 4 sessions): 0 pupils.") in text


def test_one_slip_and_one_digest_in_the_singular(run, tmp_path):
    marks = marks_file(tmp_path / "m.csv", {"P1": ("3A", ["/"] * 10)}, dt.date(2026, 9, 7))
    (tmp_path / "policy.toml").write_text(BANDS_POLICY, encoding="utf-8")
    slips = run("slips", marks, "--policy", tmp_path / "policy.toml", "--out", tmp_path / "s.pdf")
    assert slips.exit_code == 0 and slips.stderr.startswith("Wrote 1 slip to ")
    digest = run("digest", marks, "--by", "form", "--out", tmp_path / "d")
    assert digest.exit_code == 0 and digest.stderr.startswith("Wrote 1 digest to ")


# -- 9. calendar dates as dd/mm/yyyy -------------------------------------------------------


def test_a_calendar_half_term_ending_before_it_starts_shows_its_dates_day_first(run, tmp_path):
    marks = marks_file(tmp_path / "m.csv", {"P1": ("3A", ["/"] * 10)}, dt.date(2026, 9, 7))
    toml = tmp_path / "cal.toml"
    toml.write_text('[[half_term]]\nname = "Autumn 1"\nstart = 2026-10-23\nend = 2026-09-03\n', encoding="utf-8")
    result = run("calendar", marks, "--calendar", toml)
    assert result.exit_code == 1
    assert (f"Calendar {toml}: half term 1 (Autumn 1) ends (03/09/2026) before it starts (23/10/2026).") \
        in one_line(result.stderr)
    missing = tmp_path / "missing.toml"
    missing.write_text('[[half_term]]\nname = "Autumn 1"\nstart = 2026-09-03\n', encoding="utf-8")
    assert "half term 1 (Autumn 1) has no end date." in one_line(run("calendar", marks, "--calendar", missing).stderr)
    text = tmp_path / "cal.csv"
    text.write_text("name,start,end\nAutumn 1,23/10/2026,03/09/2026\n", encoding="utf-8")
    assert "ends ('03/09/2026') before it starts ('23/10/2026')." in one_line(run("calendar", marks, "--calendar", text).stderr)
