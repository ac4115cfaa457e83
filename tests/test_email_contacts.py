"""E-mailed letters go to exactly the guardian named, whatever the name holds; the school's own
address is one address; a guardian listed several times gets one letter. Driven end to end, the
written .eml files read back as a mail program reads them."""

from __future__ import annotations

import datetime as dt
import email.policy
from email.headerregistry import Address
from email.parser import BytesParser
from pathlib import Path

import pytest

from attendance_cli.letters.contacts import read_contacts
from tests.conftest import PUNCTUALITY_LETTER, SCHOOL, session_rows

START = dt.date(2026, 11, 2)
#: Three late mornings in a fortnight: the punctuality letter.
LATE = ["/", "/", "L", "/", "L", "/", "/", "/", "L", "/"] + ["/"] * 10


@pytest.fixture
def school(tmp_path: Path, arbor) -> tuple[Path, Path]:
    (tmp_path / "school.toml").write_text(SCHOOL, encoding="utf-8")
    (tmp_path / "policy.toml").write_text('name = "t"\ncodes = "dfe"\nschool = "school.toml"\n' + PUNCTUALITY_LETTER,
                                          encoding="utf-8")
    export = arbor("marks.csv", session_rows("S1", START, LATE, minutes={2: 10, 4: 15, 8: 5}))
    return tmp_path, export


def letters(run, tmp_path: Path, export: Path, contacts: Path, *extra):
    return run("letters", export, "--policy", tmp_path / "policy.toml", "--contacts", contacts,
               "--db", tmp_path / "ledger.sqlite", "--out", tmp_path / "out", "-f", "eml", "--date", "16/11/2026",
               *extra)


def nothing_written(tmp_path: Path) -> bool:
    out = tmp_path / "out"
    return not out.exists() or not [p for p in out.iterdir() if not p.name.startswith(".")]


def written(tmp_path: Path, pattern: str = "*.eml") -> list:
    parser = BytesParser(policy=email.policy.default)
    return [parser.parsebytes(p.read_bytes()) for p in sorted((tmp_path / "out").glob(pattern))]


@pytest.mark.parametrize(("cell", "shown"), [
    ('"Khan, Amina"', "Khan, Amina"),
    ('"Evil <evil@evil.org>, Mrs X"', "Evil <evil@evil.org>, Mrs X"),
    ('"Mrs Amina\nKhan"', "Mrs Amina Khan"),
    ('"Mrs Amina\r\nKhan\x07"', "Mrs Amina Khan"),
    ("Zoë Łukasz", "Zoë Łukasz"),
])
def test_a_guardians_name_never_adds_splits_or_breaks_a_recipient(run, school, cell, shown):
    tmp_path, export = school
    contacts = tmp_path / "contacts.csv"
    contacts.write_bytes(f"pupil_id,guardian_name,email\nS1,{cell},amina@example.org\n".encode())
    result = letters(run, tmp_path, export, contacts)
    assert result.exit_code == 0, result.stderr
    [message] = written(tmp_path)
    assert message["To"].addresses == (Address(display_name=shown, addr_spec="amina@example.org"),)
    assert message["From"].addresses == (Address(display_name="Brook Lane Primary Academy",
                                                 addr_spec="attendance@brooklane.example.org"),)
    assert message["Subject"] == "Amy's punctuality"
    assert message.get_body(("plain",)).get_content().startswith("Brook Lane Primary Academy")
    assert "<html" in message.get_body(("html",)).get_content().lower()


def test_a_line_break_in_the_pupils_name_stays_out_of_the_subject(run, school, arbor):
    tmp_path, export = school
    rows = [r.replace("Smith,Amy,", 'Smith,"Amy\x0b\x1bRose",') for r in session_rows("S1", START, LATE,
                                                                                      minutes={2: 10, 4: 15, 8: 5})]
    export = arbor("marks.csv", rows)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("pupil_id,guardian_name,email\nS1,Mrs Smith,sara@example.org\n", encoding="utf-8")
    result = letters(run, tmp_path, export, contacts)
    assert result.exit_code == 0, result.stderr
    [message] = written(tmp_path)
    assert message["Subject"] == "Amy Rose's punctuality"


