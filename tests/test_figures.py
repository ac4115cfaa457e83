"""Every figure's arithmetic (attendance_cli.figures): exact figures on hand-picked integers, the
boundaries of persistent and severe absence and of the bands, and properties that each Polars
expression and its Python helper agree for every count."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from attendance_cli import figures as f
from attendance_cli.rules import load_policy
from tests.conftest import ARBOR_HEADER, PUNCTUALITY_LETTER, SCHOOL, weekdays


def _one(expr: pl.Expr, **columns) -> object:
    return pl.DataFrame({k: [v] for k, v in columns.items()}, schema={k: pl.Int64 for k in columns}).select(expr).item()


# -- attendance % rounded down ---------------------------------------------------------------------


@pytest.mark.parametrize(("attended", "possible", "shown"), [
    (1, 3, "33.33"),
    (2, 3, "66.66"),  # rounded down, never to the nearest (66.67)
    (0, 0, None),  # no possible session: no figure
    (5, 0, None),
    (0, 7, "0.00"),
    (3, 3, "100.00"),
    (1, 8, "12.50"),
    (9, 10, "90.00"),
    (8999, 10000, "89.99"),
    (89999, 100000, "89.99"),  # 89.999%: never 90.00 for a pupil who is persistently absent
    (1, 10000, "0.01"),
    (1, 10001, "0.00"),
    (899_999_999, 1_000_000_000, "89.99"),
])
def test_attendance_percent_is_rounded_down_in_integers(attended, possible, shown):
    assert f.pct_down(attended, possible) == shown
    assert _one(f.pct_down_expr(pl.col("a"), pl.col("p")), a=attended, p=possible) == shown
    hundredths = None if shown is None else int(shown.replace(".", ""))
    assert f.hundredths_down(attended, possible) == hundredths
    assert _one(f.hundredths_down_expr(pl.col("a"), pl.col("p")), a=attended, p=possible) == hundredths


def test_unrounded_percent_is_the_same_double_in_polars_and_python():
    assert f.pct(1, 3) == 1 * 100.0 / 3 == _one(f.pct_expr(pl.col("a"), pl.col("p")), a=1, p=3)
    assert f.pct(0, 0) is None and _one(f.pct_expr(pl.col("a"), pl.col("p")), a=0, p=0) is None
    assert f.pct(20, 24) == pytest.approx(83.333333)


def test_shown_text_of_hundredths_and_the_change_between_two_figures():
    assert (f.hundredths_text(8999), f.hundredths_text(5), f.hundredths_text(0)) == ("89.99", "0.05", "0.00")
    assert (f.hundredths_text(217, signed=True), f.hundredths_text(-5, signed=True)) == ("+2.17", "-0.05")
    assert f.points_between("76.88", "79.05") == "+2.17"
    assert f.points_between("79.05", "76.88") == "-2.17"
    assert f.points_between("90.00", "90.00") == "+0.00"


@pytest.mark.parametrize(("value", "direction", "shown"), [
    (89.996, "down", "89.99"),
    (89.996, "up", "90.00"),
    (89.996, "nearest", "90.00"),
    (10.001, "up", "10.01"),
    (90.0 - 1e-12, "down", "90.00"),  # a ratio a hair under a whole hundredth is that hundredth
    (10.0 + 1e-12, "up", "10.00"),
    (None, "down", ""),
])
def test_a_float_rate_is_shown_rounded_by_what_it_measures(value, direction, shown):
    assert f.rounded(value, direction) == shown


def test_each_percentage_column_is_rounded_its_own_way():
    assert [f.rounding_of(c) for c in ("attendance_pct", "overall_absence_pct", "persistent_absence_pct")] == [
        "down", "up", "nearest"]


# -- persistent and severe absence ------------------------------------------------------------------


@pytest.mark.parametrize(("absences", "possible", "pa", "sa"), [
    (10, 100, True, False),  # exactly 10% missed (attendance 90.0%): persistently absent
    (9, 100, False, False),
    (10, 101, False, False),  # 9.90%
    (100, 999, True, False),  # 10.01%
    (7, 70, True, False),
    (1, 10, True, False),
    (50, 100, True, True),  # exactly half: severe
    (49, 100, True, False),
    (50, 101, True, False),  # 49.50%
    (1, 2, True, True),
    (3, 3, True, True),
    (0, 1, False, False),
    (0, 0, False, False),  # no possible session: neither
])
def test_persistent_and_severe_absence_boundaries_are_exact(absences, possible, pa, sa):
    assert (f.persistent(absences, possible), f.severe(absences, possible)) == (pa, sa)
    frame = pl.DataFrame({"a": [absences], "p": [possible]})
    got = frame.select(f.persistent_expr(pl.col("a"), pl.col("p")).alias("pa"),
                       f.severe_expr(pl.col("a"), pl.col("p")).alias("sa")).row(0)
    assert got == (pa, sa)


def test_days_missed_are_two_sessions_a_day_and_none_for_lessons():
    assert (f.days_missed(3), f.days_missed(0), f.days_missed(3, lessons=True)) == (1.5, 0.0, None)
    frame = pl.DataFrame({"a": [3, 0]})
    assert frame.select(f.days_missed_expr(pl.col("a")))["a"].to_list() == [1.5, 0.0]
    assert frame.select(f.days_missed_expr(pl.col("a"), lessons=True).alias("d"))["d"].to_list() == [None]


# -- sums of sessions ---------------------------------------------------------------------------------


def test_sessions_are_summed_by_category():
    marks = pl.DataFrame({
        "pupil": [1, 1, 1, 1, 1, 1, 1, 2],
        "category": ["present", "aea", "authorised", "unauthorised", "not_counted", "admin", "present", "not_counted"],
        "sessions": [5, 1, 2, 3, 7, 9, 4, 6],  # a tally: marks counted by code
    })
    per_mark = marks.group_by("pupil").agg(
        f.possible_expr().alias("possible"), f.attended_expr().alias("attended"), f.absences_expr().alias("absent"),
        f.authorised_expr().alias("authorised"), f.unauthorised_expr().alias("unauthorised")).sort("pupil")
    assert per_mark.rows() == [(1, 5, 3, 2, 1, 1), (2, 0, 0, 0, 0, 0)]
    weighted = marks.group_by("pupil").agg(f.session_totals_expr(weight="sessions")).sort("pupil")
    assert weighted.columns == ["pupil", "possible_sessions", "attended_sessions", "authorised_absences",
                                "unauthorised_absences"]
    assert weighted.rows() == [(1, 15, 10, 2, 3), (2, 0, 0, 0, 0)]
    # marks already limited to possible ones are counted
    possible = marks.filter(pl.col("category").is_in(f.POSSIBLE))
    assert possible.group_by("pupil").agg(f.possible_expr(only_possible=True).alias("n"))["n"].to_list() == [5]
    assert weighted.select(f.absences_of_expr())["authorised_absences"].to_list() == [5, 0]
    assert (f.absences_of(2, 3), f.absences_of(None, 3), f.absences_of(None, None)) == (5, 3, 0)


def test_the_categories_of_the_method():
    from attendance_cli.codes import ATTENDED, POSSIBLE

    assert (POSSIBLE, ATTENDED) == (f.POSSIBLE, f.ATTENDED)  # the code tables use the same ones
    assert set(f.ATTENDED) | set(f.ABSENT) == set(f.POSSIBLE) and not set(f.ATTENDED) & set(f.ABSENT)


# -- bands ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Band:
    name: str
    from_: float
    explanation: str = ""


def test_bands_of_a_preset_policy_exactly_at_their_edges():
    bands = load_policy("primary-academy").bands  # 0 Inadequate, 90 RI, 96 Good, 100 Outstanding
    name = (lambda attended, possible: f.band_of(attended, possible, bands).name)
    assert name(8999, 10000) == "Inadequate"  # 89.99%
    assert name(89999, 100000) == "Inadequate"  # 89.999%
    assert name(9, 10) == "Requires improvement"  # 90% exactly
    assert name(24, 25) == "Good"  # 96% exactly
    assert name(2399, 2500) == "Requires improvement"  # 95.96%
    assert name(999, 1000) == "Good"
    assert name(5, 5) == "Outstanding"  # the top band includes 100%
    assert name(0, 5) == "Inadequate"  # the lowest band starts from 0: every pupil has a band


def test_no_band_without_a_possible_session_or_without_bands_never_a_wrong_one():
    bands = (_Band("Low", 0), _Band("High", 90))
    assert f.band_of(0, 0, bands) is None
    assert f.band_of(3, 4, ()) is None
    # bands that do not start from 0 (a policy refuses them): below the lowest there is no band,
    # rather than the first band, whose range does not hold the figure
    assert f.band_of(1, 2, (_Band("Mid", 60), _Band("High", 90))) is None
    assert f.band_ranges(bands) == [("Low", 0, 90), ("High", 90, None)]


def test_a_band_edge_finer_than_the_shown_figure_is_compared_exactly():
    """The case where letters and slips disagreed: letters placed the *shown* figure (rounded down
    to two decimals) in a band, slips the exact one. A pupil on 2 of 3 sessions (66.666...%, shown
    66.66%) with a band from 66.666% was "Low" in a letter and "High" on a slip. Both now use the
    exact figure: "High"."""
    bands = (_Band("Low", 0), _Band("High", 66.666))
    assert f.pct_down(2, 3) == "66.66" and float(f.pct_down(2, 3)) < 66.666  # the shown figure is below the edge
    assert f.band_of(2, 3, bands).name == "High"  # the attendance itself is not
    assert f.band_of(66666, 100000, bands).name == "High"  # exactly on the edge: in the band
    assert f.band_of(66665, 100000, bands).name == "Low"
    edge = (_Band("Low", 0), _Band("High", 90.125))
    assert (f.band_of(721, 800, edge).name, f.band_of(720, 800, edge).name) == ("High", "Low")  # 90.125%, 90%


BANDED = """name = "banded-finely"
codes = "dfe"
school = "school.toml"
[[bands]]
name = "Low"
from = 0
explanation = "Below two thirds."
[[bands]]
name = "High"
from = 66.666
explanation = "Two thirds or more."
""" + PUNCTUALITY_LETTER


def test_letters_and_slips_put_a_pupil_on_a_fine_band_edge_in_the_same_band(run, tmp_path: Path):
    (tmp_path / "school.toml").write_text(SCHOOL, encoding="utf-8")
    (tmp_path / "policy.toml").write_text(BANDED, encoding="utf-8")
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "punctuality-1.j2").write_text(
        "{% block subject %}Band{% endblock %}\n{% block body %}"
        "Attendance {{ attendance.percent }}%, band {{ attendance.band.name }}.{% endblock %}\n", encoding="utf-8")
    # 9 days: 18 sessions, 6 missed (5 mornings O, one U): 12 / 18 = 66.666...%, with 3 lates
    mornings = {0: "O", 1: "L", 2: "L", 3: "O", 4: "O", 5: "O", 6: "O", 7: "U"}
    rows = [ARBOR_HEADER]
    for index, day in enumerate(weekdays(dt.date(2026, 11, 2), 9)):
        rows.append(f"S1,Smith,Amy,Year 4,4R,{day:%d/%m/%Y},AM,{mornings.get(index, '/')},")
        rows.append(f"S1,Smith,Amy,Year 4,4R,{day:%d/%m/%Y},PM,/,")
    export = tmp_path / "marks.csv"
    export.write_text("\n".join(rows) + "\n", encoding="utf-8")

    out = tmp_path / "letters"
    result = run("letters", export, "--policy", tmp_path / "policy.toml", "--db", tmp_path / "ledger.sqlite",
                 "--date", "16/11/2026", "--templates", templates, "--out", out, "-f", "txt")
    assert result.exit_code == 0, result.stderr
    [letter] = list(out.glob("*_S1_punctuality-1.txt"))
    assert "Attendance 66.66%, band High." in " ".join(letter.read_text(encoding="utf-8").split())

    slips = tmp_path / "slips.pdf"
    result = run("slips", export, "--policy", tmp_path / "policy.toml", "--out", slips, "--date", "16/11/2026")
    assert result.exit_code == 0, result.stderr
    page = " ".join(PdfReader(slips).pages[0].extract_text().split())
    assert "66.66%" in page and "High Two thirds or more." in page


# -- properties: each expression agrees with its helper, for every count ------------------------------------

COUNT = st.integers(0, 10**12)
PAIRS = st.lists(st.tuples(COUNT, COUNT), min_size=1, max_size=50)


def _frame(pairs: list[tuple[int, int]]) -> pl.DataFrame:
    return pl.DataFrame(pairs, schema={"a": pl.Int64, "p": pl.Int64}, orient="row")


@settings(max_examples=300, deadline=None)
@given(pairs=PAIRS)
def test_expressions_and_helpers_agree_on_every_pair_of_counts(pairs):
    frame = _frame(pairs).select(
        "a", "p",
        f.pct_down_expr(pl.col("a"), pl.col("p")).alias("pct_down"),
        f.hundredths_down_expr(pl.col("a"), pl.col("p")).alias("hundredths"),
        f.pct_expr(pl.col("a"), pl.col("p")).alias("pct"),
        f.persistent_expr(pl.col("a"), pl.col("p")).alias("persistent"),
        f.severe_expr(pl.col("a"), pl.col("p")).alias("severe"),
        f.days_missed_expr(pl.col("a")).alias("days"),
    )
    for row in frame.iter_rows(named=True):
        a, p = row["a"], row["p"]
        assert row["pct_down"] == f.pct_down(a, p)
        assert row["hundredths"] == f.hundredths_down(a, p)
        assert row["pct"] == f.pct(a, p)  # the same double, not just close
        assert row["persistent"] == f.persistent(a, p)
        assert row["severe"] == f.severe(a, p)
        assert row["days"] == f.days_missed(a)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), possible=st.integers(1, 10**9))
def test_rounded_down_is_the_exact_floor_and_the_thresholds_the_exact_shares(data, possible):
    attended = data.draw(st.integers(0, possible))
    absences = possible - attended
    exact = Fraction(attended * 100, possible)
    shown = f.pct_down(attended, possible)
    assert Fraction(shown) <= exact < Fraction(shown) + Fraction(1, 100)
    # the float rate the summary table rounds down shows the same figure
    assert f.rounded(f.pct(attended, possible), "down") == shown
    assert f.persistent(absences, possible) == (Fraction(absences, possible) >= Fraction(1, 10))
    assert f.severe(absences, possible) == (Fraction(absences, possible) >= Fraction(1, 2))


FROMS = st.lists(st.decimals(0, 100, places=3, allow_nan=False, allow_infinity=False), min_size=1, max_size=6,
                 unique=True)


@settings(max_examples=300, deadline=None)
@given(froms=FROMS, data=st.data(), possible=st.integers(1, 10**6))
def test_the_band_is_the_one_whose_range_holds_the_exact_attendance(froms, data, possible):
    edges = sorted({Fraction(str(x)) for x in froms} | {Fraction(0)})
    bands = [_Band(f"b{i}", float(edge)) for i, edge in enumerate(edges)]
    attended = data.draw(st.integers(0, possible))
    band = f.band_of(attended, possible, bands)
    value = Fraction(attended * 100, possible)
    index = bands.index(band)
    assert Fraction(str(band.from_)) <= value
    assert index + 1 == len(bands) or value < Fraction(str(bands[index + 1].from_))
