"""Events in the ledger: recording a run's trigger events, their evidence, its held events and
the school's actions on cases, and reading events, evidence, runs, actions and held events back.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import polars as pl

from attendance_cli.ledger.letters import LETTERS_IN, LetterRun, write_letters
from attendance_cli.ledger.schema import EARLIER_RUN_WHY, LedgerFile, RecordedLater, conform, filters, tuples

# Temporary tables filled from the frames given to record(). No NOT NULL here on purpose: a
# missing value is caught by the ledger's own tables, with the column named.
_STAGING = (
    """CREATE TEMP TABLE new_events (
        key INTEGER NOT NULL UNIQUE, rule_id TEXT, ladder TEXT, stage INTEGER, kind TEXT, pupil_id TEXT,
        value TEXT, threshold TEXT, measure TEXT, window_start TEXT, window_end TEXT, first_met_on TEXT,
        letter TEXT, decision TEXT, skip INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE TEMP TABLE new_evidence (key INTEGER, date TEXT, session TEXT, code TEXT)",
    "CREATE TEMP TABLE new_left (rule_id TEXT, pupil_id TEXT)",
    "CREATE TEMP TABLE new_ids (key INTEGER PRIMARY KEY, event_id INTEGER NOT NULL)",
)
_STAGING_TABLES = ("new_events", "new_evidence", "new_left", "new_ids")

#: Columns of `Ledger.events()`, in order.
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.Int64(), "policy": pl.String(), "rule_id": pl.String(), "ladder": pl.String(),
    "stage": pl.Int64(), "kind": pl.String(), "pupil_id": pl.String(), "value": pl.String(),
    "threshold": pl.String(), "measure": pl.String(), "window_start": pl.Date(), "window_end": pl.Date(),
    "first_met_on": pl.Date(), "as_of": pl.Date(), "recorded_at": pl.String(), "letter": pl.String(),
    "left_on": pl.Date(), "decision": pl.String(),
}
#: Columns of `Ledger.actions()`, in order (and of the frame `record_actions` takes, less the ids).
ACTION_SCHEMA: dict[str, pl.DataType] = {
    "action_id": pl.Int64(), "pupil_id": pl.String(), "ladder": pl.String(), "action": pl.String(),
    "date": pl.Date(), "until": pl.Date(), "note": pl.String(), "source": pl.String(), "recorded_at": pl.String(),
}
#: Columns of `Ledger.evidence()`, in order.
EVIDENCE_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.Int64(), "policy": pl.String(), "rule_id": pl.String(), "ladder": pl.String(),
    "stage": pl.Int64(), "pupil_id": pl.String(), "date": pl.Date(), "session": pl.String(), "code": pl.String(),
}
_SESSION: dict[str, pl.DataType] = {"date": pl.Date(), "session": pl.String(), "code": pl.String()}
#: Columns of `Ledger.runs()`, in order.
RUN_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.Int64(), "policy": pl.String(), "as_of": pl.Date(), "recorded_at": pl.String(),
    "recorded": pl.Int64(), "skipped": pl.Int64(), "closed": pl.Int64(),
}

#: Columns record() needs in each of its frames.
_EVENTS_IN: dict[str, pl.DataType] = {
    "key": pl.Int64(), "rule_id": pl.String(), "ladder": pl.String(), "stage": pl.Int64(), "kind": pl.String(),
    "pupil_id": pl.String(), "value": pl.String(), "threshold": pl.String(), "measure": pl.String(),
    "window_start": pl.Date(), "window_end": pl.Date(), "first_met_on": pl.Date(), "letter": pl.String(),
    "decision": pl.String(),
}
_EVIDENCE_IN: dict[str, pl.DataType] = {"key": pl.Int64(), "date": pl.Date(), "session": pl.String(), "code": pl.String()}
_LEFT_IN: dict[str, pl.DataType] = {"rule_id": pl.String(), "pupil_id": pl.String()}
_HELD_IN: dict[str, pl.DataType] = {"pupil_id": pl.String(), "rule_id": pl.String(), "first_met_on": pl.Date()}
#: Columns of `Ledger.held()`.
HELD_SCHEMA: dict[str, pl.DataType] = {"pupil_id": pl.String(), "rule_id": pl.String(), "first_met_on": pl.Date(),
                                       "held_on": pl.Date()}


