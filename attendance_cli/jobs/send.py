"""`--send`: letters and digests handed to the school's mail server, recorded in the ledger
(attendance_cli.mail). `letters --send` sends the e-mailed letters the run wrote, and retries those
an earlier run could not send; `digest --send` sends each group's digest to its staff."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

    from attendance_cli.letters.school import School, Smtp
    from attendance_cli.mail.outbox import Outcome


@dataclass(frozen=True)
class SendOptions:
    school: School  # with its [smtp] settings
    rate: float | None = None  # messages a minute; default the settings' rate
    resend_unknown: bool = False  # send again messages an earlier run left 'sending' (outcome unknown)
    wait: float = 30.0  # for the ledger
    environ: dict[str, str] | None = field(default=None, compare=False)  # default os.environ


def mail_settings(school: School, source: Path | str | None = None) -> tuple[Smtp, str]:
    """The [smtp] settings and the envelope sender, or a UsageError saying what to add."""
    from attendance_cli.errors import UsageError
    from attendance_cli.letters.school import Smtp

    where = f" ({source})" if source else ""
    if school.smtp is None:
        raise UsageError(f"--send needs the school's mail server: the school settings file{where} has no [smtp] table.",
                         fix='Add to it:\n      [smtp]\n      host = "smtp.example.org"\n      security = "starttls"\n'
                             '      user = "attendance@example.org"\n  and set ATTENDANCE_SMTP_PASSWORD in the '
                             'environment.')
    sender = school.smtp.sender or school.email
    if not sender:
        raise UsageError(f"--send needs an address to send from: the school settings file{where} has no email "
                         "(nor from in [smtp]).", fix='Add email = "attendance@..." to the school settings file.')
    assert isinstance(school.smtp, Smtp)
    return school.smtp, sender


def mailer(options: SendOptions):
    """A `Mailer` for the settings, its password read (not yet connected)."""
    from attendance_cli.mail.smtp import Mailer, password_for

    smtp, _ = mail_settings(options.school)
    return Mailer(smtp, password_for(smtp, options.environ), options.rate)


def check_connection(options: SendOptions) -> str:
    """--send --dry-run: connect, EHLO, STARTTLS and log in as a real run would, send nothing,
    record nothing. Returns where it connected (MailServerError if it could not)."""
    with mailer(options) as connection:
        return f"{connection.where} ({connection.settings.security}" + (
            f", logged in as {connection.settings.user})" if connection.settings.user else ")")


def send_letters(ledger_path: Path, options: SendOptions, tick: Callable[[], None] | None = None) -> Outcome:
    """Every e-mailed letter in the ledger still to send: queued by a run with --send, or failed
    before. Each is read from the file its run wrote; nothing is written or recorded but deliveries."""
    from attendance_cli.ledger import Ledger
    from attendance_cli.mail.outbox import Outcome, deliver, letters_outgoing

    _, sender = mail_settings(options.school)
    connection = mailer(options)  # the password is checked before the ledger is touched
    if not ledger_path.exists():
        return Outcome()
    with Ledger(ledger_path, wait=options.wait, create=False) as ledger:
        items = letters_outgoing(ledger, options.resend_unknown)
        earlier = [] if options.resend_unknown else ledger.unknown_letters()
        if not items:
            return Outcome(earlier_unknown=earlier)
        with connection:
            outcome = deliver(ledger, items, connection, sender, options.resend_unknown, tick)
    outcome.earlier_unknown = earlier
    return outcome


@dataclass(frozen=True)
class DigestMail:
    """One group's digest for one member of staff."""

    group: str
    name: str
    email: str
    subject: str
    text: str
    attachment: Path


def digest_mails(groups: list[str], files: dict[str, Path], staff: pl.DataFrame, by: str, week: str
                 ) -> tuple[list[DigestMail], list[str]]:
    """Each group's digest for each of its staff (`mail.staff.read_staff`), and the groups with no
    staff address."""
    import polars as pl

    label = "Form " if by == "form" else ""
    # in the digests' order, then the staff file's
    pairs = pl.DataFrame({"group": groups}, schema={"group": pl.String}).join(
        staff.select("group", "name", "email"), on="group", how="inner", maintain_order="left")
    mails = [DigestMail(group, name, address, f"Attendance this week: {label}{group}",
                        f"Dear {name or 'colleague'},\n\nAttached is the attendance digest for {label}{group}: {week}."
                        "\n\nThe figures are the DfE's: sessions attended of possible sessions.\n", files[group])
             for group, name, address in pairs.iter_rows()]
    covered = set(pairs["group"].to_list())
    return mails, [group for group in groups if group not in covered]


def _digest_message(mail: DigestMail, school: School, sender: str) -> EmailMessage:
    import mimetypes

    from attendance_cli.letters.render import header_text
    from attendance_cli.mail.outbox import Unreadable

    message = EmailMessage()
    message["From"] = Address(display_name=header_text(school.name), addr_spec=school.email or sender)
    message["To"] = Address(display_name=header_text(mail.name), addr_spec=mail.email)
    message["Subject"] = header_text(mail.subject)
    message.set_content(mail.text)
    try:
        data = mail.attachment.read_bytes()
    except OSError as error:
        raise Unreadable(f"the digest file {mail.attachment} cannot be read ({error.strerror})") from None
    kind = mimetypes.guess_type(mail.attachment.name)[0] or "application/octet-stream"
    main, _, sub = kind.partition("/")
    # a digest's HTML and CSV are UTF-8 (▶, names such as Joël): said so, or a mail reader guesses ASCII
    params = {"charset": "utf-8"} if main == "text" else None
    message.add_attachment(data, maintype=main, subtype=sub, filename=mail.attachment.name, params=params)
    return message


def send_digests(ledger_path: Path, options: SendOptions, mails: list[DigestMail], by: str, week_start: dt.date,
                 tick: Callable[[], None] | None = None) -> Outcome:
    """Send each digest to its staff once per week: a digest the ledger has as sent is not sent
    again, one that failed is tried again, one left 'sending' only with resend_unknown."""
    from attendance_cli.ledger import Ledger
    from attendance_cli.mail.outbox import Outcome, Outgoing, deliver

    _, sender = mail_settings(options.school)
    connection = mailer(options)
    outcome = Outcome()
    with Ledger(ledger_path, wait=options.wait) as ledger:
        items = []
        for mail in mails:
            key = f"{by}:{mail.group}:{week_start.isoformat()}"
            delivery_id, status = ledger.queue_digest(key, mail.email)
            label = f"digest {mail.group} ({week_start:%d/%m/%Y}) to {mail.email}"
            if status == "sent":
                outcome.already += 1
            elif status == "sending" and not options.resend_unknown:
                outcome.earlier_unknown.append(label)
            else:
                items.append(Outgoing(delivery_id, mail.email, label,
                                      lambda mail=mail: _digest_message(mail, options.school, sender)))
        if not items:
            return outcome
        with connection:
            done = deliver(ledger, items, connection, sender, options.resend_unknown, tick)
    done.already += outcome.already
    done.earlier_unknown = outcome.earlier_unknown
    return done
