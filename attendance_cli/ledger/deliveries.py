"""Deliveries in the ledger: every message `--send` hands to the mail server, and what became of it.

A letter is queued ('queued') in the same transaction that records it, by a run that sends; a
digest is queued when a run first sends it (one row per digest, week and member of staff). Before a
message goes to the server its row is claimed ('sending', attempts + 1) and committed; once the
server accepts it, 'sent'; if the server refuses it, 'failed' with the server's reason, and the next
run that sends tries it again. A row left 'sending' (the process was stopped, or the connection was
lost, while the server had the message) may or may not have been delivered: no run sends it again
unless told to (`--resend-unknown`). So a message is never sent twice by the program's own choice.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

import polars as pl

from attendance_cli.ledger.schema import LedgerFile

#: Columns of `Ledger.deliveries()`, in order.
DELIVERY_SCHEMA: dict[str, pl.DataType] = {
    "delivery_id": pl.Int64(), "letter_id": pl.Int64(), "digest": pl.String(), "recipient": pl.String(),
    "status": pl.String(), "attempts": pl.Int64(), "last_error": pl.String(), "message_id": pl.String(),
    "queued_at": pl.String(), "tried_at": pl.String(), "sent_at": pl.String(),
}


@dataclass(frozen=True)
class Pending:
    """A letter waiting to be sent: its delivery, and where its .eml file is."""

    delivery_id: int
    letter_id: int
    recipient: str
    status: str
    attempts: int
    folder: str
    file: str


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DeliveryLedger(LedgerFile):
    """The deliveries of a ledger: a part of `Ledger`."""

    def queue_letters(self, letter_run_id: int) -> int:
        """Inside `record`'s transaction: queue the e-mailed letters of the run just recorded, so that
        a run stopped before it sends them leaves them for the next run that sends. Returns how many."""
        return self._db.execute(
            """INSERT INTO deliveries (letter_id, recipient, status, queued_at)
               SELECT letter_id, email, 'queued', ? FROM letters
               WHERE letter_run_id = ? AND channel = 'email' AND coalesce(email, '') != '' ORDER BY letter_id""",
            (_now(), letter_run_id)).rowcount

    def letters_to_send(self, resend_unknown: bool = False) -> list[Pending]:
        """Queued and failed letters (and, with `resend_unknown`, those left 'sending'), in the order written."""
        statuses = ("queued", "failed", "sending") if resend_unknown else ("queued", "failed")
        try:
            rows = self._db.execute(
                f"""SELECT d.delivery_id, d.letter_id, d.recipient, d.status, d.attempts, r.folder, l.file
                    FROM deliveries d JOIN letters l ON l.letter_id = d.letter_id
                    JOIN letter_runs r ON r.letter_run_id = l.letter_run_id
                    WHERE d.status IN ({', '.join('?' * len(statuses))}) AND r.state = 'done'
                    ORDER BY d.delivery_id""", statuses).fetchall()
        except sqlite3.Error as error:
            raise self._translate(error, "read") from error
        return [Pending(*row) for row in rows]

    def unknown_letters(self) -> list[str]:
        """The files of letters left 'sending': handed to the server by a run that did not hear back."""
        try:
            return [row[0] for row in self._db.execute(
                """SELECT l.file FROM deliveries d JOIN letters l ON l.letter_id = d.letter_id
                   WHERE d.status = 'sending' ORDER BY d.delivery_id""")]
        except sqlite3.Error as error:
            raise self._translate(error, "read") from error

    def queue_digest(self, digest: str, recipient: str) -> tuple[int, str]:
        """The delivery of a digest (by:group:week-start) to one address, queued if new: (id, status)."""
        try:
            self._db.execute("INSERT OR IGNORE INTO deliveries (digest, recipient, status, queued_at) "
                             "VALUES (?, ?, 'queued', ?)", (digest, recipient, _now()))
            row = self._db.execute("SELECT delivery_id, status FROM deliveries WHERE digest = ? AND recipient = ?",
                                   (digest, recipient)).fetchone()
        except sqlite3.Error as error:
            raise self._translate(error, "record in") from error
        return row[0], row[1]

    def claim(self, delivery_id: int, message_id: str, resend_unknown: bool = False) -> str | None:
        """Mark a delivery 'sending' and commit, before its message goes to the server. Returns the
        message's Message-ID (the one given, or the one a first attempt recorded), or None if the
        delivery is not this run's to send (sent meanwhile, or left 'sending' by another run)."""
        statuses = ("queued", "failed", "sending") if resend_unknown else ("queued", "failed")
        with self._writing() as db:
            changed = db.execute(
                f"""UPDATE deliveries SET status = 'sending', attempts = attempts + 1, tried_at = ?,
                           message_id = coalesce(message_id, ?)
                    WHERE delivery_id = ? AND status IN ({', '.join('?' * len(statuses))})""",
                (_now(), message_id, delivery_id, *statuses)).rowcount
            stored = db.execute("SELECT message_id FROM deliveries WHERE delivery_id = ?", (delivery_id,)).fetchone()
        return stored[0] if changed == 1 else None

    def mark_sent(self, delivery_id: int) -> None:
        self._update("UPDATE deliveries SET status = 'sent', sent_at = ?, last_error = NULL WHERE delivery_id = ?",
                     (_now(), delivery_id))

    def mark_failed(self, delivery_id: int, reason: str) -> None:
        self._update("UPDATE deliveries SET status = 'failed', last_error = ? WHERE delivery_id = ? "
                     "AND status != 'sent'", (reason, delivery_id))

    def _update(self, sql: str, params: tuple) -> None:
        try:
            self._db.execute(sql, params)  # one statement: its own transaction, committed
        except sqlite3.Error as error:
            raise self._translate(error, "record in") from error

    def deliveries(self) -> pl.DataFrame:
        """Every message queued for sending, in the order queued."""
        return self._frame(f"SELECT {', '.join(DELIVERY_SCHEMA)} FROM deliveries ORDER BY delivery_id", (),
                           DELIVERY_SCHEMA)
