"""The ledger file: its tables and their versions, opening, checking and upgrading it, and its errors.

`LedgerFile` is the part of `Ledger` that owns the SQLite connection. The other parts (events.py,
letters.py) build on it: they use its connection `_db`, read with `_frame` and `_snapshot`, and
turn SQLite failures into the ledger's own errors with `_translate` and `_rollback`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PureWindowsPath
from types import TracebackType
from typing import Any, Self

import polars as pl

from attendance_cli.errors import AttendanceError, ConfigError, UsageError

#: Version of the tables below, kept in the file's `PRAGMA user_version`. Version 2 added letters;
#: version 3 the school's actions on cases, what each event's run decided, and each run's mode;
#: version 4 decisions on absence and leave requests and their letters (ledger/requests.py); version 5
#: the messages sent by e-mail (deliveries).
SCHEMA_VERSION = 5
#: The longest SQLite waits for a busy ledger: `--wait inf` means as long as it takes, but SQLite's
#: timeout is milliseconds in a C int (about 24 days).
MAX_WAIT = 2_000_000.0
#: Kept in `PRAGMA application_id`, so another program's SQLite file is not taken for a ledger.
APPLICATION_ID = 0x41545444  # "ATTD"

#: The tables of version 1 (runs, events, evidence): a version 1 ledger holds exactly these.
SCHEMA = (
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


def _request_schema() -> tuple[str, ...]:
    from attendance_cli.ledger.requests import REQUEST_SCHEMA

    return REQUEST_SCHEMA


# Deliveries (version 5): every message `--send` hands to the mail server, a letter (`letter_id`) or a
# week's digest to one member of staff (`digest`: by:group:week-start). 'queued' is written with the
# letter, in the same transaction, by a run that sends; 'sending' is committed before the message goes
# to the server, so a run killed mid-send leaves it 'sending' (outcome unknown: never sent again
# without --resend-unknown); 'sent' once the server accepted it; 'failed' with the server's reason.
_DELIVERY_SCHEMA = (
    """CREATE TABLE deliveries (
        delivery_id INTEGER PRIMARY KEY AUTOINCREMENT,
        letter_id   INTEGER UNIQUE REFERENCES letters ON DELETE CASCADE,
        digest      TEXT,
        recipient   TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
        attempts    INTEGER NOT NULL DEFAULT 0,
        last_error  TEXT,
        message_id  TEXT,
        queued_at   TEXT NOT NULL,
        tried_at    TEXT,
        sent_at     TEXT,
        CHECK ((letter_id IS NULL) != (digest IS NULL)),
        UNIQUE (digest, recipient)
    )""",
    "CREATE INDEX deliveries_by_status ON deliveries (status)",
)


def upgrade_to_5(db: sqlite3.Connection, version: int) -> None:
    """Inside the upgrade's transaction: the deliveries table, for a ledger of version 1 to 4 (already
    brought to 4). Nothing existing changes: letters written before have no delivery, so no run sends them."""
    if version < 5:
        for statement in _DELIVERY_SCHEMA:
            db.execute(statement)


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


class LedgerFile:
    """An open ledger file, checked, its tables made or upgraded: the part of `Ledger` that opens and closes it."""

    def __init__(self, path: Path, *, wait: float = 30.0, create: bool = True) -> None:
        self.path = Path(path)
        self.wait = max(0.0, float(wait))
        if not create and not self.path.exists():
            raise LedgerError(f"There is no trigger ledger at {self.path}.",
                              fix="Check the path; `attendance triggers --record` creates the ledger on its first run.")
        # a URI with mode=rw stops SQLite creating a file we were told must already exist
        mode = "rwc" if create else "rw"
        try:
            self._db = sqlite3.connect(f"{sqlite_uri(self.path)}?mode={mode}", uri=True,
                                       timeout=min(self.wait, MAX_WAIT), isolation_level=None)
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
            # the version and the tables read in one transaction: another run may be creating this
            # ledger's tables at the same moment, and between two separate reads it could have made
            # them (no tables, then tables: taken for another program's file)
            self._db.execute("BEGIN")
            try:
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            finally:
                self._db.execute("COMMIT")
            if version == 0:
                if tables:
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
                for statement in (*SCHEMA, *_LETTER_SCHEMA, *_CASE_SCHEMA, *_request_schema(), *_DELIVERY_SCHEMA):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _upgrade(self) -> None:
        """Version 1 (events only) to 2 (letters) to 3 (casework) to 4 (requests) to 5 (deliveries): new
        tables and columns, nothing existing changes."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                for statement in (*(_LETTER_SCHEMA if version < 2 else ()), *(_CASE_SCHEMA if version < 3 else ()),
                                  *(_request_schema() if version < 4 else ())):
                    self._db.execute(statement)
                upgrade_to_5(self._db, version)
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

    # -- for the other parts: reading, and letting go after a failed write ----------------

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

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (`BEGIN IMMEDIATE`): committed at the end of the block, rolled back if
        it raises; SQLite's failures turned into the ledger's own errors."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except sqlite3.Error as error:
            raise self._translate(error, "record in") from error

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

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")


def sqlite_uri(path: Path | PureWindowsPath) -> str:
    """The `file:` URI SQLite opens `path` by. A Windows share (`\\\\server\\share\\ledger.sqlite`) is
    written `file:////server/share/ledger.sqlite`: with the server as the URI's host, which is what
    `Path.as_uri()` makes, SQLite refuses it (it takes only an empty host or localhost)."""
    from urllib.parse import quote

    text = str(path)
    if text.startswith(("\\\\", "//")) and not text.startswith(("\\\\?\\", "//?/")):
        return "file:////" + quote(PureWindowsPath(text).as_posix().lstrip("/"), safe="/:")
    if isinstance(path, PureWindowsPath) and not isinstance(path, Path):
        return "file:" + quote("/" + path.as_posix(), safe="/:")
    return Path(path).resolve().as_uri()


def filters(values: dict[str, str | None]) -> tuple[str, list[str]]:
    """A WHERE clause for the filters that were given (column names are ours, values are parameters)."""
    given = {column: value for column, value in values.items() if value is not None}
    if not given:
        return "", []
    return "WHERE " + " AND ".join(f"{column} = ?" for column in given), list(given.values())


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType], name: str) -> pl.DataFrame:
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


def tuples(frame: pl.DataFrame) -> Iterable[tuple[Any, ...]]:
    """The frame's rows for SQLite, dates as ISO text (column by column: much quicker than row by row)."""
    frame = frame.with_columns(pl.col(pl.Date).dt.to_string("%Y-%m-%d"))
    return zip(*(column.to_list() for column in frame.get_columns()))