@dataclass(frozen=True)
class RecordResult:
    """What one `Ledger.record` call did."""

    recorded: int  # events written now
    skipped: int  # events another run had already recorded
    closed: int  # open state events closed because the pupil left the state
    event_ids: dict[int, int] = field(default_factory=dict)  # input key -> event_id, recorded events only
    run_id: int | None = field(default=None, compare=False)
    letters: int = 0  # letters recorded (only when letters were given)
    letter_run_id: int | None = field(default=None, compare=False)


class EventLedger(LedgerFile):
    """The runs, events, evidence, held events and actions of a ledger: a part of `Ledger`."""

    # -- reading -------------------------------------------------------------------------

    def events(self, policy: str | None = None, pupil_id: str | None = None) -> pl.DataFrame:
        """Recorded events, by pupil and then in the order they were recorded."""
        where, params = filters({"policy": policy, "pupil_id": pupil_id})
        sql = (f"SELECT {', '.join(EVENT_SCHEMA)} FROM events {where} ORDER BY pupil_id, event_id")
        return self._frame(sql, params, EVENT_SCHEMA)

    def evidence(self, policy: str | None = None, pupil_id: str | None = None) -> pl.DataFrame:
        """The sessions behind recorded events, by pupil, event, date and session."""
        where, params = filters({"policy": policy, "pupil_id": pupil_id})
        # sessions read in primary-key order and joined to their events here: having SQLite sort
        # a million rows by pupil is much slower
        inside = f"WHERE event_id IN (SELECT event_id FROM events {where})" if where else ""
        with self._snapshot():
            events = self._frame(f"SELECT event_id, policy, rule_id, ladder, stage, pupil_id FROM events {where}", params,
                                 {name: dtype for name, dtype in EVIDENCE_SCHEMA.items() if name not in _SESSION})
            sessions = self._frame(f"SELECT event_id, date, session, code FROM evidence {inside} "
                                   "ORDER BY event_id, date, session", params, {"event_id": pl.Int64(), **_SESSION})
        return (events.join(sessions, on="event_id").select(list(EVIDENCE_SCHEMA))
                .sort("pupil_id", "event_id", "date", "session"))

    def runs(self, policy: str | None = None) -> pl.DataFrame:
        """One row per `record` call, oldest first: what each weekly run recorded."""
        where, params = filters({"policy": policy})
        return self._frame(f"SELECT {', '.join(RUN_SCHEMA)} FROM runs {where} ORDER BY run_id", params, RUN_SCHEMA)

    def latest_as_of(self, policy: str | None = None) -> dt.date | None:
        """The as-of date of the latest run recorded (for `policy`, or any: None when nothing is recorded
        yet). A recording run may not go back before the ledger's latest (see `RecordedLater`): events
        are known by their rule, whichever policy file recorded them."""
        try:
            where, params = filters({"policy": policy})
            day = self._db.execute(f"SELECT max(as_of) FROM runs {where}", params).fetchone()[0]
        except sqlite3.Error as error:
            raise self._translate(error, "read") from error
        return None if day is None else dt.date.fromisoformat(day)

    # -- recording -----------------------------------------------------------------------

    def record(self, policy: str, as_of: dt.date, events: pl.DataFrame, evidence: pl.DataFrame,
               left: pl.DataFrame, letters: pl.DataFrame | None = None, letter_run: LetterRun | None = None,
               before_commit: Callable[[RecordResult], None] | None = None, mode: str = "record",
               held: pl.DataFrame | None = None) -> RecordResult:
        """Record one run's trigger events, all or nothing.

        Events are known by rule id and pupil, whichever policy recorded them: a renamed copy of a
        policy (`policy init`) finds what the original recorded. `mode` says what kind of run it
        was ('record', 'letters', 'adopt'), for `case list` and `history`. `held` (pupil_id, rule_id,
        first_met_on): events held back for another letter to the family, remembered with the run.

        `events` (one row per event, `key` linking to `evidence`), `evidence` (the sessions behind
        each event) and `left` (rule_id, pupil_id of state rules the pupil no longer meets: their
        open state events are closed as of `as_of`). Events already in the ledger are skipped: a
        count event sharing a session with a recorded event of the same rule and pupil, a state
        event while the pupil's state event for that rule is still open.

        `letters` (LETTERS_IN, with `letter_run`): the letters written for the events; a letter is
        recorded only with its event, so an event another run recorded meanwhile gets no letter here.
        `before_commit(result)` runs inside the transaction, holding the lock: if it raises, nothing
        is recorded.

        Raises LedgerBusy if another run holds the ledger longer than `wait`, RecordedLater if the
        ledger already holds a run of this policy as of a later date (checked again under the lock:
        another run may have recorded since the caller looked), ValueError if the frames do not fit
        together (evidence for a missing key, a missing value, ...).
        """
        if (letters is None) != (letter_run is None):
            raise ValueError("Letters are recorded with their letter run: give both or neither.")
        letters = None if letters is None else conform(letters, LETTERS_IN, "letters")
        if "decision" not in events.columns:  # recorded by `triggers --record`: no casework decision
            events = events.with_columns(pl.lit(None, dtype=pl.String).alias("decision"))
        events = conform(events, _EVENTS_IN, "events")
        evidence = conform(evidence, _EVIDENCE_IN, "evidence")
        left = conform(left, _LEFT_IN, "left")
        # checked before taking the lock, so a mistake never keeps another run waiting
        _check_frames(events, evidence, left)
        day = f"{as_of:%Y-%m-%d}"
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                self._refuse_earlier(policy, as_of)
                recorded_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                for statement in _STAGING:
                    db.execute(statement)
                db.executemany(f"INSERT INTO new_events VALUES ({', '.join('?' * len(_EVENTS_IN))}, 0)", tuples(events))
                # in key order, so evidence goes into the ledger in the order of its primary key
                db.executemany("INSERT INTO new_evidence VALUES (?, ?, ?, ?)",
                               tuples(evidence.sort("key", "date", "session")))
                db.executemany("INSERT INTO new_left VALUES (?, ?)", tuples(left))
                # indexed after loading: quicker than keeping the index up to date row by row
                db.execute("CREATE INDEX temp.new_evidence_by_key ON new_evidence (key)")
                result = self._write(policy, day, recorded_at, mode)
                if held is not None and held.height:
                    db.executemany("INSERT OR IGNORE INTO held VALUES (?, ?, ?, ?)",
                                   ((result.run_id, *row) for row in tuples(conform(held, _HELD_IN, "held"))))
                if letters is not None and letter_run is not None:
                    count, letter_run_id = write_letters(db, result.run_id, result.event_ids, letters, letter_run,
                                                         recorded_at)
                    result = replace(result, letters=count, letter_run_id=letter_run_id)
                for table in _STAGING_TABLES:
                    db.execute(f"DROP TABLE temp.{table}")
                if before_commit is not None:
                    before_commit(result)
                db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except sqlite3.IntegrityError as error:
            raise ValueError(f"The trigger events to record are not valid: {error}.") from error
        except sqlite3.Error as error:
            raise self._translate(error, "record in") from error
        return result

    def _refuse_earlier(self, policy: str, as_of: dt.date) -> None:
        """Inside record's transaction: refuse a run earlier than one already recorded for the policy."""
        latest = self.latest_as_of()
        if latest is not None and as_of < latest:
            raise RecordedLater(
                f"Cannot record as of {as_of:%d/%m/%Y} in the ledger {self.path}: it already holds a run as of "
                f"{latest:%d/%m/%Y}. {EARLIER_RUN_WHY}",
                fix=f"Record as of {latest:%d/%m/%Y} or later.")

    def _write(self, policy: str, day: str, recorded_at: str, mode: str) -> RecordResult:
        """The writes of `record`, inside its transaction, with the frames in the temp tables."""
        db = self._db
        closed = db.execute(
            """UPDATE events SET left_on = ?
               WHERE kind = 'state' AND left_on IS NULL
                 AND EXISTS (SELECT 1 FROM new_left l WHERE l.rule_id = events.rule_id AND l.pupil_id = events.pupil_id)""",
            (day,)).rowcount
        # the re-check: what is in the file now, whoever wrote it
        db.execute(
            """UPDATE new_events SET skip = 1
               WHERE kind = 'count' AND EXISTS (
                   SELECT 1 FROM events e
                   JOIN new_evidence v ON v.key = new_events.key
                   JOIN evidence x ON x.event_id = e.event_id AND x.date = v.date AND x.session = v.session
                   WHERE e.rule_id = new_events.rule_id AND e.pupil_id = new_events.pupil_id)""")
        db.execute(
            """UPDATE new_events SET skip = 1
               WHERE kind = 'state' AND EXISTS (
                   SELECT 1 FROM events e
                   WHERE e.rule_id = new_events.rule_id AND e.pupil_id = new_events.pupil_id
                     AND e.kind = 'state' AND e.left_on IS NULL)""")
        # ids handed out here rather than by SQLite, so input keys map to event ids without a
        # query per event; safe because we hold the write lock
        last = db.execute("SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), "
                          "coalesce((SELECT max(event_id) FROM events), 0))").fetchone()[0]
        db.execute("INSERT INTO new_ids SELECT key, ? + row_number() OVER (ORDER BY key) FROM new_events WHERE skip = 0",
                   (last,))
        recorded, skipped = db.execute("SELECT count(*) - coalesce(sum(skip), 0), coalesce(sum(skip), 0) "
                                       "FROM new_events").fetchone()
        run_id = db.execute("INSERT INTO runs (policy, as_of, recorded_at, recorded, skipped, closed, mode) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (policy, day, recorded_at, recorded, skipped, closed, mode)).lastrowid
        db.execute(
            """INSERT INTO events (event_id, run_id, policy, rule_id, ladder, stage, kind, pupil_id, value, threshold,
                                   measure, window_start, window_end, first_met_on, as_of, recorded_at, letter, decision)
               SELECT i.event_id, ?, ?, n.rule_id, n.ladder, n.stage, n.kind, n.pupil_id, n.value, n.threshold,
                      n.measure, n.window_start, n.window_end, n.first_met_on, ?, ?, n.letter, n.decision
               FROM new_events n JOIN new_ids i ON i.key = n.key ORDER BY i.event_id""",
            (run_id, policy, day, recorded_at))
        db.execute(
            """INSERT INTO evidence (event_id, date, session, code)
               SELECT i.event_id, v.date, v.session, v.code
               FROM new_evidence v JOIN new_ids i ON i.key = v.key ORDER BY v.rowid""")
        event_ids = dict(db.execute("SELECT key, event_id FROM new_ids").fetchall())
        return RecordResult(recorded=recorded, skipped=skipped, closed=closed, event_ids=event_ids, run_id=run_id)

    # -- actions on cases ------------------------------------------------------------------------

    def record_actions(self, actions: pl.DataFrame) -> tuple[int, int]:
        """Record what the school did (pupil_id, ladder, action, date, until, note, source), all or
        nothing. The same action on the same case and day is recorded once: (recorded, already there)."""
        columns = [c for c in ACTION_SCHEMA if c not in ("action_id", "recorded_at")]
        frame = conform(actions, {c: ACTION_SCHEMA[c] for c in columns}, "actions")
        recorded_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._writing() as db:
            before = db.execute("SELECT count(*) FROM actions").fetchone()[0]
            db.executemany(f"INSERT OR IGNORE INTO actions ({', '.join(columns)}, recorded_at) "
                           f"VALUES ({', '.join('?' * (len(columns) + 1))})",
                           ((*row, recorded_at) for row in tuples(frame.with_columns(pl.col("note").fill_null(""),
                                                                                       pl.col("source").fill_null("")))))
            added = db.execute("SELECT count(*) FROM actions").fetchone()[0] - before
        return added, frame.height - added

    def actions(self, pupil_id: str | None = None, ladder: str | None = None) -> pl.DataFrame:
        """What the school recorded it did, by pupil, then date."""
        where, params = filters({"pupil_id": pupil_id, "ladder": ladder})
        return self._frame(f"SELECT {', '.join(ACTION_SCHEMA)} FROM actions {where} ORDER BY pupil_id, date, action_id",
                           params, ACTION_SCHEMA)

    def held(self) -> pl.DataFrame:
        """Events runs held back for another letter: pupil, rule, first met, and the as-of date of the
        first run that held them."""
        return self._frame("SELECT h.pupil_id, h.rule_id, h.first_met_on, min(r.as_of) FROM held h "
                           "JOIN runs r USING (run_id) GROUP BY h.pupil_id, h.rule_id, h.first_met_on",
                           [], HELD_SCHEMA)

    def policies(self) -> list[str]:
        """The policies that have recorded runs in this ledger, oldest first."""
        try:
            return [row[0] for row in self._db.execute("SELECT policy FROM runs GROUP BY policy ORDER BY min(run_id)")]
        except sqlite3.Error as error:
            raise self._translate(error, "read") from error


def _check_frames(events: pl.DataFrame, evidence: pl.DataFrame, left: pl.DataFrame) -> None:
    """Refuse frames that do not fit together: a mistake in the caller, not in the data."""
    keys = events["key"]
    if keys.null_count() or keys.n_unique() != keys.len():
        raise ValueError("Every event to record needs its own key: the events frame has a missing or repeated key.")
    kinds = events.filter(~pl.col("kind").is_in(["count", "state"]))["kind"]
    if kinds.len():
        raise ValueError(f"An event's kind must be 'count' or 'state', not {kinds[0]!r}.")
    # a count event without sessions could never be recognised as already recorded: it would be
    # recorded again every week
    bare = events.filter(pl.col("kind") == "count").join(evidence, on="key", how="anti")["key"]
    if bare.len():
        raise ValueError(f"{bare.len()} count events have no evidence sessions (first key: {bare[0]}).")
    orphans = evidence.join(events, on="key", how="anti")["key"]
    if orphans.len():
        raise ValueError(f"{orphans.len()} evidence rows have a key that is not in the events (first: {orphans[0]}).")
    sessions = evidence.join(events.filter(pl.col("kind") == "count"), on="key")
    twice = sessions.filter(pl.struct("rule_id", "pupil_id", "date", "session").is_duplicated())
    if twice.height:
        rule, pupil, day, session = twice.select("rule_id", "pupil_id", "date", "session").sort(pl.all()).row(0)
        raise ValueError(f"Two events to record for rule {rule}, pupil {pupil} share the session "
                         f"{day:%Y-%m-%d} {session} (or one event lists it twice).")
    states = events.filter(pl.col("kind") == "state")
    repeated = states.group_by("rule_id", "pupil_id").len().filter(pl.col("len") > 1)
    if repeated.height:
        rule, pupil, _ = repeated.sort(pl.all()).row(0)
        raise ValueError(f"Two state events to record for rule {rule}, pupil {pupil} in the same run.")
    both = states.join(left, on=["rule_id", "pupil_id"], how="semi")
    if both.height:
        raise ValueError(f"Pupil {both['pupil_id'][0]} is reported both in and out of state rule "
                         f"{both['rule_id'][0]} in the same run.")
