"""The weekly replay (issue 12): a synthetic school year per setting, run week by week through
`attendance letters` with one ledger, and the invariants a school relies on checked after every run.
See tests/replay.py for the harness and the invariants; run it directly for a full report:

    .venv/bin/python -m tests.replay all

The four replays run once per session, two at a time (one per core), in a RAM folder when the
machine has one. REPLAY_REPORT=FILE writes the four reports to FILE; REPLAY_KEEP=DIR keeps the
replays' files (registers, ledgers, letters) in DIR; REPLAY_SERIAL=1 runs them one after another.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from tests import replay



def _replay_one(setting: str, folder: str) -> replay.Report:
    return replay.replay(setting, Path(folder) / setting)


def _base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bool]:
    """(folder, remove afterwards): REPLAY_KEEP, else a folder in /dev/shm (no disk syncs: the ledger
    syncs every transaction), else pytest's temporary folder."""
    keep = os.environ.get("REPLAY_KEEP")
    if keep:
        return Path(keep), False
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="replay-", dir=shm)), True
    return tmp_path_factory.mktemp("replay"), False


@pytest.fixture(scope="session")
def reports(tmp_path_factory: pytest.TempPathFactory):
    base, remove = _base(tmp_path_factory)
    started = time.perf_counter()
    try:
        if os.environ.get("REPLAY_SERIAL"):
            done = {s: _replay_one(s, str(base)) for s in replay.SETTINGS}
        else:
            # the slowest first, so the two workers finish together
            order = ("primary", "secondary", "college", "university")
            with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
                futures = {s: pool.submit(_replay_one, s, str(base)) for s in order}
                done = {s: f.result() for s, f in futures.items()}
        elapsed = time.perf_counter() - started
        text = "\n\n".join(done[s].text(5) for s in replay.SETTINGS) + f"\n\nAll four replays: {elapsed:.1f}s\n"
        if os.environ.get("REPLAY_REPORT"):
            Path(os.environ["REPLAY_REPORT"]).write_text(text, encoding="utf-8")
        yield done, base
    finally:
        if remove:
            shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("setting", replay.SETTINGS)
def test_weekly_replay_keeps_the_invariants(reports, setting: str) -> None:
    report = reports[0][setting]
    print(report.text(5))
    assert report.runs > 0
    assert not report.violations, report.text(10)


# -- the harness itself: its data are what the replay needs, and its checks find what they look for -----


@pytest.mark.parametrize("setting", replay.SETTINGS)
def test_the_synthetic_year_is_small_but_varied(setting: str) -> None:
    school = replay.build(setting)
    seen = replay.describe(school)
    assert 40 <= seen["pupils"] <= 60
    assert seen["named"] == seen["pupils"]
    for feature in ("10+ lates", "unauthorised run of 3+ days", "10+ illness marks", "absent 20+ school days in a row",
                    "term-time holiday (G)", "recovers (autumn 12%+ absent, summer 5% or less)", "N later corrected",
                    "joins mid-year", "leaves mid-year"):
        assert seen.get(feature, 0) >= 1, f"{setting}: no pupil with {feature}"
    assert len(school.calendar.weeks()) >= 25


def test_the_register_is_as_exported_that_week() -> None:
    """An N the office corrects later is N in the exports before the correction; later registers have
    the real code; a register not yet taken on the export's last day is blank, and marked next week."""
    school = replay.build("primary")
    corrected = next((p.pid, key, m) for p in school.pupils for key, m in school.marks[p.pid].items()
                     if m.n_until is not None and m.n_until > key[0])
    pid, (day, slot), mark = corrected
    assert school.shown(pid, day, slot, day)[0] == "N"
    assert school.shown(pid, day, slot, mark.n_until)[0] == mark.code
    blank = [(p.pid, d) for p in school.pupils for d in school.calendar.school_days
             if (d, "PM") in school.marks[p.pid] and replay._unmarked("primary", p.pid, d, "PM", "sessions")
             and school.marks[p.pid][(d, "PM")].code != "#"]
    assert blank
    pid, d = blank[0]
    assert school.shown(pid, d, "PM", d)[0] is None
    later = next(x for x in school.calendar.school_days if x > d)
    assert school.shown(pid, d, "PM", later)[0] is not None


def test_figures_are_counted_from_the_marks() -> None:
    school = replay.build("primary")
    pid = school.pupils[0].pid
    as_of = school.calendar.school_days[40]
    f = replay.figures(school, pid, as_of)
    rows = [r for r in school.view(as_of)[pid] if r[2] is not None and replay.DFE[r[2]] in replay.POSSIBLE]
    assert f.possible == len(rows)
    assert f.attended + f.authorised + f.unauthorised == f.possible
    assert f.percent == f"{f.attended * 10000 // f.possible // 100}.{f.attended * 10000 // f.possible % 100:02d}"
    assert replay.days_text_value("19½ days") == 19.5 and replay.days_text_value("½ day") == 0.5
    assert replay.days_text_value("1,204 days") == 1204


