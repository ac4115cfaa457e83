"""--send: letters and digests delivered to a real SMTP server started here on localhost (aiosmtpd),
each recorded in the ledger once as sent or failed. Servers that accept everything, that refuse a
recipient (550), that drop the connection in the middle of a message, and one that requires
STARTTLS and a login (its certificate made here)."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.policy
import os
import signal
import socket
import subprocess
import sys
import sqlite3
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.conftest import PUNCTUALITY_LETTER, SCHOOL, session_rows

START = dt.date(2026, 11, 2)
#: Three late mornings in a fortnight: the punctuality letter.
LATE = ["/", "/", "L", "/", "L", "/", "/", "/", "L", "/"] + ["/"] * 10
PASSWORD = "correct-horse-battery-staple-42"
#: pupil -> (forename, guardian, e-mail): the families written to by e-mail; S4's guardian has no address
FAMILIES = {"S1": ("Amy", "Mrs Sara Smith", "sara@example.org"), "S2": ("Ben", "Mr Ali Khan", "ali@example.org"),
            "S3": ("Cara", "Ms Jo Lee", "jo@example.org"), "S4": ("Dan", "Mr Tom Ray", "")}


@dataclass
class Received:
    at: float
    sender: str
    recipients: list[str]
    message: email.message.EmailMessage


@dataclass
class Handler:
    """Collects what it is sent; refuses the `refuse` recipients with 550; closes the connection in the
    middle of the message after `drop_after` messages (once)."""

    refuse: set[str] = field(default_factory=set)
    drop_after: int | None = None
    drop_at_rcpt: set[str] = field(default_factory=set)  # close the connection at these recipients' RCPT TO
    received: list[Received] = field(default_factory=list)
    dropped: list[bytes] = field(default_factory=list)
    hold: float | None = None
    pause: float = 0.0
    held: list[bytes] = field(default_factory=list)
    greetings: int = 0
    sessions: list = field(default_factory=list)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.greetings += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.drop_at_rcpt:  # before DATA: the message was never handed over
            server.transport.close()
            return "421 closing"
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.pause:
            await asyncio.sleep(self.pause)
        if self.hold is not None:  # keep the message, say nothing until the client is gone
            self.held.append(envelope.content)
            await asyncio.sleep(self.hold)
            return "451 too late"
        if self.drop_after is not None and len(self.received) >= self.drop_after:
            self.drop_after = None
            self.dropped.append(envelope.content)
            server.transport.close()  # the message was with the server: the client hears nothing back
            return "421 closing"
        encrypted = server.transport.get_extra_info("ssl_object") is not None  # STARTTLS, or TLS from the start
        self.sessions.append((encrypted, session.authenticated))
        self.received.append(Received(time.monotonic(), envelope.mail_from, list(envelope.rcpt_tos),
                                      BytesParser(policy=email.policy.default).parsebytes(envelope.content)))
        return "250 2.0.0 Ok: queued"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if r.recipients == [address]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server():
    """start(**handler_options, tls=False) -> (handler, port); TLS servers require STARTTLS and a login."""
    started = []

    def start(tls_context=None, smtps_context=None, **options) -> tuple[Handler, int]:
        handler, port = Handler(**options), free_port()
        extra = {"ssl_context": smtps_context} if smtps_context is not None else {}
        if tls_context is not None:
            def authenticator(server, session, envelope, mechanism, data):
                ok = (data.login, data.password) == (b"attendance", PASSWORD.encode())
                return AuthResult(success=ok, handled=False)  # not handled: the server replies 535

            extra = dict(tls_context=tls_context, require_starttls=True, auth_required=True,
                         authenticator=authenticator)
        controller = Controller(handler, hostname="127.0.0.1", port=port, **extra)
        controller.start()
        started.append(controller)
        return handler, port

    yield start
    for controller in started:
        controller.stop()


def smtp_table(port: int, security: str = "none", user: str = "", extra: str = "") -> str:
    return (f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "{security}"\n'
            + (f'user = "{user}"\n' if user else "") + extra)


@pytest.fixture
def school(tmp_path: Path, arbor):
    """A school, its policy, an export where S1-S4 are each late three times, their guardians."""
    rows = []
    for number, (pupil, (forename, _, _)) in enumerate(FAMILIES.items()):
        rows += session_rows(pupil, START, LATE, forename=forename, form="3A" if number < 2 else "3B",
                             minutes={2: 10, 4: 15, 8: 5})
    export = arbor("marks.csv", rows)
    (tmp_path / "policy.toml").write_text('name = "t"\ncodes = "dfe"\nschool = "school.toml"\n' + PUNCTUALITY_LETTER,
                                          encoding="utf-8")
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("pupil_id,guardian_name,email,address\n" + "".join(
        f'{pupil},{name},{mail},"1 Mill Road, Newtown, NT1 1AA"\n' for pupil, (_, name, mail) in FAMILIES.items()),
        encoding="utf-8")
    return tmp_path, export, contacts


def set_smtp(tmp_path: Path, table: str) -> None:
    (tmp_path / "school.toml").write_text(SCHOOL + table, encoding="utf-8")


def letters(run, tmp_path: Path, export: Path, contacts: Path, *extra):
    return run("letters", export, "--policy", tmp_path / "policy.toml", "--contacts", contacts,
               "--db", tmp_path / "ledger.sqlite", "--out", tmp_path / "out", "-f", "eml", "--date", "16/11/2026",
               "--send", *extra)


def send(run, tmp_path: Path, *extra):
    return run("send", "--db", tmp_path / "ledger.sqlite", "--school", tmp_path / "school.toml", *extra)


def deliveries(tmp_path: Path) -> dict[str, tuple]:
    """recipient -> (status, attempts, last_error, message_id)."""
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        return {row[0]: row[1:] for row in db.execute(
            "SELECT recipient, status, attempts, last_error, message_id FROM deliveries ORDER BY delivery_id")}


def counts(tmp_path: Path) -> tuple[int, int]:
    """(events, letters) in the ledger."""
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        return (db.execute("SELECT count(*) FROM events").fetchone()[0],
                db.execute("SELECT count(*) FROM letters").fetchone()[0])


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_every_emailed_letter_is_delivered_once_to_its_guardian_and_a_second_run_sends_nothing(run, school, server):
    tmp_path, export, contacts = school
    handler, port = server()
    set_smtp(tmp_path, smtp_table(port))
    result = letters(run, tmp_path, export, contacts)
    assert result.exit_code == 0, result.stderr
    assert sorted(r.recipients[0] for r in handler.received) == ["ali@example.org", "jo@example.org", "sara@example.org"]
    assert "Sent 3 e-mails." in one_line(result.stderr)
    assert [encrypted for encrypted, _ in handler.sessions] == [False] * 3  # security = "none", as set
    for pupil, (forename, name, address) in list(FAMILIES.items())[:3]:
        [got] = handler.to(address)
        message = got.message
        assert got.sender == "attendance@brooklane.example.org"
        assert str(message["To"]) == f"{name} <{address}>"
        assert message["Subject"] == f"{forename}'s punctuality"
        assert message["X-Unsent"] is None and message["Date"] and message["Message-ID"]
        assert message.get_body(("plain",)).get_content().startswith("Brook Lane Primary Academy")
        # what was sent is the letter that was written: the same body, read back from its file
        written = BytesParser(policy=email.policy.default).parsebytes(
            (tmp_path / "out" / f"2026-11-13_{pupil}_punctuality-1_g1.eml").read_bytes())
        assert (written.get_body(("plain",)).get_content().splitlines()
                == message.get_body(("plain",)).get_content().splitlines())  # sent with SMTP's CRLF line ends
        assert deliveries(tmp_path)[address][:3] == ("sent", 1, None)
        assert deliveries(tmp_path)[address][3] == message["Message-ID"]
    assert (tmp_path / "out" / "2026-11-13_S4_punctuality-1_g1.pdf").is_file()  # no address: printed, as before
    before = counts(tmp_path)
    again = letters(run, tmp_path, export, contacts)
    assert again.exit_code == 0, again.stderr
    assert send(run, tmp_path).exit_code == 0
    assert len(handler.received) == 3 and counts(tmp_path) == before


def test_a_refused_recipient_is_recorded_as_failed_and_the_next_send_delivers_it_once(run, school, server):
    tmp_path, export, contacts = school
    handler, port = server(refuse={"ali@example.org"})
    set_smtp(tmp_path, smtp_table(port))
    result = letters(run, tmp_path, export, contacts)
    assert result.exit_code == 4
    assert sorted(r.recipients[0] for r in handler.received) == ["jo@example.org", "sara@example.org"]
    stderr = one_line(result.stderr)
    assert "Sent 2 e-mails; failed 1 (tried again by the next --send)." in stderr
    assert ("failed: 2026-11-13_S2_punctuality-1_g1.eml: 550 5.1.1 <(the recipient)>: Recipient address rejected: "
            "mailbox unavailable") in stderr
    assert "ali@example.org" not in result.stderr  # a family's address stays out of the cron log
    status, attempts, error, _ = deliveries(tmp_path)["ali@example.org"]
    assert (status, attempts, error) == ("failed", 1, "550 5.1.1 <ali@example.org>: Recipient address rejected: "
                                                      "mailbox unavailable")
    # the manifest of the run's letters is on stdout as before
    assert "2026-11-13_S2_punctuality-1_g1.eml" in result.stdout
    letter = tmp_path / "out" / "2026-11-13_S2_punctuality-1_g1.eml"
    written, recorded = letter.read_bytes(), counts(tmp_path)

    handler.refuse.clear()
    retry = send(run, tmp_path)
    assert retry.exit_code == 0, retry.stderr
    assert "Sent 1 e-mail." in one_line(retry.stderr)
    assert [len(handler.to(a)) for a in ("sara@example.org", "ali@example.org", "jo@example.org")] == [1, 1, 1]
    assert deliveries(tmp_path)["ali@example.org"][:3] == ("sent", 2, None)
    # not written or recorded again: the file holds the same letter, now as it was sent (no longer a draft)
    sent = BytesParser(policy=email.policy.default).parsebytes(letter.read_bytes())
    draft = BytesParser(policy=email.policy.default).parsebytes(written)
    assert draft["X-Unsent"] == "1" and sent["X-Unsent"] is None and sent["Message-ID"]
    assert sent.get_body(("plain",)).get_content() == draft.get_body(("plain",)).get_content()
    assert (sent["To"], sent["Subject"]) == (draft["To"], draft["Subject"]) and counts(tmp_path) == recorded
    assert send(run, tmp_path).exit_code == 0 and len(handler.received) == 3


def test_a_dropped_connection_leaves_the_message_unknown_never_resent_by_itself_and_the_rest_retried(run, school, server):
    tmp_path, export, contacts = school
    handler, port = server(drop_after=1)
    set_smtp(tmp_path, smtp_table(port))
    result = letters(run, tmp_path, export, contacts)
    assert result.exit_code == 4
    assert [r.recipients for r in handler.received] == [["sara@example.org"]] and len(handler.dropped) == 1
    states = {address: row[0] for address, row in deliveries(tmp_path).items()}
    assert states == {"sara@example.org": "sent", "ali@example.org": "sending", "jo@example.org": "failed"}
    stderr = one_line(result.stderr)
    assert "Sent 1 e-mail; failed 1 (tried again by the next --send); unknown 1 (not sent again without " \
           "--resend-unknown)." in stderr
    assert "unknown: 2026-11-13_S2_punctuality-1_g1.eml (the server closed the connection" in stderr
    assert ("failed: 2026-11-13_S3_punctuality-1_g1.eml: not sent: the connection to the mail server was lost "
            "before its turn") in stderr

    retry = send(run, tmp_path)
    assert retry.exit_code == 4, retry.stderr  # one still unknown: a cron job hears of it on every run
    assert [r.recipients for r in handler.received] == [["sara@example.org"], ["jo@example.org"]]
    assert ("Warning: 2026-11-13_S2_punctuality-1_g1.eml was handed to the mail server by an earlier run that did not "
            "hear back: not sent again.") in one_line(retry.stderr)
    assert deliveries(tmp_path)["ali@example.org"][0] == "sending"

    resent = send(run, tmp_path, "--resend-unknown")
    assert resent.exit_code == 0, resent.stderr
    assert [len(handler.to(a)) for a in ("sara@example.org", "ali@example.org", "jo@example.org")] == [1, 1, 1]
    assert deliveries(tmp_path)["ali@example.org"][:2] == ("sent", 2)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_run_killed_while_the_server_has_the_message_leaves_it_unknown_and_it_is_not_sent_again(run, school, server):
    """A real process, killed while the server holds its message: the ledger says 'sending' (it may
    have arrived), and the next run sends the others but not that one."""
    tmp_path, export, contacts = school
    handler, port = server(refuse={"sara@example.org", "ali@example.org", "jo@example.org"})
    set_smtp(tmp_path, smtp_table(port))
    assert letters(run, tmp_path, export, contacts).exit_code == 4  # written and recorded; every one failed
    handler.refuse.clear()
    handler.hold = 60
    process = subprocess.Popen([sys.executable, "-m", "attendance_cli", "send", "--db", str(tmp_path / "ledger.sqlite"),
                                "--school", str(tmp_path / "school.toml")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not handler.held and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert handler.held, process.communicate()
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    states = {address: row[0] for address, row in deliveries(tmp_path).items()}
    assert states == {"sara@example.org": "sending", "ali@example.org": "failed", "jo@example.org": "failed"}
    handler.hold = None
    retry = send(run, tmp_path)
    assert retry.exit_code == 4, retry.stderr  # the one the killed run had in flight is still unknown
    assert [r.recipients for r in handler.received] == [["ali@example.org"], ["jo@example.org"]]
    assert "2026-11-13_S1_punctuality-1_g1.eml was handed to the mail server by an earlier run" in one_line(retry.stderr)


def test_two_runs_sending_at_once_deliver_each_letter_once(run, school, server):
    tmp_path, export, contacts = school
    handler, port = server(refuse={"sara@example.org", "ali@example.org", "jo@example.org"})
    set_smtp(tmp_path, smtp_table(port))
    assert letters(run, tmp_path, export, contacts).exit_code == 4
    handler.refuse.clear()
    handler.pause = 0.3
    command = [sys.executable, "-m", "attendance_cli", "send", "--db", str(tmp_path / "ledger.sqlite"),
               "--school", str(tmp_path / "school.toml")]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=60) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert sorted(r.recipients[0] for r in handler.received) == ["ali@example.org", "jo@example.org", "sara@example.org"]
    assert {row[0] for row in deliveries(tmp_path).values()} == {"sent"}


def test_a_password_file_is_read_and_the_staff_file_is_checked(run, school, tmp_path):
    tmp_path, export, _ = school
    (tmp_path / "password.txt").write_text("from-a-file\n", encoding="utf-8")
    from attendance_cli.letters.school import Smtp
    from attendance_cli.mail.smtp import password_for

    settings = Smtp(host="h", user="u", password_file=str(tmp_path / "password.txt"))
    assert password_for(settings, {}) == "from-a-file"
    set_smtp(tmp_path, smtp_table(free_port()))
    (tmp_path / "staff.csv").write_text("form,name,email\n3A,Ms K. Patel,k.patel@example.org\n3B,Mr D. Okoro,okoro\n",
                                        encoding="utf-8")
    result = digest(run, tmp_path, export)
    assert result.exit_code == 1
    assert (f"{tmp_path / 'staff.csv'}: the staff file has problems; nothing was sent. - {tmp_path / 'staff.csv'}, "
            "line 3: not an e-mail address; column 'email'") in one_line(result.stderr)
    assert not (tmp_path / "digests").exists()


def test_rate_without_send_is_refused(run, school):
    tmp_path, export, contacts = school
    (tmp_path / "school.toml").write_text(SCHOOL, encoding="utf-8")
    result = run("letters", export, "--policy", tmp_path / "policy.toml", "--out", tmp_path / "out", "--rate", "10")
    assert result.exit_code == 2 and "--rate and --resend-unknown go with --send." in one_line(result.stderr)


def test_send_needs_emailed_letters(run, school):
    tmp_path, export, contacts = school
    set_smtp(tmp_path, smtp_table(free_port()))
    result = letters(run, tmp_path, export, contacts, "-f", "pdf")
    assert result.exit_code == 2
    assert "--send sends the e-mailed letters, and this run writes none." in one_line(result.stderr)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture
def tls_server(server, certificate):
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return server(tls_context=context)


def tls_table(port: int, certificate) -> str:
    return smtp_table(port, "starttls", "attendance", f'ca_file = "{certificate[0].as_posix()}"\n')


def test_starttls_and_login_with_the_password_from_the_environment_which_is_shown_nowhere(
        run, school, tls_server, certificate, monkeypatch):
    tmp_path, export, contacts = school
    handler, port = tls_server
    set_smtp(tmp_path, tls_table(port, certificate))
    monkeypatch.setenv("ATTENDANCE_SMTP_PASSWORD", PASSWORD)
    result = letters(run, tmp_path, export, contacts)
    assert result.exit_code == 0, result.stderr
    assert len(handler.received) == 3 and handler.sessions == [(True, True)] * 3  # encrypted and logged in
    assert PASSWORD not in result.stdout + result.stderr
    assert PASSWORD.encode() not in (tmp_path / "ledger.sqlite").read_bytes()
    assert not any(PASSWORD.encode() in p.read_bytes() for p in (tmp_path / "out").iterdir())


def test_a_wrong_password_stops_before_anything_is_sent_and_the_letters_wait_queued(
        run, school, tls_server, certificate, monkeypatch):
    tmp_path, export, contacts = school
    handler, port = tls_server
    set_smtp(tmp_path, tls_table(port, certificate))
    monkeypatch.setenv("ATTENDANCE_SMTP_PASSWORD", "wrong-password-99")
    result = letters(run, tmp_path, export, contacts)
    assert result.exit_code == 1
    assert f"Error: The mail server 127.0.0.1:{port} refused the login for attendance: 535" in one_line(result.stderr)
    assert "wrong-password-99" not in result.stdout + result.stderr and not handler.received
    # the login is tried before anything is written: no letter, nothing recorded (exit 1 says so)
    assert not (tmp_path / "ledger.sqlite").exists() or deliveries(tmp_path) == {}
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    monkeypatch.setenv("ATTENDANCE_SMTP_PASSWORD", PASSWORD)
    assert letters(run, tmp_path, export, contacts).exit_code == 0 and len(handler.received) == 3


def test_no_password_in_the_environment_is_refused_before_anything_is_written(run, school, tls_server, certificate,
                                                                              monkeypatch):
    tmp_path, export, contacts = school
    set_smtp(tmp_path, tls_table(tls_server[1], certificate))
    monkeypatch.delenv("ATTENDANCE_SMTP_PASSWORD", raising=False)
    result = letters(run, tmp_path, export, contacts)
    assert result.exit_code == 1
    assert ("The mail server login for attendance needs a password, and the environment variable "
            "ATTENDANCE_SMTP_PASSWORD is not set.") in one_line(result.stderr)
    assert not (tmp_path / "out").exists() and not (tmp_path / "ledger.sqlite").exists()


def test_a_password_in_the_settings_file_is_refused(run, school):
    tmp_path, export, contacts = school
    set_smtp(tmp_path, smtp_table(25, extra='password = "secret-in-file"\n'))
    result = letters(run, tmp_path, export, contacts)
    assert result.exit_code == 1
    assert "the [smtp] table holds a password" in one_line(result.stderr) and "secret-in-file" not in result.stderr


def test_implicit_tls_delivers(run, school, server, certificate, monkeypatch):
    import ssl

    tmp_path, export, contacts = school
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    handler, port = server(smtps_context=context)
    set_smtp(tmp_path, smtp_table(port, "tls", extra=f'ca_file = "{certificate[0].as_posix()}"\n'))
    result = letters(run, tmp_path, export, contacts)
    assert result.exit_code == 0, result.stderr
    assert len(handler.received) == 3 and all(encrypted for encrypted, _ in handler.sessions)


def test_an_untrusted_certificate_is_refused_and_nothing_is_sent(run, school, tls_server, monkeypatch):
    tmp_path, export, contacts = school
    handler, port = tls_server
    set_smtp(tmp_path, smtp_table(port, "starttls", "attendance"))  # the test's certificate is not trusted
    monkeypatch.setenv("ATTENDANCE_SMTP_PASSWORD", PASSWORD)
    result = run("send", "--db", tmp_path / "ledger.sqlite", "--school", tmp_path / "school.toml", "--dry-run")
    assert result.exit_code == 1
    assert f"Error: Cannot reach the mail server 127.0.0.1:{port} (starttls):" in one_line(result.stderr)
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr and not handler.received


def test_dry_run_connects_and_logs_in_but_sends_and_records_nothing(run, school, tls_server, certificate, monkeypatch):
    tmp_path, export, contacts = school
    handler, port = tls_server
    set_smtp(tmp_path, tls_table(port, certificate))
    monkeypatch.setenv("ATTENDANCE_SMTP_PASSWORD", PASSWORD)
    result = letters(run, tmp_path, export, contacts, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert handler.greetings == 2  # EHLO, then EHLO again over TLS
    assert not handler.received and not (tmp_path / "ledger.sqlite").exists() and not (tmp_path / "out").exists()
    assert (f"Dry run: connected to the mail server 127.0.0.1:{port} (starttls, logged in as attendance); nothing was "
            "sent or recorded.") in one_line(result.stderr)


def test_the_rate_spaces_the_messages_at_the_server(run, school, server):
    tmp_path, export, contacts = school
    handler, port = server()
    set_smtp(tmp_path, smtp_table(port))
    result = letters(run, tmp_path, export, contacts, "--rate", "120")  # one every half second
    assert result.exit_code == 0, result.stderr
    times = [r.at for r in handler.received]
    assert len(times) == 3 and all(later - earlier >= 0.45 for earlier, later in zip(times, times[1:]))


def test_written_emails_are_drafts_with_no_date_or_message_id(run, school):
    tmp_path, export, contacts = school
    (tmp_path / "school.toml").write_text(SCHOOL, encoding="utf-8")
    result = run("letters", export, "--policy", tmp_path / "policy.toml", "--contacts", contacts,
                 "--db", tmp_path / "ledger.sqlite", "--out", tmp_path / "out", "-f", "eml", "--date", "16/11/2026")
    assert result.exit_code == 0, result.stderr
    message = BytesParser(policy=email.policy.default).parsebytes(
        (tmp_path / "out" / "2026-11-13_S1_punctuality-1_g1.eml").read_bytes())
    assert message["X-Unsent"] == "1" and message["Date"] is None and message["Message-ID"] is None
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:  # written without --send: never sent by a later one
        assert db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 0


# -- digests ---------------------------------------------------------------------------------------

def digest(run, tmp_path: Path, export: Path, *extra):
    return run("digest", export, "--by", "form", "--out", tmp_path / "digests", "--as-of", "13/11/2026",
               "--db", tmp_path / "ledger.sqlite", "--school", tmp_path / "school.toml", "--send",
               "--staff", tmp_path / "staff.csv", *extra)


def test_each_forms_digest_goes_to_its_staff_once_a_week(run, school, server):
    tmp_path, export, _ = school
    handler, port = server(refuse={"d.okoro@example.org"})
    set_smtp(tmp_path, smtp_table(port))
    (tmp_path / "staff.csv").write_text("Form,Name,Email\n3A,Ms K. Patel,k.patel@example.org\n"
                                        "3A,Mr D. Okoro,d.okoro@example.org\n", encoding="utf-8")
    result = digest(run, tmp_path, export)
    assert result.exit_code == 4
    stderr = one_line(result.stderr)
    assert f"Warning: no staff address in {tmp_path / 'staff.csv'} for 1 form (3B): its digest was written, not sent." \
        in stderr
    assert "Sent 1 digest; failed 1 (tried again by the next --send)." in stderr
    [got] = handler.received
    assert got.recipients == ["k.patel@example.org"]
    assert got.message["Subject"] == "Attendance this week: Form 3A"
    [attachment] = got.message.iter_attachments()
    assert attachment.get_filename() == "digest-3A.html"
    assert attachment.get_content() == (tmp_path / "digests" / "digest-3A.html").read_text(encoding="utf-8")

    handler.refuse.clear()
    again = digest(run, tmp_path, export)
    assert again.exit_code == 0, again.stderr
    assert "Sent 1 digest; 1 already sent." in one_line(again.stderr)
    assert [r.recipients for r in handler.received] == [["k.patel@example.org"], ["d.okoro@example.org"]]
    assert digest(run, tmp_path, export).exit_code == 0 and len(handler.received) == 2
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        assert db.execute("SELECT digest, recipient, status, attempts FROM deliveries ORDER BY delivery_id").fetchall() == [
            ("form:3A:2026-11-09", "k.patel@example.org", "sent", 1),
            ("form:3A:2026-11-09", "d.okoro@example.org", "sent", 2)]


def test_digest_send_needs_a_staff_file(run, school, server):
    tmp_path, export, _ = school
    set_smtp(tmp_path, smtp_table(free_port()))
    result = run("digest", export, "--by", "form", "--out", tmp_path / "digests", "--school", tmp_path / "school.toml",
                 "--send")
    assert result.exit_code == 2
    assert "--send needs --staff FILE: who gets each digest." in one_line(result.stderr)


def test_ctrl_c_while_sending_says_what_was_sent_and_what_is_left(run, school, server):
    """Ctrl-C (SIGINT) while the server holds the first message: the run says what is true: nothing sent
    yet, that one's outcome unknown, the rest still to send, and exits 130."""
    tmp_path, export, contacts = school
    handler, port = server(refuse={"sara@example.org", "ali@example.org", "jo@example.org"})
    set_smtp(tmp_path, smtp_table(port))
    assert letters(run, tmp_path, export, contacts).exit_code == 4
    handler.refuse.clear()
    handler.hold = 60
    process = subprocess.Popen([sys.executable, "-m", "attendance_cli", "send", "--db", str(tmp_path / "ledger.sqlite"),
                                "--school", str(tmp_path / "school.toml")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not handler.held and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert handler.held
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert one_line(stderr) == ("Interrupted while sending: sent 0 e-mails; 2026-11-13_S1_punctuality-1_g1.eml was with "
                                "the mail server: its outcome is unknown (not sent again without --resend-unknown); "
                                "2 e-mails still to send: `attendance send` sends them.")
    assert {address: row[0] for address, row in deliveries(tmp_path).items()} == {
        "sara@example.org": "sending", "ali@example.org": "failed", "jo@example.org": "failed"}


def test_a_connection_lost_before_the_message_was_handed_over_is_a_failure_sent_next_time(run, school, server):
    """The server drops the connection at RCPT TO: the message never went, so it is failed (tried again), not
    unknown."""
    tmp_path, export, contacts = school
    handler, port = server(drop_at_rcpt={"ali@example.org"})
    set_smtp(tmp_path, smtp_table(port))
    result = letters(run, tmp_path, export, contacts)
    assert result.exit_code == 4
    states = {address: row[0] for address, row in deliveries(tmp_path).items()}
    assert states["ali@example.org"] == "failed" and "unknown" not in result.stderr
    handler.drop_at_rcpt.clear()
    retry = send(run, tmp_path)
    assert retry.exit_code == 0, retry.stderr
    assert {row[0] for row in deliveries(tmp_path).values()} == {"sent"}


def test_a_sent_letters_file_is_no_longer_a_draft_and_a_misspelt_password_key_is_never_shown(run, school, server,
                                                                                           tmp_path_factory):
    tmp_path, export, contacts = school
    handler, port = server()
    set_smtp(tmp_path, smtp_table(port))
    assert letters(run, tmp_path, export, contacts).exit_code == 0
    emails = sorted((tmp_path / "out").glob("*.eml"))
    assert emails
    for path in emails:
        text = path.read_text(encoding="utf-8")
        assert "X-Unsent" not in text and "Message-ID:" in text and "Date:" in text
    other = tmp_path_factory.mktemp("misspelt")
    settings = other / "school.toml"
    settings.write_text((tmp_path / "school.toml").read_text(encoding="utf-8").replace(
        "[smtp]", '[smtp]\npasswd = "S3cr3t-PW-xyz"'), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "attendance_cli", "--debug", "send", "--db",
                           str(tmp_path / "ledger.sqlite"), "--school", str(settings), "--dry-run"],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "Traceback" in done.stderr  # --debug shows it, without the value
    assert "S3cr3t-PW-xyz" not in done.stdout + done.stderr
