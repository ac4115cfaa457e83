"""The trigger ledger: which trigger events a school has already recorded, in one SQLite file.

`attendance triggers --record` runs every week. The ledger makes sure the same sessions never
trigger the same rule twice (count events), and that a state such as persistent absence is
recorded when a pupil enters it and again only after the pupil has left it (state events).

Everything one run records is written in a single `BEGIN IMMEDIATE` transaction, so two runs
started at the same time (two cron jobs, two officers) take turns: the second waits up to
`wait` seconds and then stops with `LedgerBusy`. Inside the transaction the run checks again
what is already in the file, because another run may have recorded between our read and our
write, and quietly skips events that are already there.

The file keeps SQLite's default rollback journal, not WAL: a ledger may live on a network
share, where WAL is not safe.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import polars as pl

from attendance_cli.errors import AttendanceError, ConfigError, UsageError

#: Version of the tables below, kept in the file's `PRAGMA user_version`. Version 2 added letters;
#: version 3 the school's actions on cases, what each event's run decided, and each run's mode.
SCHEMA_VERSION = 3
#: Kept in `PRAGMA application_id`, so another program's SQLite file is not taken for a ledger.
APPLICATION_ID = 0x41545444  # "ATTD"

_SCHEMA = (
    """CREATE TABLE runs (
        run_id      INTEGER PRIMARY KEY AUTOINCREMENT,
        policy      TEXT NOT NULL,
        as_of       TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        recorded    INTEGER NOT NULL,
        skipped     INTEGER NOT NULL,
        closed      INTEGER NOT NULL
    )""",
    # AUTOINCREMENT: an event id may be quoted on a letter, so ids are never reused
    """CREATE TABLE events (
        event_id     INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id       INTEGER NOT NULL REFERENCES runs ON DELETE CASCADE,
        policy       TEXT NOT NULL,
        rule_id      TEXT NOT NULL,
        ladder       TEXT NOT NULL,
        stage        INTEGER NOT NULL,
        kind         TEXT NOT NULL CHECK (kind IN ('count', 'state')),
        pupil_id     TEXT NOT NULL,
        value        TEXT NOT NULL,
        threshold    TEXT NOT NULL,
        measure      TEXT NOT NULL,
        window_start TEXT NOT NULL,
        window_end   TEXT NOT NULL,
        first_met_on TEXT NOT NULL,
        as_of        TEXT NOT NULL,
        recorded_at  TEXT NOT NULL,
        letter       TEXT,
        left_on      TEXT
    )""",
    "CREATE INDEX events_by_rule_pupil ON events (policy, rule_id, pupil_id)",
    "CREATE INDEX events_by_run ON events (run_id)",
    # a pupil is in a state at most once at a time: the same rule as the skip check in record()
    """CREATE UNIQUE INDEX events_open_state ON events (policy, rule_id, pupil_id)
        WHERE kind = 'state' AND left_on IS NULL""",
    # keyed by event, date and session: the sessions of an event, and the overlap check (events
    # of the rule and pupil, then this date and session), both read this one b-tree, so evidence
    # rows need not repeat the rule and pupil; no rowid keeps a large ledger half the size
    """CREATE TABLE evidence (
        event_id INTEGER NOT NULL REFERENCES events ON DELETE CASCADE,
        date     TEXT NOT NULL,
        session  TEXT NOT NULL,
        code     TEXT NOT NULL,
        PRIMARY KEY (event_id, date, session)
    ) WITHOUT ROWID""",
)

# Letters (version 2). A letter run's files are written to a hidden staging folder first; the run is
# recorded as 'moving' in the same transaction as its events and letters, and marked 'done' once
# every file is in place. A run left 'moving' (the process was killed) is finished by the next one.
# `folder` is the absolute path (earlier versions stored it as typed: see unfinished_letter_runs).
_LETTER_SCHEMA = (
    """CREATE TABLE letter_runs (
        letter_run_id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id        INTEGER NOT NULL REFERENCES runs ON DELETE CASCADE,
        folder        TEXT NOT NULL,
        staging       TEXT NOT NULL UNIQUE,
        state         TEXT NOT NULL CHECK (state IN ('moving', 'done')),
        written_at    TEXT NOT NULL,
        letters       INTEGER NOT NULL
    )""",
    """CREATE TABLE letters (
        letter_id     INTEGER PRIMARY KEY AUTOINCREMENT,
        letter_run_id INTEGER NOT NULL REFERENCES letter_runs ON DELETE CASCADE,
        event_id      INTEGER NOT NULL REFERENCES events ON DELETE CASCADE,
        pupil_id      TEXT NOT NULL,
        letter        TEXT NOT NULL,
        guardian      INTEGER NOT NULL,
        recipient     TEXT NOT NULL,
        channel       TEXT NOT NULL CHECK (channel IN ('post', 'email')),
        email         TEXT,
        file          TEXT NOT NULL,
        letter_date   TEXT NOT NULL,
        UNIQUE (event_id, guardian)
    )""",
    "CREATE INDEX letters_by_pupil ON letters (pupil_id)",
)

# Casework (version 3). `decision`: what the run that recorded an event did with it (letter, superseded,
# covered, below-stage, escalation, action, too-old, adopted; NULL for `triggers --record`). `actions`:
# what the school did about a case, recorded once (the same action on the same day is one action).
_CASE_SCHEMA = (
    "ALTER TABLE events ADD COLUMN decision TEXT",
    "ALTER TABLE runs ADD COLUMN mode TEXT NOT NULL DEFAULT 'record'",
    """CREATE TABLE actions (
        action_id   INTEGER PRIMARY KEY AUTOINCREMENT,
        pupil_id    TEXT NOT NULL,
        ladder      TEXT NOT NULL,
        action      TEXT NOT NULL,
        date        TEXT NOT NULL,
        until       TEXT,
        note        TEXT NOT NULL DEFAULT '',
        source      TEXT NOT NULL DEFAULT '',
        recorded_at TEXT NOT NULL,
        UNIQUE (pupil_id, ladder, action, date)
    )""",
    "CREATE INDEX actions_by_pupil ON actions (pupil_id, ladder)",
    # events a run held back for the family's other letter: not recorded as events (they come up again),
    # but remembered, so that the next run does not call them too old for their letter
    """CREATE TABLE held (
        run_id       INTEGER NOT NULL REFERENCES runs ON DELETE CASCADE,
        pupil_id     TEXT NOT NULL,
        rule_id      TEXT NOT NULL,
        first_met_on TEXT NOT NULL,
        PRIMARY KEY (pupil_id, rule_id, first_met_on, run_id)
    ) WITHOUT ROWID""",
)

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

#: Columns of `Ledger.letters()`, in order.
LETTER_SCHEMA: dict[str, pl.DataType] = {
    "letter_id": pl.Int64(), "event_id": pl.Int64(), "policy": pl.String(), "rule_id": pl.String(),
    "ladder": pl.String(), "stage": pl.Int64(), "pupil_id": pl.String(), "letter": pl.String(),
    "guardian": pl.Int64(), "recipient": pl.String(), "channel": pl.String(), "email": pl.String(),
    "file": pl.String(), "letter_date": pl.Date(), "folder": pl.String(),
}
#: Columns record() needs in its `letters` frame: one row per letter, `key` naming its event.
LETTERS_IN: dict[str, pl.DataType] = {
    "key": pl.Int64(), "pupil_id": pl.String(), "letter": pl.String(), "guardian": pl.Int64(),
    "recipient": pl.String(), "channel": pl.String(), "email": pl.String(), "file": pl.String(),
    "letter_date": pl.Date(),
}


@dataclass(frozen=True)
class LetterRun:
    """Where a run's letter files go: written to `staging` (inside `folder`), moved into `folder`.

    `folder` is stored as given, so give it absolute: a run killed while moving its files is finished
    by the next run, which may start in another working directory (another cron job, an officer's shell).
    """

    folder: str
    staging: str

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


class LedgerBusy(AttendanceError):
    """Another run holds the ledger for longer than we were prepared to wait."""


class LedgerError(ConfigError):
    """The ledger file is missing, is not a ledger, is from a newer version, or is damaged."""


class RecordedLater(UsageError):
    """A run as of a date before one the ledger already holds for the policy.

    The later run closed the states its pupils had left and used up the sessions behind its events;
    evaluated as of an earlier date, those states are met again and count as new, so recording them
    would send the same letters again. Only recording is refused: looking back is always allowed."""


#: Why an earlier run is refused, in every message that refuses one.
EARLIER_RUN_WHY = ("The ledger already holds a later run: recording an earlier one would count again what that run "
                   "recorded or closed, and send letters again.")


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


class Ledger:
    """An open trigger ledger. Use as a context manager, or call `close()`."""

    def __init__(self, path: Path, *, wait: float = 30.0, create: bool = True) -> None:
        self.path = Path(path)
        self.wait = max(0.0, float(wait))
        if not create and not self.path.exists():
            raise LedgerError(f"There is no trigger ledger at {self.path}.",
                              fix="Check the path; `attendance triggers --record` creates the ledger on its first run.")
        # a URI with mode=rw stops SQLite creating a file we were told must already exist
        mode = "rwc" if create else "rw"
        try:
            self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode={mode}", uri=True,
                                       timeout=self.wait, isolation_level=None)
        except sqlite3.Error as error:
            raise LedgerError(f"Cannot open the trigger ledger {self.path}: {error}.",
                              fix="Check the folder exists and that you may read and write files in it.") from error
        try:
            self._check_schema(create)
        except BaseException:
            self._db.close()
            raise

    # -- opening -------------------------------------------------------------------------

    def _check_schema(self, create: bool) -> None:
        """Make sure the file is a ledger this version can use; give a new, empty file its tables."""
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA synchronous = FULL")
            # a big run stages a million evidence rows: keep them, and the pages being indexed, in memory
            self._db.execute("PRAGMA temp_store = MEMORY")
            self._db.execute("PRAGMA cache_size = -65536")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                if self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    raise self._not_a_ledger()
                if not create:
                    raise LedgerError(f"The trigger ledger {self.path} is empty.",
                                      fix="`attendance triggers --record` sets it up on its first run.")
                self._create_schema()
                return
            if version > SCHEMA_VERSION:
                raise LedgerError(
                    f"The trigger ledger {self.path} was written by a newer version of attendance "
                    f"(ledger version {version}; this version reads version {SCHEMA_VERSION}).",
                    fix="Upgrade attendance on this computer (pip install --upgrade attendance) before using this ledger.")
            if self._db.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                raise self._not_a_ledger()
            if version < SCHEMA_VERSION:
                self._upgrade()
        except sqlite3.Error as error:
            raise self._translate(error, "open") from error

    def _create_schema(self) -> None:
        # two runs may create the same new ledger at once: the lock serializes them and the
        # second finds the tables already made
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if self._db.execute("PRAGMA user_version").fetchone()[0] == 0:
                for statement in (*_SCHEMA, *_LETTER_SCHEMA, *_CASE_SCHEMA):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _upgrade(self) -> None:
        """Version 1 (events only) to 2 (letters) to 3 (casework): new tables and columns, nothing
        existing changes."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                for statement in (*(_LETTER_SCHEMA if version < 2 else ()), *_CASE_SCHEMA):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _not_a_ledger(self) -> LedgerError:
        return LedgerError(f"{self.path} is not a trigger ledger.",
                           fix="Check the path: the ledger is the SQLite file `attendance triggers --record` writes, "
                               "not an export, a code table or another program's database.")

    def _translate(self, error: sqlite3.Error, doing: str) -> AttendanceError:
        """The user-facing error for a SQLite failure while `doing` something with the ledger."""
        name = getattr(error, "sqlite_errorname", "")
        text = str(error)
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
            return LedgerBusy(f"The trigger ledger {self.path} is busy: another attendance run is recording in it.",
                              fix=f"Try again later, or wait longer than {self.wait:g} seconds with --wait SECONDS.")
        if name == "SQLITE_NOTADB" or "file is not a database" in text:
            return self._not_a_ledger()
        if name.startswith("SQLITE_CORRUPT") or "malformed" in text:
            return LedgerError(f"The trigger ledger {self.path} is damaged ({text}).",
                               fix="Restore the file from a backup.")
        return LedgerError(f"Could not {doing} the trigger ledger {self.path}: {text}.",
                           fix="Check you may write to the file and its folder, and that the disk is not full.")

    # -- closing -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file. Safe to call twice."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------

    def events(self, policy: str | None = None, pupil_id: str | None = None) -> pl.DataFrame:
        """Recorded events, by pupil and then in the order they were recorded."""
        where, params = _filters({"policy": policy, "pupil_id": pupil_id})
        sql = (f"SELECT {', '.join(EVENT_SCHEMA)} FROM events {where} ORDER BY pupil_id, event_id")
        return self._frame(sql, params, EVENT_SCHEMA)

    def evidence(self, policy: str | None = None, pupil_id: str | None = None) -> pl.DataFrame:
        """The sessions behind recorded events, by pupil, event, date and session."""
        where, params = _filters({"policy": policy, "pupil_id": pupil_id})
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
        where, params = _filters({"policy": policy})
        return self._frame(f"SELECT {', '.join(RUN_SCHEMA)} FROM runs {where} ORDER BY run_id", params, RUN_SCHEMA)

    def latest_as_of(self, policy: str | None = None) -> dt.date | None:
        """The as-of date of the latest run recorded (for `policy`, or any: None when nothing is recorded
        yet). A recording run may not go back before the ledger's latest (see `RecordedLater`): events
        are known by their rule, whichever policy file recorded them."""
        try:
            where, params = _filters({"policy": policy})
            day = self._db.execute(f"SELECT max(as_of) FROM runs {where}", params).fetchone()[0]
        except sqlite3.Error as error:
            raise self._translate(error, "read") from error
        return None if day is None else dt.date.fromisoformat(day)

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """Several reads that see the same ledger, even if another run records in between."""
        try:
            self._db.execute("BEGIN")
        except sqlite3.Error as error:
            raise self._translate(error, "read") from error
        try:
            yield
        finally:
            self._rollback()  # nothing was written: this only lets go of the file

    def _frame(self, sql: str, params: Sequence[Any], schema: dict[str, pl.DataType]) -> pl.DataFrame:
        try:
            rows = self._db.execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise self._translate(error, "read") from error
        # dates are ISO text in the file: read them as text, then parse
        dates = [name for name, dtype in schema.items() if dtype == pl.Date]
        raw = {name: (pl.String() if name in dates else dtype) for name, dtype in schema.items()}
        frame = pl.DataFrame(rows, schema=raw, orient="row")
        return frame.with_columns(pl.col(dates).str.to_date("%Y-%m-%d"))

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
        letters = None if letters is None else _conform(letters, LETTERS_IN, "letters")
        if "decision" not in events.columns:  # recorded by `triggers --record`: no casework decision
            events = events.with_columns(pl.lit(None, dtype=pl.String).alias("decision"))
        events = _conform(events, _EVENTS_IN, "events")
        evidence = _conform(evidence, _EVIDENCE_IN, "evidence")
        left = _conform(left, _LEFT_IN, "left")
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
                db.executemany(f"INSERT INTO new_events VALUES ({', '.join('?' * len(_EVENTS_IN))}, 0)", _tuples(events))
                # in key order, so evidence goes into the ledger in the order of its primary key
                db.executemany("INSERT INTO new_evidence VALUES (?, ?, ?, ?)",
                               _tuples(evidence.sort("key", "date", "session")))
                db.executemany("INSERT INTO new_left VALUES (?, ?)", _tuples(left))
                # indexed after loading: quicker than keeping the index up to date row by row
                db.execute("CREATE INDEX temp.new_evidence_by_key ON new_evidence (key)")
                result = self._write(policy, day, recorded_at, mode)
                if held is not None and held.height:
                    db.executemany("INSERT OR IGNORE INTO held VALUES (?, ?, ?, ?)",
                                   ((result.run_id, *row) for row in _tuples(_conform(held, _HELD_IN, "held"))))
                if letters is not None and letter_run is not None:
                    result = self._write_letters(result, letters, letter_run, recorded_at)
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

    def _write_letters(self, result: RecordResult, letters: pl.DataFrame, run: LetterRun, recorded_at: str) -> RecordResult:
        """Inside record's transaction: the letter run, and the letters of the events just recorded."""
        db = self._db
        keep = letters.filter(pl.col("key").is_in(list(result.event_ids)))
        letter_run_id = db.execute(
            "INSERT INTO letter_runs (run_id, folder, staging, state, written_at, letters) VALUES (?, ?, ?, 'moving', ?, ?)",
            (result.run_id, run.folder, run.staging, recorded_at, keep.height)).lastrowid
        rows = keep.with_columns(pl.col("key").replace_strict(result.event_ids, return_dtype=pl.Int64).alias("event_id"))
        db.executemany(
            """INSERT INTO letters (letter_run_id, event_id, pupil_id, letter, guardian, recipient, channel, email, file,
                                    letter_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            ((letter_run_id, *row) for row in _tuples(rows.select(
                "event_id", "pupil_id", "letter", "guardian", "recipient", "channel", "email", "file", "letter_date"))))
        return replace(result, letters=keep.height, letter_run_id=letter_run_id)

    # -- actions on cases ------------------------------------------------------------------------

    def record_actions(self, actions: pl.DataFrame) -> tuple[int, int]:
        """Record what the school did (pupil_id, ladder, action, date, until, note, source), all or
        nothing. The same action on the same case and day is recorded once: (recorded, already there)."""
        columns = [c for c in ACTION_SCHEMA if c not in ("action_id", "recorded_at")]
        frame = _conform(actions, {c: ACTION_SCHEMA[c] for c in columns}, "actions")
        recorded_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                before = db.execute("SELECT count(*) FROM actions").fetchone()[0]
                db.executemany(f"INSERT OR IGNORE INTO actions ({', '.join(columns)}, recorded_at) "
                               f"VALUES ({', '.join('?' * (len(columns) + 1))})",
                               ((*row, recorded_at) for row in _tuples(frame.with_columns(pl.col("note").fill_null(""),
                                                                                           pl.col("source").fill_null("")))))
                added = db.execute("SELECT count(*) FROM actions").fetchone()[0] - before
                db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except sqlite3.Error as error:
            raise self._translate(error, "record in") from error
        return added, frame.height - added

    def actions(self, pupil_id: str | None = None, ladder: str | None = None) -> pl.DataFrame:
        """What the school recorded it did, by pupil, then date."""
        where, params = _filters({"pupil_id": pupil_id, "ladder": ladder})
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

    # -- letter runs ---------------------------------------------------------------------------

    def unfinished_letter_runs(self) -> list[tuple[int, str, str]]:
        """(letter_run_id, folder, staging) of runs recorded but whose files were not all moved into place.

        `folder` is absolute; a ledger written by an earlier version may hold it as it was typed,
        relative to the working directory of that run (which the caller cannot know for sure)."""
        try:
            return self._db.execute("SELECT letter_run_id, folder, staging FROM letter_runs WHERE state = 'moving' "
                                    "ORDER BY letter_run_id").fetchall()
        except sqlite3.Error as error:
            raise self._translate(error, "read") from error

    def letter_run_files(self, letter_run_id: int) -> list[str]:
        """The letter files a run recorded (not its print file or manifest), in the order written."""
        try:
            return [row[0] for row in self._db.execute(
                "SELECT file FROM letters WHERE letter_run_id = ? ORDER BY letter_id", (letter_run_id,))]
        except sqlite3.Error as error:
            raise self._translate(error, "read") from error

    def known_staging(self) -> set[str]:
        try:
            return {row[0] for row in self._db.execute("SELECT staging FROM letter_runs")}
        except sqlite3.Error as error:
            raise self._translate(error, "read") from error

    def finish_letter_run(self, letter_run_id: int) -> None:
        try:
            self._db.execute("UPDATE letter_runs SET state = 'done' WHERE letter_run_id = ?", (letter_run_id,))
        except sqlite3.Error as error:
            raise self._translate(error, "record in") from error

    def letters(self, policy: str | None = None, pupil_id: str | None = None) -> pl.DataFrame:
        """Letters written, by pupil and then in the order they were written."""
        where, params = _filters({"e.policy": policy, "l.pupil_id": pupil_id})
        sql = ("SELECT l.letter_id, l.event_id, e.policy, e.rule_id, e.ladder, e.stage, l.pupil_id, l.letter, l.guardian, "
               "l.recipient, l.channel, l.email, l.file, l.letter_date, r.folder FROM letters l "
               "JOIN events e ON e.event_id = l.event_id JOIN letter_runs r ON r.letter_run_id = l.letter_run_id "
               f"{where} ORDER BY l.pupil_id, l.letter_id")
        return self._frame(sql, params, LETTER_SCHEMA)

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")


def _filters(values: dict[str, str | None]) -> tuple[str, list[str]]:
    """A WHERE clause for the filters that were given (column names are ours, values are parameters)."""
    given = {column: value for column, value in values.items() if value is not None}
    if not given:
        return "", []
    return "WHERE " + " AND ".join(f"{column} = ?" for column in given), list(given.values())


def _conform(frame: pl.DataFrame, schema: dict[str, pl.DataType], name: str) -> pl.DataFrame:
    """`frame` with exactly the columns of `schema`, in order and of those types."""
    if frame.height == 0:
        # an empty frame need not carry the columns: there is nothing in them
        return pl.DataFrame(schema=schema)
    missing = [column for column in schema if column not in frame.columns]
    if missing:
        raise ValueError(f"The {name} frame has no column {', '.join(missing)}.")
    try:
        return frame.select(pl.col(column).cast(dtype) for column, dtype in schema.items())
    except pl.exceptions.PolarsError as error:
        raise ValueError(f"The {name} frame has a column of the wrong type: {error}") from error


def _tuples(frame: pl.DataFrame) -> Iterable[tuple[Any, ...]]:
    """The frame's rows for SQLite, dates as ISO text (column by column: much quicker than row by row)."""
    frame = frame.with_columns(pl.col(pl.Date).dt.to_string("%Y-%m-%d"))
    return zip(*(column.to_list() for column in frame.get_columns()))


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