def _letter(base: Path, setting: str, letter: str, want_table: str):
    """(school, manifest row, text, as_of) of the first letter of type `letter` with the table wanted."""
    import csv

    out = base / setting / "letters"
    if not out.is_dir():
        return None
    for manifest in sorted(out.glob("manifest-*.csv")):
        as_of = dt.date.fromisoformat(manifest.stem.removeprefix("manifest-"))
        with manifest.open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get("decision", "letter") != "letter" or row["letter"] != letter:
                    continue
                text = (out / row["file"]).read_text(encoding="utf-8")
                if want_table in replay.tables(text):
                    return row, text, as_of
    return None


def _check(school: replay.School, row: dict, text: str, as_of: dt.date) -> list[replay.Violation]:
    from attendance_cli.rules import load_policy

    policy = load_policy(school.policy)
    report = replay.Report(school.setting, school.policy, len(school.pupils))
    ctx = replay.RunContext(school, report, {r.id: r for r in policy.rules}, policy, 1, as_of,
                            replay.monday_after(as_of + dt.timedelta(days=4 - as_of.weekday())), [], {}, {}, [])
    ctx.check_letter(row, text)
    return report.violations


@pytest.mark.parametrize("letter,table", [("persistent-absence", "figures"), ("unauthorised-1", "sessions"),
                                          ("punctuality-1", "sessions")])
def test_the_checks_find_a_wrong_letter(reports, letter: str, table: str) -> None:
    """A real letter from the primary replay passes the checks; the same letter with a figure, a mark, a
    date or the name changed does not."""
    found = _letter(reports[1], "primary", letter, table)
    if found is None:
        pytest.skip(f"the primary replay wrote no {letter} letter with a {table} table")
    row, text, as_of = found
    school = replay.build("primary")
    forename = school.person(row["pupil_id"]).forename
    assert _check(school, row, text, as_of) == [], "a correct letter must pass"

    def kinds(changed: str) -> set[str]:
        assert changed != text
        return {v.invariant for v in _check(school, row, changed, as_of)}

    if table == "figures":
        changed = re.sub(r"(Possible sessions\s+)([\d,]+)", lambda m: m.group(1) + str(int(m.group(2).replace(",", "")) + 1),
                         text)
        assert "5-figures" in kinds(changed)
        changed = re.sub(r"(Days missed\s+)(\S+)", lambda m: m.group(1) + "99½", text)
        assert "5-figures" in kinds(changed)
        changed = re.sub(r"(\d+\.\d\d)%", "99.99%", text, count=1)
        assert "5-figures" in kinds(changed)
    else:
        # a mark in the sessions table that is not the register's
        lines = text.splitlines()
        header = next(i for i, line in enumerate(lines) if re.match(r"^\s+Date\s+Morning", line))
        row_line = lines[header + 1]
        swapped = re.sub(r"(\d{4}\s+)([A-Z])\b", lambda m: m.group(1) + ("I" if m.group(2) != "I" else "O"), row_line,
                         count=1)
        assert swapped != row_line
        assert "5-figures" in kinds(text.replace(row_line, swapped))
        # a session on a Saturday
        date_text = re.match(r"^\s+(\S+ \d{1,2} \S+ \d{4})", row_line).group(1)
        day = replay.parse_date_text(date_text, 2025)
        saturday = day + dt.timedelta(days=5 - day.weekday())
        moved = row_line.replace(date_text, f"{replay.WEEKDAYS[5]} {saturday.day} {replay.MONTHS[saturday.month - 1]} "
                                            f"{saturday.year}")
        assert {"5-figures", "5-dates"} <= kinds(text.replace(row_line, moved))
    # a date in the summer holiday
    assert "5-dates" in kinds(text.replace("Dear", "Since 15 August 2025 we have been counting.\n\nDear", 1))
    # no name
    assert "6-names" in kinds(text.replace(forename, ""))


def test_summary_counts(reports) -> None:
    """The replays ran every school week, and the report has its counts (runs, letters by stage)."""
    for setting, report in reports[0].items():
        school = replay.build(setting)
        assert report.runs == len(school.calendar.weeks())
        assert set(replay.INVARIANTS) >= set(report.counts())
        text = report.text()
        assert f"{report.runs} weekly runs" in text and "violations:" in text
