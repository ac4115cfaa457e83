"""Decisions on absence and leave requests, and the letters that tell families (or students) of them.

A decision is recorded once per request: recording the same decision again (a decisions file
imported twice) changes nothing; a different decision for a request already decided is refused,
naming the first. Decision letters are written as trigger letters are (`letters.deliver`): to a
staging folder, recorded with their run in one transaction, moved into place, the run marked done;
a run stopped while moving is finished by the next run of either kind.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from attendance_cli.errors import UsageError
from attendance_cli.ledger.schema import LedgerFile, filters, tuples

# Requests (version 4).
REQUEST_SCHEMA = (
    """CREATE TABLE decisions (
        request_id       TEXT PRIMARY KEY,
        pupil_id         TEXT NOT NULL,
        type             TEXT NOT NULL,
        date_from        TEXT NOT NULL,
        date_to          TEXT NOT NULL,
        sessions         TEXT NOT NULL,
        decision         TEXT NOT NULL CHECK (decision IN ('grant', 'partial', 'decline')),
        asked_sessions   INTEGER NOT NULL,
        granted_sessions INTEGER NOT NULL,
        granted_from     TEXT,
        granted_to       TEXT,
        code             TEXT NOT NULL,
        declined_code    TEXT NOT NULL,
        reason           TEXT NOT NULL,
        decided_by       TEXT NOT NULL DEFAULT '',
        decided_on       TEXT NOT NULL,
        source           TEXT NOT NULL DEFAULT '',
        days             TEXT NOT NULL,
        recorded_at      TEXT NOT NULL
    )""",
    "CREATE INDEX decisions_by_pupil ON decisions (pupil_id, type)",
    """CREATE TABLE decision_letter_runs (
        letter_run_id INTEGER PRIMARY KEY AUTOINCREMENT,
        folder        TEXT NOT NULL,
        staging       TEXT NOT NULL UNIQUE,
        state         TEXT NOT NULL CHECK (state IN ('moving', 'done')),
        written_at    TEXT NOT NULL,
        letters       INTEGER NOT NULL
    )""",
    """CREATE TABLE decision_letters (
        letter_id     INTEGER PRIMARY KEY AUTOINCREMENT,
        letter_run_id INTEGER NOT NULL REFERENCES decision_letter_runs ON DELETE CASCADE,
        request_id    TEXT NOT NULL REFERENCES decisions,
        pupil_id      TEXT NOT NULL,
        letter        TEXT NOT NULL,
        guardian      INTEGER NOT NULL,
        recipient     TEXT NOT NULL,
        channel       TEXT NOT NULL CHECK (channel IN ('post', 'email')),
        email         TEXT,
        file          TEXT NOT NULL,
        letter_date   TEXT NOT NULL,
        UNIQUE (request_id, guardian)
    )""",
)

#: Columns of `Ledger.decisions()` (and of the frame `record_decisions` takes, less recorded_at).
DECISION_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.String(), "pupil_id": pl.String(), "type": pl.String(), "date_from": pl.Date(),
    "date_to": pl.Date(), "sessions": pl.String(), "decision": pl.String(), "asked_sessions": pl.Int64(),
    "granted_sessions": pl.Int64(), "granted_from": pl.Date(), "granted_to": pl.Date(), "code": pl.String(),
    "declined_code": pl.String(), "reason": pl.String(), "decided_by": pl.String(), "decided_on": pl.Date(),
    "source": pl.String(), "days": pl.String(),
}
#: What makes a request the same request (an id reused in another file for another request is not).
FACTS = ("pupil_id", "type", "date_from", "date_to", "sessions")
#: What makes two records of a decision the same decision (a file imported twice).
SAME = ("decision", "granted_sessions", "granted_from", "granted_to", "code", "declined_code", "reason")
#: Columns of `Ledger.decision_letters()`.
DECISION_LETTER_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.String(), "pupil_id": pl.String(), "letter": pl.String(), "guardian": pl.Int64(),
    "recipient": pl.String(), "channel": pl.String(), "email": pl.String(), "file": pl.String(),
    "letter_date": pl.Date(), "folder": pl.String(),
}


class DecidedAlready(UsageError):
    """A different decision for a request the ledger already holds a decision for."""


@dataclass(frozen=True)
class DecisionsRecorded:
    recorded: int
    unchanged: int  # the same decision was already in the ledger


class RequestLedger(LedgerFile):
    """Decisions on requests and their letters: a part of `Ledger`."""

    def decisions(self, pupil_id: str | None = None) -> pl.DataFrame:
        where, params = filters({"pupil_id": pupil_id})
        return self._frame(f"SELECT {', '.join(DECISION_SCHEMA)} FROM decisions {where} ORDER BY pupil_id, date_from, "
                           "request_id", params, DECISION_SCHEMA)

    def decision_letters(self) -> pl.DataFrame:
        return self._frame(
            "SELECT l.request_id, l.pupil_id, l.letter, l.guardian, l.recipient, l.channel, l.email, l.file, "
            "l.letter_date, r.folder FROM decision_letters l JOIN decision_letter_runs r USING (letter_run_id) "
            "ORDER BY l.pupil_id, l.letter_id", [], DECISION_LETTER_SCHEMA)

    def record_decisions(self, frame: pl.DataFrame) -> DecisionsRecorded:
        """Record decisions (`DECISION_SCHEMA` columns) in one transaction. A decision already recorded
        the same way is left as it is; a different one stops the whole import with DecidedAlready."""
        recorded_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._writing() as db:
            ids = frame["request_id"].to_list()
            earlier = self._frame(f"SELECT {', '.join(DECISION_SCHEMA)} FROM decisions WHERE request_id IN "
                                  "(SELECT value FROM json_each(?))", [json.dumps(ids)], DECISION_SCHEMA)
            if earlier.height:
                both = frame.join(earlier, on="request_id", suffix="_before")
                other = first_unlike(both, FACTS, "_before")
                if other is not None:
                    raise DecidedAlready(
                        f"The id {other['request_id']} was used for another request, decided on "
                        f"{other['decided_on_before']:%d/%m/%Y}: {request_words(other, '_before')}; this one is "
                        f"{request_words(other)}. Nothing was recorded.",
                        fix="Give each request its own id in the requests file.")
                row = first_unlike(both, SAME, "_before")
                if row is not None:
                    raise DecidedAlready(
                        f"Request {row['request_id']} was decided on {row['decided_on_before']:%d/%m/%Y} "
                        f"({_words(row['decision_before'])}, code {row['code_before']}, for the reason "
                        f"{row['reason_before']!r}); a decision, once recorded, is not changed (here: "
                        f"{_words(row['decision'])}, {row['reason']!r}). Nothing was recorded.",
                        fix="Its letter may have gone. If the family asks again, record the new request under its "
                            "own id.")
            new = frame.join(earlier.select("request_id"), on="request_id", how="anti")
            db.executemany(f"INSERT INTO decisions ({', '.join(DECISION_SCHEMA)}, recorded_at) VALUES "
                           f"({', '.join('?' * (len(DECISION_SCHEMA) + 1))})",
                           ((*row, recorded_at) for row in tuples(new.select(list(DECISION_SCHEMA)))))
        return DecisionsRecorded(new.height, earlier.height)

    def record_decision_letters(self, letters: pl.DataFrame, folder: str, staging: str,
                                before_commit: Callable[[set[tuple[str, int]]], None]) -> tuple[int, set[tuple[str, int]]]:
        """The decision letters of a run (request_id, pupil_id, letter, guardian, recipient, channel, email,
        file, letter_date) and the run itself (state 'moving'), in one transaction. A letter another run
        recorded meanwhile is skipped. `before_commit(kept)` runs inside the transaction, with the
        (request_id, guardian) pairs recorded. Returns (letter_run_id, kept)."""
        written_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._writing() as db:
            there = self._frame("SELECT request_id, guardian FROM decision_letters", [],
                                {"request_id": pl.String(), "guardian": pl.Int64()})
            keep = letters.join(there, on=["request_id", "guardian"], how="anti")
            run_id = db.execute("INSERT INTO decision_letter_runs (folder, staging, state, written_at, letters) "
                                "VALUES (?, ?, 'moving', ?, ?)", (folder, staging, written_at, keep.height)).lastrowid
            db.executemany(
                "INSERT INTO decision_letters (letter_run_id, request_id, pupil_id, letter, guardian, recipient, "
                "channel, email, file, letter_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((run_id, *row) for row in tuples(keep.select(
                    "request_id", "pupil_id", "letter", "guardian", "recipient", "channel", "email", "file",
                    "letter_date"))))
            kept = set(zip(keep["request_id"].to_list(), keep["guardian"].to_list()))
            before_commit(kept)
        return run_id, kept

    def unfinished_decision_runs(self) -> list[tuple[int, str, str]]:
        try:
            return self._db.execute("SELECT letter_run_id, folder, staging FROM decision_letter_runs "
                                    "WHERE state = 'moving' ORDER BY letter_run_id").fetchall()
        except sqlite3.Error as error:
            raise self._translate(error, "read") from error

    def decision_run_files(self, letter_run_id: int) -> list[str]:
        try:
            return [row[0] for row in self._db.execute(
                "SELECT file FROM decision_letters WHERE letter_run_id = ? ORDER BY letter_id", (letter_run_id,))]
        except sqlite3.Error as error:
            raise self._translate(error, "read") from error

    def abandon_decision_run(self, letter_run_id: int) -> int:
        """Take a decision letters run whose files are lost out of the ledger (the decisions stay), so the
        next run writes those letters again. Returns the letters it had recorded."""
        with self._writing() as db:
            count = db.execute("SELECT count(*) FROM decision_letters WHERE letter_run_id = ?",
                               (letter_run_id,)).fetchone()[0]
            db.execute("DELETE FROM decision_letters WHERE letter_run_id = ?", (letter_run_id,))
            db.execute("DELETE FROM decision_letter_runs WHERE letter_run_id = ?", (letter_run_id,))
        return count

    def finish_decision_run(self, letter_run_id: int) -> None:
        try:
            self._db.execute("UPDATE decision_letter_runs SET state = 'done' WHERE letter_run_id = ?", (letter_run_id,))
        except sqlite3.Error as error:
            raise self._translate(error, "record in") from error


def first_unlike(both: pl.DataFrame, columns: tuple[str, ...], suffix: str) -> dict | None:
    """The first row of a join whose `columns` differ from their `suffix` copies (None: all alike)."""
    unlike = both.filter(pl.any_horizontal([pl.col(c).ne_missing(pl.col(f"{c}{suffix}")) for c in columns]))
    return unlike.row(0, named=True) if unlike.height else None


def request_words(row: dict, suffix: str = "") -> str:
    """A request as a message names it: "pupil P1, 16/11/2026 to 20/11/2026 (exceptional)"."""
    return (f"pupil {row[f'pupil_id{suffix}']}, {row[f'date_from{suffix}']:%d/%m/%Y} to "
            f"{row[f'date_to{suffix}']:%d/%m/%Y} ({row[f'type{suffix}']})")


def _words(decision: str) -> str:
    return {"grant": "granted", "partial": "partly granted", "decline": "declined"}.get(decision, decision)
