"""The trigger ledger: real SQLite files in a temporary folder, no mocks."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import re
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from attendance_cli.ledger import SCHEMA_VERSION, Ledger, LedgerBusy, LedgerError, RecordResult

POLICY = "dfe-2024"
MONDAY = dt.date(2025, 1, 13)

EVENT_DTYPES = {
    "event_id": pl.Int64, "policy": pl.String, "rule_id": pl.String, "ladder": pl.String, "stage": pl.Int64,
    "kind": pl.String, "pupil_id": pl.String, "value": pl.String, "threshold": pl.String, "measure": pl.String,
    "window_start": pl.Date, "window_end": pl.Date, "first_met_on": pl.Date, "as_of": pl.Date,
    "recorded_at": pl.String, "letter": pl.String, "left_on": pl.Date, "decision": pl.String,
}
EVIDENCE_DTYPES = {
    "event_id": pl.Int64, "policy": pl.String, "rule_id": pl.String, "ladder": pl.String, "stage": pl.Int64,
    "pupil_id": pl.String, "date": pl.Date, "session": pl.String, "code": pl.String,
}
EVENTS_IN = {
    "key": pl.Int64, "rule_id": pl.String, "ladder": pl.String, "stage": pl.Int64, "kind": pl.String,
    "pupil_id": pl.String, "value": pl.String, "threshold": pl.String, "measure": pl.String,
    "window_start": pl.Date, "window_end": pl.Date, "first_met_on": pl.Date, "letter": pl.String,
}
EVIDENCE_IN = {"key": pl.Int64, "date": pl.Date, "session": pl.String, "code": pl.String}
LEFT_IN = {"rule_id": pl.String, "pupil_id": pl.String}


def event(key: int, pupil: str | None = "P1", rule: str = "unauth-10", kind: str = "count", stage: int = 1,
          letter: str | None = None, value: str = "10", threshold: str = "10", measure: str = "unauthorised sessions",
          ladder: str | None = None) -> dict[str, Any]:
    """One event to record, as the rules engine would give it."""
    return {"key": key, "rule_id": rule, "ladder": ladder or rule, "stage": stage, "kind": kind, "pupil_id": pupil,
            "value": value, "threshold": threshold, "measure": measure, "window_start": dt.date(2024, 11, 4),
            "window_end": dt.date(2025, 1, 10), "first_met_on": dt.date(2025, 1, 9), "letter": letter}


def sessions(key: int, start: dt.date, count: int, code: str = "O") -> list[dict[str, Any]]:
    """`count` consecutive evidence sessions (AM, PM, ...) from `start`, weekends included for simplicity."""
    return [{"key": key, "date": start + dt.timedelta(days=n // 2), "session": "AM" if n % 2 == 0 else "PM", "code": code}
            for n in range(count)]


def events_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=EVENTS_IN)


def evidence_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=EVIDENCE_IN)


def left_frame(rows: Sequence[tuple[str, str]] = ()) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=LEFT_IN, orient="row")


def record(ledger: Ledger, events: list[dict[str, Any]], evidence: Sequence[dict[str, Any]] = (),
           left: Sequence[tuple[str, str]] = (), as_of: dt.date = MONDAY) -> RecordResult:
    return ledger.record(POLICY, as_of, events_frame(events), evidence_frame(list(evidence)), left_frame(list(left)))


def contents(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    with Ledger(path, create=False) as ledger:
        return ledger.events().to_dicts(), ledger.evidence().to_dicts(), ledger.runs().to_dicts()


# -- opening --------------------------------------------------------------------------------


def test_new_ledger_file_is_created_and_reads_back_empty_with_documented_columns(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        events, evidence = ledger.events(), ledger.evidence()
    assert path.is_file()
    assert events.height == 0 and dict(events.schema) == EVENT_DTYPES
    assert evidence.height == 0 and dict(evidence.schema) == EVIDENCE_DTYPES
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"events", "evidence", "runs"} <= tables
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    db.close()


def test_missing_ledger_with_create_false_names_the_path_and_says_record_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with pytest.raises(LedgerError) as caught:
        Ledger(path, create=False)
    assert str(path) in caught.value.describe()
    assert "attendance triggers --record" in caught.value.describe()
    assert not path.exists()


def test_csv_file_given_as_ledger_is_refused_by_name_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "marks.csv"
    text = "Student ID,Date,Session,Mark\n1001,13/01/2025,AM,/\n" * 50
    path.write_text(text)
    with pytest.raises(LedgerError) as caught:
        Ledger(path)
    assert caught.value.message == f"{path} is not a trigger ledger."
    assert caught.value.exit_code == 1
    assert path.read_text() == text


def test_another_programs_sqlite_database_is_not_a_ledger(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE pupils (id TEXT)")
    db.commit()
    db.close()
    with pytest.raises(LedgerError, match="is not a trigger ledger"):
        Ledger(path)


def test_ledger_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(LedgerError) as caught:
        Ledger(path)
    assert str(path) in caught.value.message
    assert "newer version of attendance" in caught.value.message
    assert "Upgrade attendance" in caught.value.describe()


# -- recording and reading back -------------------------------------------------------------


def test_two_count_events_and_a_state_event_read_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        result = record(ledger,
                        [event(7, "P2", letter="letter-1"), event(3, "P1"),
                         event(5, "P1", rule="pa", kind="state", value="88.5%", threshold="90%",
                               measure="attendance", ladder="pa-ladder", stage=2)],
                        sessions(7, dt.date(2025, 1, 6), 2) + sessions(3, dt.date(2025, 1, 8), 3, code="G"))
        events, evidence = ledger.events(), ledger.evidence()
    # ids follow the input keys' order
    assert result == RecordResult(recorded=3, skipped=0, closed=0, event_ids={3: 1, 5: 2, 7: 3})
    recorded_at = events["recorded_at"].unique().to_list()
    assert len(recorded_at) == 1 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", recorded_at[0])
    common = {"policy": POLICY, "window_start": dt.date(2024, 11, 4), "window_end": dt.date(2025, 1, 10),
              "first_met_on": dt.date(2025, 1, 9), "as_of": MONDAY, "recorded_at": recorded_at[0], "left_on": None, "decision": None}
    assert events.to_dicts() == [
        {"event_id": 1, "rule_id": "unauth-10", "ladder": "unauth-10", "stage": 1, "kind": "count", "pupil_id": "P1",
         "value": "10", "threshold": "10", "measure": "unauthorised sessions", "letter": None, **common},
        {"event_id": 2, "rule_id": "pa", "ladder": "pa-ladder", "stage": 2, "kind": "state", "pupil_id": "P1",
         "value": "88.5%", "threshold": "90%", "measure": "attendance", "letter": None, **common},
        {"event_id": 3, "rule_id": "unauth-10", "ladder": "unauth-10", "stage": 1, "kind": "count", "pupil_id": "P2",
         "value": "10", "threshold": "10", "measure": "unauthorised sessions", "letter": "letter-1", **common},
    ]
    assert evidence.to_dicts() == [
        {"event_id": 1, "policy": POLICY, "rule_id": "unauth-10", "ladder": "unauth-10", "stage": 1, "pupil_id": "P1",
         "date": dt.date(2025, 1, 8), "session": "AM", "code": "G"},
        {"event_id": 1, "policy": POLICY, "rule_id": "unauth-10", "ladder": "unauth-10", "stage": 1, "pupil_id": "P1",
         "date": dt.date(2025, 1, 8), "session": "PM", "code": "G"},
        {"event_id": 1, "policy": POLICY, "rule_id": "unauth-10", "ladder": "unauth-10", "stage": 1, "pupil_id": "P1",
         "date": dt.date(2025, 1, 9), "session": "AM", "code": "G"},
        {"event_id": 3, "policy": POLICY, "rule_id": "unauth-10", "ladder": "unauth-10", "stage": 1, "pupil_id": "P2",
         "date": dt.date(2025, 1, 6), "session": "AM", "code": "O"},
        {"event_id": 3, "policy": POLICY, "rule_id": "unauth-10", "ladder": "unauth-10", "stage": 1, "pupil_id": "P2",
         "date": dt.date(2025, 1, 6), "session": "PM", "code": "O"},
    ]
    assert dict(evidence.schema) == EVIDENCE_DTYPES and dict(events.schema) == EVENT_DTYPES


def test_events_and_evidence_filter_by_policy_and_pupil(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        record(ledger, [event(1, "P1"), event(2, "P2")], sessions(1, MONDAY, 1) + sessions(2, MONDAY, 1))
        later = MONDAY + dt.timedelta(days=1)
        ledger.record("other-policy", MONDAY, events_frame([event(1, "P1")]), evidence_frame(sessions(1, later, 1)),
                      left_frame())
        assert ledger.events(pupil_id="P1")[["event_id", "policy"]].rows() == [(1, POLICY), (3, "other-policy")]
        assert ledger.events(policy=POLICY)["pupil_id"].to_list() == ["P1", "P2"]
        assert ledger.evidence(policy="other-policy", pupil_id="P1")["event_id"].to_list() == [3]
        assert ledger.events(policy="no-such-policy").height == 0


def test_recording_the_same_count_events_again_skips_them(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        batch = [event(1, "P1"), event(2, "P2")]
        evidence = sessions(1, MONDAY, 10) + sessions(2, MONDAY, 10)
        assert record(ledger, batch, evidence).recorded == 2
        again = record(ledger, batch, evidence, as_of=MONDAY + dt.timedelta(days=7))
        assert again == RecordResult(recorded=0, skipped=2, closed=0, event_ids={})
        assert ledger.events()["event_id"].to_list() == [1, 2]
        assert ledger.evidence().height == 20
        assert ledger.runs()[["as_of", "recorded", "skipped", "closed"]].rows() == [
            (MONDAY, 2, 0, 0), (MONDAY + dt.timedelta(days=7), 0, 2, 0)]


def test_one_shared_session_skips_the_same_rule_and_pupil_only(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        record(ledger, [event(1, "P1")], sessions(1, dt.date(2025, 1, 6), 10))
        # each new event's first session is the recorded event's last one (10 January, PM)
        overlap = sessions(1, dt.date(2025, 1, 10), 10)[1:] + sessions(1, dt.date(2025, 1, 15), 1)
        result = record(ledger,
                        [event(1, "P1"), event(2, "P1", rule="unauth-15"), event(3, "P2"),
                         event(4, "P1")],
                        [dict(row, key=key) for key in (1, 2, 3) for row in overlap[:1] + overlap[2:]]
                        + sessions(4, dt.date(2025, 1, 20), 10))
        assert (result.recorded, result.skipped) == (3, 1)
        assert result.event_ids == {2: 2, 3: 3, 4: 4}
        assert ledger.events()[["event_id", "rule_id", "pupil_id"]].rows() == [
            (1, "unauth-10", "P1"), (2, "unauth-15", "P1"), (4, "unauth-10", "P1"), (3, "unauth-10", "P2")]


def test_state_event_is_skipped_while_open_and_recorded_again_after_leaving(tmp_path: Path) -> None:
    pa = event(1, "P1", rule="pa", kind="state", value="89.0%", threshold="90%", measure="attendance")
    weeks = [MONDAY + dt.timedelta(weeks=n) for n in range(4)]
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert record(ledger, [pa], as_of=weeks[0]).recorded == 1
        assert record(ledger, [pa], as_of=weeks[1]) == RecordResult(recorded=0, skipped=1, closed=0, event_ids={})
        # left for a rule or pupil without an open state event closes nothing else
        left = record(ledger, [], left=[("pa", "P1"), ("pa", "P9"), ("other", "P1")], as_of=weeks[2])
        assert left == RecordResult(recorded=0, skipped=0, closed=1, event_ids={})
        assert ledger.events()[["event_id", "as_of", "left_on"]].rows() == [(1, weeks[0], weeks[2])]
        # leaving again does not move the date the pupil left
        assert record(ledger, [], left=[("pa", "P1")], as_of=weeks[3]).closed == 0
        back = record(ledger, [pa], as_of=weeks[3])
        assert back == RecordResult(recorded=1, skipped=0, closed=0, event_ids={1: 2})
        assert ledger.events()[["event_id", "as_of", "left_on"]].rows() == [(1, weeks[0], weeks[2]), (2, weeks[3], None)]


# -- all or nothing -------------------------------------------------------------------------


def _open_state_and_one_count(path: Path) -> None:
    with Ledger(path) as ledger:
        record(ledger, [event(1, "P1", rule="pa", kind="state"), event(2, "P2")], sessions(2, MONDAY, 3))


def test_evidence_for_a_key_not_in_events_records_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    _open_state_and_one_count(path)
    before, data = contents(path), path.read_bytes()
    with Ledger(path) as ledger, pytest.raises(ValueError, match="key that is not in the events"):
        record(ledger, [event(1, "P3")], sessions(1, MONDAY, 3) + sessions(99, MONDAY, 1), left=[("pa", "P1")])
    assert contents(path) == before
    assert path.read_bytes() == data


def test_failure_after_some_writes_rolls_all_of_them_back(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    _open_state_and_one_count(path)
    before = contents(path)
    with Ledger(path) as ledger:
        # P1's state event is closed and the run noted before the event without a pupil stops it
        with pytest.raises(ValueError, match="NOT NULL constraint failed: events.pupil_id"):
            record(ledger, [event(1, "P3"), event(2, None)],
                   sessions(1, MONDAY + dt.timedelta(days=7), 3) + sessions(2, MONDAY, 1), left=[("pa", "P1")])
        # the ledger is still usable afterwards
        assert contents(path) == before
        assert record(ledger, [event(1, "P3")], sessions(1, MONDAY, 1)).recorded == 1


def test_one_run_counting_a_session_twice_is_refused(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        with pytest.raises(ValueError, match="share the session 2025-01-13 AM"):
            record(ledger, [event(1, "P1"), event(2, "P1")], sessions(1, MONDAY, 2) + sessions(2, MONDAY, 1))
        assert ledger.events().height == 0


def test_count_event_without_sessions_is_refused_as_it_would_trigger_every_week(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        with pytest.raises(ValueError, match=r"1 count events have no evidence sessions \(first key: 2\)"):
            record(ledger, [event(1, "P1"), event(2, "P2")], sessions(1, MONDAY, 2))
        assert ledger.events().height == 0


# -- two runs at once -----------------------------------------------------------------------


def test_busy_ledger_raises_ledger_busy_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with Ledger(path, wait=0.2) as ledger:
            started = time.monotonic()
            with pytest.raises(LedgerBusy) as caught:
                record(ledger, [event(1)], sessions(1, MONDAY, 1))
            elapsed = time.monotonic() - started
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert 0.15 <= elapsed < 1.0
    assert caught.value.exit_code == 1
    assert str(path) in caught.value.message and "another attendance run is recording" in caught.value.message
    assert "--wait" in caught.value.describe()
    assert contents(path)[0] == []


def _record_in_child(path: str, barrier: Any, results: Any) -> None:
    """Runs in a separate process: record the shared batch as soon as the other process is ready."""
    events = [event(k, f"P{k % 7}", rule=f"r{k % 3}") for k in range(60)]
    events += [event(100 + k, f"P{k}", rule="pa", kind="state") for k in range(5)]
    evidence = [row for k in range(60) for row in sessions(k, MONDAY + dt.timedelta(days=k), 4)]
    barrier.wait()
    with Ledger(Path(path), wait=20) as ledger:
        result = record(ledger, events, evidence)
    results.put((result.recorded, result.skipped))


def test_two_processes_recording_the_same_events_record_each_once(tmp_path: Path) -> None:
    path = tmp_path / "new-ledger.sqlite"  # not there yet: both processes also race to create it
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_record_in_child, args=(str(path), barrier, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    outcomes = sorted(results.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert outcomes == [(0, 65), (65, 0)]
    events, evidence, runs = contents(path)
    assert len(events) == 65 and len(evidence) == 240
    assert len({(e["rule_id"], e["pupil_id"], e["window_start"]) for e in events if e["kind"] == "state"}) == 5
    assert [r["recorded"] for r in runs] == [65, 0]


# -- size -----------------------------------------------------------------------------------


def test_twenty_thousand_events_with_ten_sessions_each_are_recorded(tmp_path: Path) -> None:
    count = 20_000
    keys = pl.int_range(0, count, dtype=pl.Int64, eager=True)
    events = pl.DataFrame({"key": keys}).with_columns(
        rule_id=pl.lit("unauth-10"), ladder=pl.lit("unauth-10"), stage=pl.lit(1, pl.Int64), kind=pl.lit("count"),
        pupil_id=pl.format("P{}", pl.col("key")), value=pl.lit("10"), threshold=pl.lit("10"),
        measure=pl.lit("unauthorised sessions"), window_start=pl.lit(dt.date(2024, 11, 4)),
        window_end=pl.lit(dt.date(2025, 1, 10)), first_met_on=pl.lit(dt.date(2025, 1, 9)),
        letter=pl.lit(None, pl.String))
    evidence = (pl.DataFrame({"key": keys}).join(pl.DataFrame({"n": pl.int_range(0, 10, eager=True)}), how="cross")
                .select("key", date=pl.lit(dt.date(2025, 1, 6)) + pl.duration(days=pl.col("n") // 2),
                        session=pl.when(pl.col("n") % 2 == 0).then(pl.lit("AM")).otherwise(pl.lit("PM")),
                        code=pl.lit("O")))
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        result = ledger.record(POLICY, MONDAY, events, evidence, left_frame())
        assert (result.recorded, result.skipped, len(result.event_ids)) == (count, 0, count)
        assert ledger.events().height == count and ledger.evidence().height == count * 10
        again = ledger.record(POLICY, MONDAY, events, evidence, left_frame())
        assert (again.recorded, again.skipped) == (0, count)


def test_a_version_1_ledger_is_upgraded_in_place_keeping_its_events(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    from attendance_cli.ledger import SCHEMA

    for statement in SCHEMA:
        db.execute(statement)
    db.execute("PRAGMA application_id = 1096045636")
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO runs (policy, as_of, recorded_at, recorded, skipped, closed) VALUES ('p', '2026-11-13', 'x', 1, 0, 0)")
    db.execute("""INSERT INTO events (run_id, policy, rule_id, ladder, stage, kind, pupil_id, value, threshold, measure,
                  window_start, window_end, first_met_on, as_of, recorded_at) VALUES
                  (1, 'p', 'r', 'l', 1, 'state', 'S1', '1', '1', 'm', '2026-11-01', '2026-11-13', '2026-11-13', '2026-11-13', 'x')""")
    db.commit()
    db.close()
    with Ledger(path) as ledger:
        assert ledger.events()["pupil_id"].to_list() == ["S1"]
        assert ledger.letters().height == 0
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def test_a_version_3_ledger_gains_the_deliveries_table_and_sends_none_of_its_earlier_letters(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite"
    with Ledger(path) as ledger:
        record(ledger, [event(1, "P1")], sessions(1, MONDAY, 10))
    db = sqlite3.connect(path)  # as version 3 left it: no requests' tables (version 4), no deliveries (version 5)
    for table in ("deliveries", "decision_letters", "decision_letter_runs", "decisions"):
        db.execute(f"DROP TABLE {table}")
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    with Ledger(path) as ledger:
        assert ledger.events().height == 1
        assert ledger.deliveries().height == 0 and ledger.letters_to_send() == []
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 5
    assert db.execute("SELECT count(*) FROM sqlite_master WHERE name IN ('deliveries', 'decisions')").fetchone()[0] == 2
    db.close()


def test_a_renamed_copy_of_a_policy_finds_what_the_original_recorded(tmp_path: Path) -> None:
    """Events are known by rule and pupil, whichever policy file recorded them: a copy made by
    `policy init` under another name does not record (and so write) the same sessions again."""
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        record(ledger, [event(1, "P1")], sessions(1, MONDAY, 10))
        copy = ledger.record("my-copy", MONDAY, events_frame([event(1, "P1")]), evidence_frame(sessions(1, MONDAY, 10)),
                             left_frame())
        assert (copy.recorded, copy.skipped) == (0, 1)
        assert ledger.policies() == [POLICY, "my-copy"]
