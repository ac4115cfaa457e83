"""Letter runs in the ledger: where a run's letters go, the letters recorded, and finishing a run.

A letter run's files are written to a hidden staging folder first; the run is recorded as 'moving'
in the same transaction as its events and letters (`write_letters`, called by `Ledger.record`),
and marked 'done' once every file is in place. A run left 'moving' is finished by the next one.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import polars as pl

from attendance_cli.ledger.schema import LedgerFile, filters, tuples

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


class LetterLedger(LedgerFile):
    """The letter runs and letters of a ledger: a part of `Ledger`."""

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
            # decision letters (ledger/requests.py) go through staging folders too, maybe in the same folder
            return {row[0] for row in self._db.execute(
                "SELECT staging FROM letter_runs UNION SELECT staging FROM decision_letter_runs")}
        except sqlite3.Error as error:
            raise self._translate(error, "read") from error

    def abandon_letter_run(self, letter_run_id: int) -> int:
        """Take a recorded letters run out of the ledger (its run, events, evidence and letters, in one
        transaction), so that the next run finds its events new and writes their letters again. Only for
        a run whose files are lost (`--abandon-unfinished`). Returns the letters it had recorded."""
        with self._writing() as db:
            row = db.execute("SELECT run_id, letters FROM letter_runs WHERE letter_run_id = ?",
                             (letter_run_id,)).fetchone()
            if row is None:
                return 0
            db.execute("DELETE FROM runs WHERE run_id = ?", (row[0],))  # events, evidence, letters go with it
            db.execute("DELETE FROM letter_runs WHERE letter_run_id = ?", (letter_run_id,))
        return row[1]

    def finish_letter_run(self, letter_run_id: int) -> None:
        try:
            self._db.execute("UPDATE letter_runs SET state = 'done' WHERE letter_run_id = ?", (letter_run_id,))
        except sqlite3.Error as error:
            raise self._translate(error, "record in") from error

    def letters(self, policy: str | None = None, pupil_id: str | None = None) -> pl.DataFrame:
        """Letters written, by pupil and then in the order they were written."""
        where, params = filters({"e.policy": policy, "l.pupil_id": pupil_id})
        sql = ("SELECT l.letter_id, l.event_id, e.policy, e.rule_id, e.ladder, e.stage, l.pupil_id, l.letter, l.guardian, "
               "l.recipient, l.channel, l.email, l.file, l.letter_date, r.folder FROM letters l "
               "JOIN events e ON e.event_id = l.event_id JOIN letter_runs r ON r.letter_run_id = l.letter_run_id "
               f"{where} ORDER BY l.pupil_id, l.letter_id")
        return self._frame(sql, params, LETTER_SCHEMA)


def write_letters(db: sqlite3.Connection, run_id: int | None, event_ids: dict[int, int], letters: pl.DataFrame,
                  run: LetterRun, recorded_at: str) -> tuple[int, int | None]:
    """Inside record's transaction: the letter run, and the letters of the events just recorded (`event_ids`:
    input key -> event_id). Returns (letters recorded, letter_run_id)."""
    keep = letters.filter(pl.col("key").is_in(list(event_ids)))
    letter_run_id = db.execute(
        "INSERT INTO letter_runs (run_id, folder, staging, state, written_at, letters) VALUES (?, ?, ?, 'moving', ?, ?)",
        (run_id, run.folder, run.staging, recorded_at, keep.height)).lastrowid
    rows = keep.with_columns(pl.col("key").replace_strict(event_ids, return_dtype=pl.Int64).alias("event_id"))
    db.executemany(
        """INSERT INTO letters (letter_run_id, event_id, pupil_id, letter, guardian, recipient, channel, email, file,
                                    letter_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        ((letter_run_id, *row) for row in tuples(rows.select(
            "event_id", "pupil_id", "letter", "guardian", "recipient", "channel", "email", "file", "letter_date"))))
    return keep.height, letter_run_id
