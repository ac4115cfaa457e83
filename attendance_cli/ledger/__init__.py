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

`Ledger` is put together from five parts, by what they keep: `schema` (the tables and their
versions, opening, checking and upgrading the file, the errors), `events` (runs, events, evidence,
held events and the school's actions: recording and reading them), `letters` (letter runs and
their letters), `requests` (decisions on absence requests and their letters) and `deliveries` (the
messages sent by e-mail, and what became of each).
"""

from attendance_cli.ledger.deliveries import DELIVERY_SCHEMA, DeliveryLedger, Pending
from attendance_cli.ledger.events import (
    ACTION_SCHEMA,
    EVENT_SCHEMA,
    EVIDENCE_SCHEMA,
    HELD_SCHEMA,
    RUN_SCHEMA,
    EventLedger,
    RecordResult,
)
from attendance_cli.ledger.letters import LETTER_SCHEMA, LETTERS_IN, LetterLedger, LetterRun
from attendance_cli.ledger.requests import DECISION_SCHEMA, DecidedAlready, RequestLedger
from attendance_cli.ledger.schema import (
    APPLICATION_ID,
    EARLIER_RUN_WHY,
    SCHEMA,
    SCHEMA_VERSION,
    LedgerBusy,
    LedgerError,
    RecordedLater,
)

__all__ = [
    "ACTION_SCHEMA", "APPLICATION_ID", "DECISION_SCHEMA", "DELIVERY_SCHEMA", "DecidedAlready", "Pending",
    "EARLIER_RUN_WHY", "EVENT_SCHEMA", "EVIDENCE_SCHEMA", "HELD_SCHEMA",
    "LETTERS_IN", "LETTER_SCHEMA", "RUN_SCHEMA", "SCHEMA", "SCHEMA_VERSION", "Ledger", "LedgerBusy", "LedgerError",
    "LetterRun", "RecordResult", "RecordedLater",
]


class Ledger(EventLedger, LetterLedger, RequestLedger, DeliveryLedger):
    """An open trigger ledger. Use as a context manager, or call `close()`."""