@pytest.mark.parametrize("address", ["a@b.org, c@d.org", "not an address"])
def test_a_school_email_that_is_not_one_address_is_refused(run, school, address):
    tmp_path, export = school
    settings = tmp_path / "school.toml"
    settings.write_text(SCHOOL.replace('"attendance@brooklane.example.org"', f'"{address}"'), encoding="utf-8")
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("pupil_id,guardian_name,email\nS1,Mrs Smith,sara@example.org\n", encoding="utf-8")
    result = letters(run, tmp_path, export, contacts)
    assert result.exit_code == 1
    assert (f"Error: {settings}: setting 'email': '{address}' is not one e-mail address such as name@example.org. "
            "Fix: Give the one address e-mailed letters come from, with no name and no second address, for example "
            'email = "attendance@brooklane.example.org" (or leave email out if no letter is e-mailed).'
            ) in " ".join(result.stderr.split())
    assert nothing_written(tmp_path)


def test_a_school_without_an_email_can_still_post_letters(run, school):
    tmp_path, export = school
    (tmp_path / "school.toml").write_text(SCHOOL.replace('email = "attendance@brooklane.example.org"\n', ""),
                                          encoding="utf-8")
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("pupil_id,guardian_name\nS1,Mrs Smith\n", encoding="utf-8")
    result = letters(run, tmp_path, export, contacts, "-f", "txt")
    assert result.exit_code == 0, result.stderr
    assert len(list((tmp_path / "out").glob("*_S1_*.txt"))) == 1


def test_a_guardian_listed_three_times_gets_one_letter(run, school):
    tmp_path, export = school
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "Student ID,Contact Name,Parental Responsibility,Email,Address 1,Town,Postcode\n"
        "S1,Mrs Sara Smith,Yes,sara@example.org,1 Mill Road,Newtown,NT1 1AA\n"
        "S1,  mrs sara SMITH ,yes, SARA@Example.org,1 MILL ROAD , Newtown,nt1 1aa\n"
        "S1,Mr Tom Smith,Yes,,9 Elm Grove,Oldtown,OT2 2BB\n"
        "S1,Mrs Sara Smith,Yes,sara@example.org,1 Mill Road,Newtown,NT1 1AA\n",
        encoding="utf-8")
    result = letters(run, tmp_path, export, contacts)
    assert result.exit_code == 0, result.stderr
    files = sorted(p.name for p in (tmp_path / "out").iterdir() if "_S1_" in p.name)
    assert [name.rsplit("_", 1)[1] for name in files] == ["g1.eml", "g2.pdf"]  # Sara once, then Tom
    [message] = written(tmp_path)
    assert message["To"].addresses == (Address(display_name="Mrs Sara Smith", addr_spec="sara@example.org"),)
    assert (f"Warning: {contacts}: 2 duplicate guardian rows (lines 3, 5) left out: one letter per distinct guardian."
            ) in " ".join(result.stderr.split())
    for personal in ("Sara", "sara", "SMITH", "Mill", "NT1"):
        assert personal not in result.stderr


def test_the_warning_goes_to_the_callers_warn_once_and_numbers_guardians_after(write):
    contacts = write("contacts.csv", ["pupil_id,guardian_name,email", "S1,Ann Lee,ann@example.org",
                                      "S1,ANN LEE,ann@EXAMPLE.org", "S2,Ann Lee,ann@example.org",
                                      "S1,Bob Lee,", "S1,Ann Lee,ann@example.org"])
    warnings: list[str] = []
    guardians = read_contacts(contacts, warn=warnings.append)
    assert warnings == [f"Warning: {contacts}: 2 duplicate guardian rows (lines 3, 6) left out: "
                        "one letter per distinct guardian."]
    assert guardians.select("pupil_id", "guardian", "guardian_name").rows() == [
        ("S1", 1, "Ann Lee"), ("S2", 1, "Ann Lee"), ("S1", 2, "Bob Lee")]
    assert read_contacts(contacts).height == 3  # callers that pass only the path still work


def test_a_guardian_at_two_addresses_is_two_guardians(write):
    contacts = write("contacts.csv", ["pupil_id,guardian_name,address", 'S1,Ann Lee,"1 Road, Town"',
                                      'S1,Ann Lee,"2 Lane, Town"'])
    warnings: list[str] = []
    assert read_contacts(contacts, warn=warnings.append)["guardian"].to_list() == [1, 2]
    assert warnings == []


@pytest.mark.parametrize("cell", ["(note)ann@example.org", '"ann""x@example.org"', "zoë@example.org"])
def test_a_guardian_email_a_message_cannot_carry_is_refused_with_its_line(run, school, cell):
    tmp_path, export = school
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(f"pupil_id,guardian_name,email\nS1,Ann Lee,{cell}\n", encoding="utf-8")
    result = letters(run, tmp_path, export, contacts)
    assert result.exit_code == 1
    assert f"{contacts}, line 2: not an e-mail address" in " ".join(result.stderr.split())
    assert nothing_written(tmp_path)
