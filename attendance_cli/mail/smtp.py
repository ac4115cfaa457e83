"""The school's mail server: connecting (STARTTLS, TLS or none), logging in, sending at a steady rate.

The password comes from an environment variable or a file of its own (`school.Smtp`) and goes only
to `smtplib.SMTP.login`: it is never printed, logged or recorded, and no error message includes it.
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Self

from attendance_cli.errors import AttendanceError, ConfigError
from attendance_cli.letters.school import Smtp


class MailServerError(AttendanceError):
    """The mail server cannot be reached or refuses the login: nothing was sent."""


class Refused(Exception):
    """The server refused this message (a recipient, the sender, the content): it was not delivered."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotHanded(Exception):
    """The connection ended before the message was handed over (before DATA): it was not delivered, and
    the next run sends it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Lost(Exception):
    """The connection ended while the server had the message: it may or may not have been delivered."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def password_for(settings: Smtp, environ: dict[str, str] | None = None) -> str | None:
    """The login's password, from `password_file` or the environment variable `password_env`; None
    when the server needs no login. Errors name where it was looked for, never what it holds."""
    if not settings.user:
        return None
    if settings.password_file:
        path = Path(settings.password_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"Cannot read the mail server's password file {path} (smtp.password_file): "
                              f"{error.strerror}.", fix="Check the path and that you may read the file.") from error
        password = text.rstrip("\r\n")
    else:
        password = (environ if environ is not None else os.environ).get(settings.password_env, "")
    if not password:
        where = (f"the file {settings.password_file} is empty" if settings.password_file
                 else f"the environment variable {settings.password_env} is not set")
        raise ConfigError(f"The mail server login for {settings.user} needs a password, and {where}.",
                          fix=f"Set {settings.password_env} in the environment of the run (or name a file holding "
                              "only the password with password_file in the [smtp] settings).")
    if settings.security == "none":
        raise ConfigError("The [smtp] settings log in with security = \"none\": the password would cross the network "
                          "unencrypted.", fix='Use security = "starttls" or "tls", or leave out user if the server '
                                              'needs no login.')
    return password


def _reason(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(words.split())}".strip()


class Mailer:
    """An open connection to the mail server, sending at most `rate` messages a minute."""

    def __init__(self, settings: Smtp, password: str | None, rate: float | None = None) -> None:
        self.settings = settings
        self.interval = 60.0 / (rate or settings.rate)
        self._password = password
        self._smtp: smtplib.SMTP | None = None
        self._last: float | None = None

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port_number}"

    def connect(self) -> None:
        """Connect, say EHLO, start TLS and log in as the settings say. MailServerError if any step fails."""
        s = self.settings
        try:
            context = ssl.create_default_context(cafile=s.ca_file or None)
            if s.security == "tls":
                server: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port_number, timeout=s.timeout, context=context)
            else:
                server = smtplib.SMTP(s.host, s.port_number, timeout=s.timeout)
            self._smtp = server
            server.ehlo()
            if s.security == "starttls":
                if not server.has_extn("starttls"):
                    raise MailServerError(f"The mail server {self.where} does not offer STARTTLS; nothing was sent.",
                                          fix='Check host and port (port 465 is security = "tls"), or ask the '
                                              "server's administrator.")
                server.starttls(context=context)
                server.ehlo()
            if s.user:
                server.login(s.user, self._password or "")
        except MailServerError:
            self.close()
            raise
        except smtplib.SMTPAuthenticationError as error:
            self.close()
            raise MailServerError(f"The mail server {self.where} refused the login for {s.user}: "
                                  f"{_reason(error.smtp_code, error.smtp_error)}; nothing was sent.",
                                  fix=f"Check user in the [smtp] settings and the password in {s.password_env}"
                                      f"{' (or ' + s.password_file + ')' if s.password_file else ''}.") from None
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            why = (_reason(error.smtp_code, error.smtp_error) if isinstance(error, smtplib.SMTPResponseException)
                   else str(error) or type(error).__name__)
            raise MailServerError(f"Cannot reach the mail server {self.where} ({s.security}): {why}; nothing was sent.",
                                  fix="Check host, port and security in the [smtp] settings, and that this computer "
                                      "may connect to the server.") from None

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        """Hand one message to the server for one recipient, no sooner than the rate allows.
        Raises Refused (not delivered) or Lost (the outcome is unknown)."""
        assert self._smtp is not None, "connect() first"
        if self._last is not None:
            time.sleep(max(0.0, self._last + self.interval - time.monotonic()))
        self._last = time.monotonic()
        smtp = self._smtp
        handed = []  # the DATA command went: from here a lost connection leaves the outcome unknown
        original = smtp.data

        def data(msg):
            handed.append(True)
            return original(msg)

        smtp.data = data  # sendmail calls self.data
        try:
            smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as error:
            code, text = error.recipients.get(recipient, (0, b"refused"))
            raise Refused(_reason(code, text)) from None
        except smtplib.SMTPServerDisconnected as error:
            self._smtp = None
            reason = f"the server closed the connection ({error or 'no reply'})"
            raise (Lost(reason) if handed else NotHanded(reason + ", before the message was handed over")) from None
        except (TimeoutError, socket.timeout, OSError) as error:
            self._smtp = None
            reason = f"the connection failed ({error or type(error).__name__})"
            raise (Lost(reason) if handed else NotHanded(reason + ", before the message was handed over")) from None
        except smtplib.SMTPResponseException as error:
            raise Refused(_reason(error.smtp_code, error.smtp_error)) from None
        except smtplib.SMTPException as error:
            raise Refused(str(error)) from None
        finally:
            smtp.__dict__.pop("data", None)

    def close(self, polite: bool = True) -> None:
        """QUIT and close; not `polite` (stopped in the middle of a message, by Ctrl-C): close at once,
        without waiting for a server that may be holding the message."""
        if self._smtp is not None:
            try:
                if polite:
                    self._smtp.quit()
                else:
                    self._smtp.close()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close(polite=kind is None or not issubclass(kind, KeyboardInterrupt))
