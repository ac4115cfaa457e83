"""Many schools (`attendance trust`): each school counted as its own run counts it, pupils known by
(school, pupil id), each school's own calendar, the trust-wide row from summed sessions, a school
column split, the trust file's errors, parallel and Dask runs identical to one after another, and
small numbers suppressed so that no hidden figure can be worked out from the total."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from attendance_cli.jobs.trust import TrustSummaryOptions, Where, trust_summary
from attendance_cli.trust import load_trust
from attendance_cli.statistics.suppression import COUNTS, suppress
from tests.conftest import ARBOR_HEADER, csv_frame, weekdays

# Oak: two half terms of two weeks, a week's holiday between (21-25/09/2026).
OAK_DAYS = weekdays(dt.date(2026, 9, 7), 10) + weekdays(dt.date(2026, 9, 28), 10)
# Elm: three weeks, then its holiday a week later (28/09-02/10/2026), then one week. Together the
# two schools have no week without a school day: one calendar for both would see one half term.
ELM_DAYS = weekdays(dt.date(2026, 9, 7), 15) + weekdays(dt.date(2026, 10, 5), 5)


def rows(pupil: str, days: list[dt.date], odd: dict[int, str], school: str | None = None, year: str = "Year 3",
         surname: str = "Smith") -> list[str]:
    """A pupil's Arbor rows on `days` (AM, PM): present (/ and \\) but for the sessions in `odd`."""
    out = []
    for index in range(2 * len(days)):
        day, session = days[index // 2], ("AM", "PM")[index % 2]
        mark = odd.get(index, "/" if session == "AM" else "\\")
        row = f"{pupil},{surname},Amy,{year},3A,{day:%d/%m/%Y},{session},{mark},{'5' if mark == 'L' else ''}"
        out.append(row if school is None else f"{school},{row}")
    return out


def oak_rows(school: str | None = None) -> list[str]:
    return (rows("100000", OAK_DAYS, {0: "I", 1: "I", 2: "I", 3: "I", 20: "O", 21: "O"}, school)
            + rows("100001", OAK_DAYS, {39: "N"}, school, year="Year 5"))


def elm_rows(school: str | None = None) -> list[str]:
    # pupil 100000 at Elm is another child than Oak's 100000, with other marks on the same sessions
    return (rows("100000", ELM_DAYS, {**{i: "O" for i in range(10)}, 30: "I", 31: "I"}, school, year="Year 5",
                 surname="Jones")
            + rows("100002", ELM_DAYS, {35: "L"}, school, year="Year 5")
            + rows("100003", ELM_DAYS[15:], {}, school, year="Year 6"))


@pytest.fixture
def trust_file(tmp_path: Path) -> Path:
    for name, lines in (("oak", oak_rows()), ("elm", elm_rows())):
        (tmp_path / name).mkdir()
        (tmp_path / name / "autumn.csv").write_text("\n".join([ARBOR_HEADER, *lines]) + "\n", encoding="utf-8")
    path = tmp_path / "trust.toml"
    path.write_text('name = "Riverside Learning Trust"\n\n'
                    '[[school]]\nname = "Oak Primary"\ndfe_number = "123/4567"\nphase = "primary"\nexports = "oak/*.csv"\n\n'
                    '[[school]]\nname = "Elm Primary"\ndfe_number = "1234001"\nphase = "primary"\n'
                    'exports = ["elm/autumn.csv"]\n', encoding="utf-8")
    return path


def figures(frame: pl.DataFrame, school: str) -> dict:
    found = frame.filter(pl.col("school") == school).to_dicts()
    assert len(found) == 1, found
    return found[0]


def test_each_school_and_the_trust_counted_by_hand(run, trust_file):
    result = run("trust", "summary", trust_file, "-f", "csv", "--jobs", "1")
    assert result.exit_code == 0, result.stderr
    table = csv_frame(result.stdout)
    assert table["school"].to_list() == ["Elm Primary", "Oak Primary", "All schools"]
    oak, elm, trust = (figures(table, s) for s in ("Oak Primary", "Elm Primary", "All schools"))
    # Oak: 100000 40 possible, 4 I and 2 O; 100001 40 possible, 1 N
    assert (oak["dfe_number"], oak["pupils"], oak["possible_sessions"], oak["attended_sessions"]) == ("123/4567", "2", "80", "73")
    assert (oak["authorised_absences"], oak["unauthorised_absences"], oak["persistent_absence_pupils"]) == ("4", "3", "1")
    assert float(oak["attendance_pct"]) == 73 * 100 / 80
    # Elm: 100000 40 possible, 10 O and 2 I; 100002 40, one L (present); 100003 10 (the last week only)
    assert (elm["dfe_number"], elm["pupils"], elm["possible_sessions"], elm["attended_sessions"]) == ("123/4001", "3", "90", "78")
    assert (elm["authorised_absences"], elm["unauthorised_absences"], elm["late_before_close"]) == ("2", "10", "1")
    assert float(elm["persistent_absence_pct"]) == 100 / 3
    # the trust: five pupils (the two 100000s are two pupils), sums of sessions, not averages of percentages
    assert (trust["pupils"], trust["possible_sessions"], trust["attended_sessions"]) == ("5", "170", "151")
    assert float(trust["attendance_pct"]) == 151 * 100 / 170  # 88.82; the schools' average would be 88.96
    assert (trust["persistent_absence_pupils"], float(trust["persistent_absence_pct"])) == ("2", 40.0)  # not 41.67
    assert float(trust["days_missed"]) == (6 + 13) / 2
    assert "Read 2 schools (2 files)" in result.stderr and "for 5 pupils" in result.stderr


def test_trust_wide_rows_per_group_add_up_the_schools_groups(run, trust_file):
    table = csv_frame(run("trust", "summary", trust_file, "--by", "year_group", "-f", "csv", "-q").stdout)
    assert table.select("school", "year_group", "pupils", "possible_sessions", "attended_sessions").rows() == [
        ("Elm Primary", "Year 5", "2", "80", "68"), ("Elm Primary", "Year 6", "1", "10", "10"),
        ("Oak Primary", "Year 3", "1", "40", "34"), ("Oak Primary", "Year 5", "1", "40", "39"),
        # Year 5 across the trust: Oak's 100001 (39 of 40) and Elm's 100000 (28 of 40) and 100002 (40 of 40)
        ("All schools", "Year 3", "1", "40", "34"), ("All schools", "Year 5", "3", "120", "107"),
        ("All schools", "Year 6", "1", "10", "10"), ("All schools", None, "5", "170", "151")]
    year5 = table.filter((pl.col("school") == "All schools") & (pl.col("year_group") == "Year 5")).row(0, named=True)
    assert float(year5["attendance_pct"]) == 107 * 100 / 120
    assert (year5["persistent_absence_pupils"], float(year5["persistent_absence_pct"])) == ("1", 100 / 3)


def test_half_term_is_each_schools_own(run, trust_file):
    """One calendar over both schools would find no holiday week and one half term; each school's own
    finds two, and the current half term differs."""
    table = csv_frame(run("trust", "summary", trust_file, "--window", "half-term", "-f", "csv", "-q").stdout)
    oak, elm, trust = (figures(table, s) for s in ("Oak Primary", "Elm Primary", "All schools"))
    assert oak["window"].endswith("28/09/2026 to 09/10/2026")
    assert elm["window"].endswith("05/10/2026 to 09/10/2026")
    assert trust["window"] == "each school's own"
    # each row's dates say what it counted; the trust's, where the schools differ, are left blank, not guessed
    assert [(r["window_start"], r["window_end"], r["as_of"]) for r in (oak, elm, trust)] == [
        ("2026-09-28", "2026-10-09", "2026-10-09"), ("2026-10-05", "2026-10-09", "2026-10-09"),
        (None, "2026-10-09", "2026-10-09")]
    assert (oak["possible_sessions"], oak["attended_sessions"], oak["unauthorised_absences"]) == ("40", "37", "3")
    assert (elm["possible_sessions"], elm["attended_sessions"], elm["authorised_absences"]) == ("30", "28", "2")
    assert (trust["pupils"], trust["possible_sessions"], trust["attended_sessions"]) == ("5", "70", "65")


def test_each_school_is_its_own_summary(run, trust_file):
    """The trust's rows for a school are what `attendance summary` gives on the school's own files."""
    tmp = trust_file.parent
    shown = json.loads(run("trust", "summary", trust_file, "--window", "half-term", "--by", "year_group", "-f", "json",
                           "-q").stdout)
    pupils = json.loads(run("trust", "summary", trust_file, "--window", "half-term", "--pupils", "-f", "json",
                            "-q").stdout)
    for school, folder in (("Oak Primary", "oak"), ("Elm Primary", "elm")):
        own = json.loads(run("summary", tmp / folder / "autumn.csv", "--window", "half-term", "--by", "year_group",
                             "-f", "json", "-q").stdout)
        mine = [{k: v for k, v in row.items() if k not in ("school", "dfe_number")}  # with its window and as-of
                for row in shown if row["school"] == school]
        assert mine == own[:-1] and own[-1]["year_group"] == "All pupils"  # the school's own total: the trust has its own
        own_pupils = json.loads(run("summary", tmp / folder / "autumn.csv", "--window", "half-term", "-f", "json",
                                    "-q").stdout)
        assert [{k: v for k, v in row.items() if k not in ("school", "dfe_number")}
                for row in pupils if row["school"] == school] == own_pupils
    assert [(r["school"], r["pupil_id"], r["possible_sessions"]) for r in pupils if r["pupil_id"] == "100000"] == [
        ("Elm Primary", "100000", 10), ("Oak Primary", "100000", 20)]


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_school_column_splits_the_export(run, trust_file, write, ending):
    """One export of both schools, told apart by a School column: the same figures as the trust file
    (the colliding pupil ids are not a conflicting duplicate), each school its own calendar."""
    lines = ["School," + ARBOR_HEADER, *oak_rows("Oak Primary"), *elm_rows("Elm Primary")]
    export = write("la-export.csv", ending.join(lines) + ending)
    assert run("summary", export, "-q").exit_code == 1  # one school's run would see conflicting duplicates
    split = csv_frame(run("trust", "summary", export, "--window", "half-term", "-f", "csv", "-q").stdout)
    listed = csv_frame(run("trust", "summary", trust_file, "--window", "half-term", "-f", "csv", "-q").stdout)
    assert split.drop("dfe_number").equals(listed.drop("dfe_number"))
    assert split["dfe_number"].to_list() == ["", "", ""]


def test_a_school_column_by_dfe_number_and_rows_without_a_school(run, write):
    export = write("la.csv", ["DfE Number," + ARBOR_HEADER, *oak_rows("1234567"), *elm_rows("123/4001")])
    table = csv_frame(run("trust", "summary", export, "-f", "csv", "-q").stdout)
    assert table.select("school", "dfe_number", "pupils").rows() == [
        ("123/4001", "123/4001", "3"), ("1234567", "123/4567", "2"), ("All schools", "", "5")]
    lines = ["School," + ARBOR_HEADER, *oak_rows("Oak Primary")]
    lines[5] = "," + lines[5].split(",", 1)[1]
    result = run("trust", "summary", write("blank.csv", lines))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {write('blank.csv', lines)}, line 6: no school in the column 'School', "
                                    "so the row belongs to no school.")


