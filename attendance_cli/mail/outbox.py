"""Messages to send, and the ledger's record of each: claimed ('sending') and committed before it goes
to the server, then 'sent', or 'failed' with the server's reason (tried again by the next run that
sends). A message the server may have had when the connection was lost stays 'sending': its outcome
is unknown, and only `resend_unknown` sends it again. See `attendance_cli.ledger.deliveries`.
"""

from __future__ import annotations

import datetime as dt
import email.policy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from pathlib import Path

from attendance_cli.mail.smtp import Lost, Mailer, NotHanded, Refused

#: Why the messages after a lost connection were not sent (they are tried again by the next run).
NOT_TRIED = "not sent: the connection to the mail server was lost before its turn"


class Unreadable(Exception):
    """A letter's file cannot be sent as it is (missing, or not addressed as the ledger says)."""


@dataclass(frozen=True)
class Outgoing:
    """One message for one recipient. `label` names it on stderr (a file name: never a person's
    name); `build` makes the message when its turn comes (a letter is read from its file then)."""

    delivery_id: int
    recipient: str
    label: str
    build: Callable[[], EmailMessage]
    path: Path | None = None  # the letter's file: once sent, it holds the message as sent (no longer a draft)


@dataclass
class Outcome:
    """What a sending run did: labels of the messages sent, failed (with the reason), left unknown."""

    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # this run handed them over and did not hear back
    earlier_unknown: list[str] = field(default_factory=list)  # left 'sending' by an earlier run: not sent
    already: int = 0  # sent by an earlier run (digests), or by another run meanwhile

    @property
    def ok(self) -> bool:
        """Nothing failed and nothing is unknown, this run's or an earlier run's (a cron job is told of a
        message still waiting to be checked on every run, until it is)."""
        return not self.failed and not self.unknown and not self.earlier_unknown


class SendInterrupted(KeyboardInterrupt):
    """Ctrl-C while sending: `message` says what was sent, what is unknown and what is left."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def deliver(ledger, items: Sequence[Outgoing], mailer: Mailer, sender: str, resend_unknown: bool = False,
            tick: Callable[[], None] | None = None) -> Outcome:
    """Send `items` over `mailer` (connected), recording each in `ledger`, in order. Ctrl-C stops it
    with SendInterrupted, saying truthfully what was sent and what is left."""
    outcome = Outcome()
    in_flight: list[str] = []
    try:
        _deliver(ledger, items, mailer, sender, resend_unknown, tick, outcome, in_flight)
    except KeyboardInterrupt:
        from attendance_cli.formatting import plural

        done = len(outcome.sent) + len(outcome.failed) + len(outcome.unknown) + outcome.already + len(in_flight)
        left = len(items) - done
        parts = [f"sent {plural(len(outcome.sent), 'e-mail')}"]
        if in_flight:
            parts.append(f"{in_flight[0]} was with the mail server: its outcome is unknown (not sent again without "
                         "--resend-unknown)")
        if outcome.failed:
            parts.append(f"{len(outcome.failed)} failed")
        parts.append(f"{plural(left, 'e-mail')} still to send: `attendance send` sends them")
        raise SendInterrupted("Interrupted while sending: " + "; ".join(parts) + ".") from None
    return outcome


def _deliver(ledger, items: Sequence[Outgoing], mailer: Mailer, sender: str, resend_unknown: bool,
             tick: Callable[[], None] | None, outcome: Outcome, in_flight: list[str]) -> None:
    domain = sender.rpartition("@")[2] or None
    lost = False
    for item in items:
        if tick:
            tick()
        if lost:
            ledger.mark_failed(item.delivery_id, NOT_TRIED)
            outcome.failed.append((item.label, NOT_TRIED))
            continue
        try:
            message = item.build()
        except Unreadable as error:
            ledger.mark_failed(item.delivery_id, str(error))
            outcome.failed.append((item.label, str(error)))
            continue
        message_id = ledger.claim(item.delivery_id, make_msgid(domain=domain), resend_unknown)
        if message_id is None:  # another run sent it, or is sending it, meanwhile
            outcome.already += 1
            continue
        # what makes it a sent message: the draft's mark goes, the moment and an id of its own come
        del message["X-Unsent"], message["Date"], message["Message-ID"]
        message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        message["Message-ID"] = message_id
        in_flight.append(item.label)
        try:
            mailer.send(message, sender, item.recipient)
        except Refused as error:
            in_flight.clear()
            ledger.mark_failed(item.delivery_id, error.reason)
            outcome.failed.append((item.label, shown(error.reason, item.recipient)))
        except NotHanded as error:  # not delivered: the next run sends it, as the ones after it
            in_flight.clear()
            ledger.mark_failed(item.delivery_id, error.reason)
            outcome.failed.append((item.label, error.reason))
            lost = True
        except Lost as error:  # left 'sending': the server may have delivered it
            in_flight.clear()
            outcome.unknown.append(f"{item.label} ({error.reason})")
            lost = True
        else:
            ledger.mark_sent(item.delivery_id)
            in_flight.clear()
            outcome.sent.append(item.label)
            if item.path is not None:
                _as_sent(item.path, message)


def _as_sent(path: Path, message: EmailMessage) -> None:
    """The letter's file rewritten as the message went (its Date and Message-ID, no X-Unsent): a mail
    program no longer opens it as a draft ready to send a second time by hand."""
    import os

    temp = path.with_name(f".{path.name}.part")
    try:
        temp.write_bytes(message.as_bytes(policy=email.policy.default))  # as letters are written: LF lines
        os.replace(temp, path)
    except OSError:  # the message went; the file stays the draft it was
        temp.unlink(missing_ok=True)


def shown(reason: str, recipient: str) -> str:
    """The server's reason as stderr shows it: the recipient's address (often quoted back, "550 5.1.1
    <name@example.org>: ...") left out, as stderr ends up in cron logs; the ledger keeps the whole reply."""
    import re

    return re.sub(re.escape(recipient), "(the recipient)", reason, flags=re.IGNORECASE) if recipient else reason


def read_letter(path: Path, recipient: str) -> EmailMessage:
    """A written letter's .eml file as a message to send: exactly what was written, and addressed
    to the recipient the ledger recorded (a file edited to another address is not sent)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise Unreadable(f"the letter's file {path} cannot be read ({error.strerror})") from None
    message = BytesParser(policy=email.policy.SMTP).parsebytes(data)
    to = [address.addr_spec for address in getattr(message["To"], "addresses", ())] if message["To"] else []
    if to != [recipient]:
        raise Unreadable(f"the letter's file {path.name} is not addressed to the recipient the ledger recorded")
    return message


def letters_outgoing(ledger, resend_unknown: bool = False) -> list[Outgoing]:
    """The ledger's e-mailed letters still to send (queued, failed; with `resend_unknown`, those left
    'sending'), each read from the file its run wrote."""
    return [Outgoing(p.delivery_id, p.recipient, p.file,
                     lambda p=p: read_letter(Path(p.folder) / p.file, p.recipient), Path(p.folder) / p.file)
            for p in ledger.letters_to_send(resend_unknown)]
