"""Bank holidays in England and Wales come from the `holidays` package, so the one-off ones are known:
the Platinum Jubilee (3 June 2022), the Queen's state funeral (19 September 2022), the Coronation
(8 May 2023), and the spring bank holiday moved to Thursday 2 June 2022."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from attendance_cli.calendar import infer_calendar
from attendance_cli.calendar.bank_holidays import bank_holiday_between, bank_holidays, is_bank_holiday
from tests.conftest import ARBOR_HEADER

D = dt.date
ONE_OFFS = {D(2022, 6, 3): "Platinum Jubilee", D(2022, 9, 19): "State Funeral", D(2023, 5, 8): "Coronation"}


def weekdays(first: dt.date, last: dt.date, *closed: dt.date) -> list[dt.date]:
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    return [day for day in days if day.weekday() < 5 and day not in closed]


@pytest.mark.parametrize("day, name", ONE_OFFS.items())
def test_the_one_off_bank_holidays_are_known(day, name):
    assert is_bank_holiday(day)
    assert name in bank_holidays(day.year)[day]


def test_a_year_of_bank_holidays_on_weekdays():
    # New Year (observed), Good Friday, Easter Monday, May Day, the spring bank holiday (moved to Thursday 2 June),
    # the Jubilee, the late summer bank holiday, the state funeral, Boxing Day, Christmas (observed): no weekend day
    assert sorted(bank_holidays(2022)) == [D(2022, 1, 3), D(2022, 4, 15), D(2022, 4, 18), D(2022, 5, 2), D(2022, 6, 2),
                                           D(2022, 6, 3), D(2022, 8, 29), D(2022, 9, 19), D(2022, 12, 26), D(2022, 12, 27)]
    # the spring bank holiday moved in 2022: the last Monday in May (30 May) was a working day that year
    assert not is_bank_holiday(D(2022, 5, 30)) and is_bank_holiday(D(2023, 5, 29))
    assert not bank_holiday_between(D(2022, 5, 27), D(2022, 5, 31))
    assert bank_holiday_between(D(2022, 9, 16), D(2022, 9, 20)) and not bank_holiday_between(D(2022, 9, 19), D(2022, 9, 20))
    assert bank_holiday_between(D(2022, 12, 23), D(2023, 1, 4))  # across the new year


@pytest.mark.parametrize("days", [
    weekdays(D(2022, 9, 5), D(2022, 10, 21), D(2022, 9, 19)),                   # the state funeral
    weekdays(D(2023, 4, 17), D(2023, 5, 26), D(2023, 5, 1), D(2023, 5, 8)),     # May Day and the Coronation
    weekdays(D(2022, 5, 23), D(2022, 7, 22), D(2022, 6, 2), D(2022, 6, 3)),     # the moved spring bank holiday, the Jubilee
], ids=["state-funeral", "coronation", "jubilee"])
def test_a_week_with_a_bank_holiday_does_not_split_a_half_term(days):
    calendar = infer_calendar(days)
    assert [(h.start, h.end) for h in calendar.half_terms] == [(days[0], days[-1])]


def test_a_whole_week_off_still_ends_a_half_term():
    # half term 30 May to 3 June 2022 (with the Jubilee in it): two half terms, as before
    days = weekdays(D(2022, 5, 9), D(2022, 5, 27)) + weekdays(D(2022, 6, 6), D(2022, 6, 24))
    assert [(h.name, h.start, h.end) for h in infer_calendar(days).half_terms] == [
        ("Summer 1", D(2022, 5, 9), D(2022, 5, 27)), ("Summer 2", D(2022, 6, 6), D(2022, 6, 24))]


def test_the_reports_days_next_to_a_holiday_are_around_the_state_funeral(tmp_path):
    """Two weeks of September 2022 without Monday 19th: Friday 16th and Tuesday 20th are next to the bank
    holiday; P1 missed both, so absence on those days is 4 of 12 sessions, and none on the other days."""
    from attendance_cli.codes import load_code_table
    from attendance_cli.dataset import Dataset
    from attendance_cli.ingest import IngestOptions
    from attendance_cli.reports.figures import build

    days = weekdays(D(2022, 9, 12), D(2022, 9, 23), D(2022, 9, 19))
    rows = [ARBOR_HEADER]
    for pupil in ("P1", "P2", "P3"):
        for day in days:
            mark = "O" if pupil == "P1" and day in (D(2022, 9, 16), D(2022, 9, 20)) else "/"
            rows += [f"{pupil},Surname,Pat,Year 3,3A,{day:%d/%m/%Y},{session},{mark}," for session in ("AM", "PM")]
    path = tmp_path / "register.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    data = Dataset.open([path], IngestOptions(codes=load_code_table("dfe")))
    calendar, last = data.calendar()
    report = build(data, calendar.window("ytd", last), calendar, title="September 2022")
    assert report.patterns["edge_days"] == 2
    assert report.patterns["edge_absence_pct"] == pytest.approx(100 * 4 / 12, abs=0.01)
    assert report.patterns["other_absence_pct"] == 0


def test_holidays_is_imported_only_when_asked():
    probe = ("import sys\nimport attendance_cli.cli, attendance_cli.reports.figures, attendance_cli.calendar\n"
             "print('holidays' in sys.modules)\n"
             "from attendance_cli.calendar.bank_holidays import is_bank_holiday\n"
             "print(is_bank_holiday(__import__('datetime').date(2023, 5, 8)), 'holidays' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.stdout.split() == ["False", "True", "True"]