def test_an_error_in_a_split_school_names_the_original_line(run, write):
    lines = ["School," + ARBOR_HEADER, *oak_rows("Oak Primary"), *elm_rows("Elm Primary")]
    lines[100] = lines[100].replace(",/,", ",Q9,").replace(",\\,", ",Q9,")  # an Elm row
    path = write("la.csv", lines)
    result = run("trust", "summary", path)
    assert result.exit_code == 1
    assert "A school could not be run; nothing was written.\n  - Elm Primary:" in result.stderr
    assert f"{path} (school Elm Primary), line 101: unknown code; column 'Mark'; value 'Q9'" in result.stderr
    assert "(Those options are a single school's: in a trust, correct the school's exports" in result.stderr


@pytest.mark.parametrize("text, message, code", [
    ('name = "T"\n[[school]]\nname = "Oak"\ndfe_number = "123/4567"\nphase = "primary"\nexports = "oak/*.csv"\n'
     'colour = "red"\n',
     "{path}: school 1 (Oak): unknown key 'colour'.\n  Fix: The trust's keys are: name, policy, codes, school; each "
     "[[school]]'s: name, dfe_number, phase, exports, calendar, policy, ledger, school, codes.", 1),
    ('name = "T"\n[[school]]\nname = "Oak"\nphase = "primary"\nexports = "oak/*.csv"\n',
     "{path}: school 1 (Oak): the key 'dfe_number' is missing.\n  Fix: Correct the trust file.", 1),
    ('name = "T"\n[[school]]\nname = "Oak"\ndfe_number = "123/4567"\nexports = "oak/*.csv"\n',
     "{path}: school 1 (Oak): the key 'phase' is missing.\n  Fix: Correct the trust file.", 1),
    ('name = "T"\n[[school]]\nname = "Oak"\ndfe_number = "12/34"\nphase = "primary"\nexports = "oak/*.csv"\n',
     "{path}, school 1 (Oak): dfe_number '12/34' is not a DfE number.\n  Fix: Give the school's 7-digit DfE number "
     "(local authority and establishment), e.g. dfe_number = \"123/4567\".", 1),
    ('name = "T"\n[[school]]\nname = "Oak"\ndfe_number = "123/4567"\nphase = "infant"\nexports = "oak/*.csv"\n',
     "{path}: school 1 (Oak): phase 'infant' is not a phase (one of: nursery, primary, middle, secondary, "
     "all-through, special, alternative, sixth-form, college).\n  Fix: Correct the trust file.", 1),
    ('name = "T"\n[[school]]\nname = "Oak"\ndfe_number = "123/4567"\nphase = "primary"\nexports = "ash/*.csv"\n',
     "{path}, school 1 (Oak): the folder pattern 'ash/*.csv' matches no file (looked for {folder}/ash/*.csv).\n"
     "  Fix: Check the folder and the pattern; paths are relative to the trust file.", 2),
    ('name = "T"\n[[school]]\nname = "Oak"\ndfe_number = "123/4567"\nphase = "primary"\nexports = ["oak/summer.csv"]\n',
     "{path}, school 1 (Oak): the export 'oak/summer.csv' is not there (looked for {folder}/oak/summer.csv).\n"
     "  Fix: Check the path; paths are relative to the trust file.", 2),
    ('name = "T"\n[[school]]\nname = "Oak"\ndfe_number = "123/4567"\nphase = "primary"\nexports = "oak/*.csv"\n'
     '[[school]]\nname = "Ash"\ndfe_number = "1234567"\nphase = "primary"\nexports = "oak/*.csv"\n',
     "{path}: Oak and Ash have the same DfE number (123/4567).\n  Fix: Each school has its own DfE number: check the "
     "one that is wrong.", 1),
    ('name = "T"\n', "{path}: the key 'school' is missing.\n  Fix: Correct the trust file.", 1),
])
def test_a_bad_trust_file_is_named_with_the_school_and_the_fix(run, tmp_path, text, message, code):
    (tmp_path / "oak").mkdir()
    (tmp_path / "oak" / "autumn.csv").write_text("\n".join([ARBOR_HEADER, *oak_rows()]) + "\n", encoding="utf-8")
    path = tmp_path / "trust.toml"
    path.write_text(text, encoding="utf-8")
    result = run("trust", "summary", path)
    assert result.exit_code == code
    expected = "Error: " + message.format(path=path, folder=tmp_path)
    assert result.stderr.startswith(expected), result.stderr


def test_parallel_runs_give_the_same_output_as_one_after_another(run, trust_file):
    one = run("trust", "summary", trust_file, "--by", "year_group", "-f", "csv", "-q", "--jobs", "1")
    two = run("trust", "summary", trust_file, "--by", "year_group", "-f", "csv", "-q", "--jobs", "2")
    assert one.exit_code == two.exit_code == 0
    assert one.stdout == two.stdout


def test_a_dask_cluster_gives_the_same_figures(trust_file):
    """Three worker processes of a local Dask cluster: the same tables as one process."""
    from dask.distributed import LocalCluster

    trust = load_trust(trust_file)
    here = trust_summary(trust, TrustSummaryOptions(by=("year_group",), where=Where(jobs=1)))
    with LocalCluster(n_workers=3, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        there = trust_summary(trust, TrustSummaryOptions(by=("year_group",), where=Where(scheduler=cluster.scheduler_address)))
        from attendance_cli.jobs.trust import TrustTriggersOptions, trust_triggers

        triggers_there = trust_triggers(trust, TrustTriggersOptions(where=Where(scheduler=cluster.scheduler_address)))
    assert there.table.equals(here.table)
    assert triggers_there.table.equals(trust_triggers(trust, TrustTriggersOptions(where=Where(jobs=1))).table)


def test_scheduler_without_dask_says_which_extra(run, trust_file, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # as if the extra were not installed
    result = run("trust", "summary", trust_file, "--scheduler", "tcp://127.0.0.1:8786")
    assert result.exit_code == 2
    assert result.stderr == ("Error: --scheduler runs the schools on a Dask cluster, but Dask is not installed.\n"
                             "  Fix: Install the extra: pip install 'attendance-cli[dask]' (on every machine of the "
                             "cluster too), or leave --scheduler out to run the schools on this machine.\n")


def test_trust_triggers_per_school_with_its_own_ledger(run, trust_file, tmp_path):
    result = run("trust", "triggers", trust_file, "--as-of", "09/10/2026", "-f", "csv")
    assert result.exit_code == 0, result.stderr
    table = csv_frame(result.stdout)
    assert table.columns[:4] == ["school", "dfe_number", "policy", "as_of"]
    for school, folder in (("Elm Primary", "elm"), ("Oak Primary", "oak")):
        own = csv_frame(run("triggers", tmp_path / folder / "autumn.csv", "--policy", "dfe-national", "--as-of",
                            "09/10/2026", "--db", tmp_path / "none.sqlite", "-f", "csv", "-q").stdout)
        assert table.filter(pl.col("school") == school).select(own.columns).equals(own)  # as_of too
    # the two pupils 100000 are two pupils: Elm's has 10 unauthorised sessions (a penalty notice), Oak's 2
    assert table.filter(pl.col("pupil_id") == "100000").select("school", "rule_id", "value").rows() == [
        ("Elm Primary", "penalty-notice", "10")]
    assert "Elm Primary: " in result.stderr and "Oak Primary: " in result.stderr


def test_the_trust_report_suppresses_small_schools_and_what_would_give_them_away(run, trust_file, tmp_path):
    out = tmp_path / "trust.html"
    result = run("trust", "report", trust_file, "--out", out, "--suppress-below", "3", "-q")
    assert result.exit_code == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    # Oak has 2 pupils (fewer than 3): hidden; Elm (3 pupils) would then be Oak's total subtracted
    # from the trust's, so it is hidden too; the trust's own figures are shown
    assert ('<tr class="suppressed"><td>Elm Primary</td><td class="text">123/4001</td><td class="text">primary</td>'
            '<td class="text">half term Autumn 2 2026/27: 05/10/2026 to 09/10/2026</td><td>suppressed</td>') in page
    assert ('<tr class="suppressed"><td>Oak Primary</td><td class="text">123/4567</td><td class="text">primary</td>'
            '<td class="text">half term Autumn 2 2026/27: 28/09/2026 to 09/10/2026</td>'
            + "<td>suppressed</td>" * 10 + "</tr>") in page
    trust_row = page.split('<tr class="trust">')[1].split("</tr>")[0]
    assert "<td>5</td><td>70</td><td>92.85</td>" in trust_row  # 65 / 70 attended, rounded down
    pdf = tmp_path / "trust.pdf"
    assert run("trust", "report", trust_file, "--out", pdf, "--suppress-below", "3", "-q").exit_code == 0
    from pypdf import PdfReader

    text = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "Elm Primary" in text and "All schools" in text and "92.85" in text
    assert text.count("suppressed") >= 20  # both schools' ten figures
    shown = run("trust", "report", trust_file, "--out", tmp_path / "all.html", "--suppress-below", "1", "-q")
    assert shown.exit_code == 0
    assert "suppressed</td>" not in (tmp_path / "all.html").read_text(encoding="utf-8")


def _feasible_values(rows, total, hidden, column):
    """Every value each hidden cell of `column` can take, by trying every assignment (small numbers):
    the hidden cells add up to the total less the shown ones, each from 0 to its school's pupils if
    those are shown."""
    cells = [i for i in range(len(rows)) if column in hidden[i]]
    rest = total[column] - sum(rows[i][column] for i in range(len(rows)) if column not in hidden[i])
    caps = [rows[i]["pupils"] if column != "pupils" and "pupils" not in hidden[i] else rest for i in cells]
    values = {i: set() for i in cells}
    for guess in itertools.product(*[range(cap + 1) for cap in caps]):
        if sum(guess) == rest:
            for i, v in zip(cells, guess):
                values[i].add(v)
    return values


school_rows = st.integers(0, 12).flatmap(lambda pupils: st.integers(0, pupils).flatmap(
    lambda pa: st.integers(0, pa).map(lambda sa: {"pupils": pupils, "persistent_absence_pupils": pa,
                                                  "severe_absence_pupils": sa})))


@settings(max_examples=150, deadline=None)
@given(st.lists(school_rows, min_size=1, max_size=4), st.integers(1, 6))
def test_no_hidden_figure_can_be_worked_out_from_the_shown_ones_and_the_total(rows, below):
    total = {c: sum(r[c] for r in rows) for c in COUNTS}
    hidden, total_hidden = suppress(rows, total, below)
    for i, row in enumerate(rows):  # primary suppression: every small school and small count is hidden
        if row["pupils"] < below:
            assert hidden[i] == set(COUNTS)
        for column in COUNTS[1:]:
            if 0 < row[column] < below:
                assert column in hidden[i]
    for column in COUNTS:
        if column in total_hidden or total[column] == 0:  # a total of 0 says every school's is 0
            continue
        for i, values in _feasible_values(rows, total, hidden, column).items():
            assert len(values) > 1, (column, i, rows, hidden)


def test_one_school_however_its_cell_is_written(run, write):
    """A DfE number with and without its slash, a name in another case or spacing: one school each."""
    oak = oak_rows("1234567")
    oak[len(oak) // 2:] = [row.replace("1234567,", "123/4567,", 1) for row in oak[len(oak) // 2:]]
    elm = elm_rows("Elm Primary")
    elm[1::2] = [row.replace("Elm Primary,", "ELM  primary,", 1) for row in elm[1::2]]
    export = write("la.csv", ["School," + ARBOR_HEADER, *oak, *elm])
    table = csv_frame(run("trust", "summary", export, "-f", "csv", "-q").stdout)
    assert table.select("school", "pupils", "possible_sessions").rows() == [
        ("1234567", "2", "80"), ("Elm Primary", "3", "90"), ("All schools", "5", "170")]


def test_schools_never_share_a_ledger_through_their_policy_and_a_missing_ledger_is_named(run, trust_file, write):
    folder = trust_file.parent
    (folder / "shared.sqlite").write_bytes(b"")
    write("shared.toml", 'name = "shared"\nextends = "dfe-national"\nledger = "shared.sqlite"\n')
    text = trust_file.read_text(encoding="utf-8").replace('name = "Riverside Learning Trust"\n',
                                                          'name = "Riverside Learning Trust"\npolicy = "shared.toml"\n')
    shared = write("shared-trust.toml", text)
    result = run("trust", "summary", shared)
    assert result.exit_code == 1
    assert "have the same ledger" in result.stderr
    typo = write("typo-trust.toml", trust_file.read_text(encoding="utf-8") + 'ledger = "elm/nothere.sqlite"\n')
    missing = run("trust", "triggers", typo)
    assert missing.exit_code == 2
    assert "school 2 (Elm Primary): the ledger 'elm/nothere.sqlite' is not there" in missing.stderr


def test_the_trust_row_is_suppressed_like_a_school(run, trust_file, tmp_path):
    out = tmp_path / "report.html"
    result = run("trust", "report", trust_file, "--out", out, "--suppress-below", "6", "-q")
    assert result.exit_code == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    trust_row = page[page.index("All schools"):]
    trust_row = trust_row[:trust_row.index("</tr>")]
    assert "suppressed" in trust_row and ">5<" not in trust_row  # five pupils in all: fewer than six


def test_a_scheduler_address_that_is_not_one_is_said_to_be(run, trust_file):
    for address in ("nonsense", "tcp://localhost", "http://127.0.0.1:8786"):
        result = run("trust", "summary", trust_file, "--scheduler", address)
        assert result.exit_code == 2
        assert result.stderr.splitlines()[0] == f"Error: --scheduler {address!r} is not a scheduler's address."


def test_a_school_with_nobody_counted_and_exports_ending_apart_are_said(run, trust_file):
    # 28/09 to 02/10: Oak's week of school, Elm's holiday week
    result = run("trust", "summary", trust_file, "--from", "28/09/2026", "--to", "02/10/2026", "-f", "csv")
    assert result.exit_code == 0, result.stderr
    assert csv_frame(result.stdout)["school"].to_list() == ["Oak Primary", "All schools"]
    assert ("Note: Elm Primary: no pupil counted in chosen dates: 28/09/2026 to 02/10/2026 (a holiday there, or no "
            "pupil of the cohort): it has no row, and nothing of it is in the trust's row.") in " ".join(
        result.stderr.split())
