"""`attendance letters` as an officer uses it: the right letter once, every value literal in every
format, suppression, guardians, and what a kill part-way leaves behind. Real parts throughout: a
real SQLite ledger, real PDFs compiled by Typst and read back with pypdf, real e-mail files."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import ARBOR_HEADER, PUNCTUALITY_LETTER, SCHOOL, csv_frame, weekdays

NASTY = "<script>alert(1)</script> {{ x }} #set *bold* =cmd|' /C calc'!A0"
POLICY = """name = "test-letters"
codes = "dfe"
""" + PUNCTUALITY_LETTER


def register(path: Path, pupils: dict[str, tuple[str, str, dict[int, tuple[str, int]]]], days: int = 10,
             start: dt.date = dt.date(2026, 11, 2)) -> Path:
    """Arbor long export: every pupil present every session except the morning marks given
    (day index -> (code, minutes late))."""
    rows = [ARBOR_HEADER]
    for pupil_id, (surname, forename, mornings) in pupils.items():
        for index, day in enumerate(weekdays(start, days)):
            code, minutes = mornings.get(index, ("/", 0))
            name = [f'"{n}"' if "," in n or '"' in n else n for n in (surname, forename)]
            rows.append(f"{pupil_id},{name[0]},{name[1]},Year 4,4R,{day:%d/%m/%Y},AM,{code},{minutes or ''}")
            rows.append(f"{pupil_id},{name[0]},{name[1]},Year 4,4R,{day:%d/%m/%Y},PM,\\,")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


LATE3 = {1: ("L", 10), 2: ("L", 15), 7: ("U", 40)}


@pytest.fixture
def setup(tmp_path):
    (tmp_path / "school.toml").write_text(SCHOOL, encoding="utf-8")
    (tmp_path / "policy.toml").write_text('school = "school.toml"\n' + POLICY, encoding="utf-8")
    export = register(tmp_path / "marks.csv", {"S1": ("Smith", "Amy", LATE3), "S2": ("O’Brien", NASTY, LATE3),
                                               "S3": ("Khan", "Omar", {})})
    return tmp_path, export


def letters(run, tmp_path, export, *extra):
    return run("letters", export, "--policy", tmp_path / "policy.toml", "--db", tmp_path / "ledger.sqlite",
               "--date", "16/11/2026", *extra)


def ledger_rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchall()


GOLDEN_AMY = """Brook Lane Primary Academy
Brook Lane
Newtown
NT1 2AB
Telephone 01632 960123

The Parent or Carer of Amy Smith

16 November 2026

Amy's punctuality

Dear Parent or Carer,

Amy has arrived late 3 times since 2 November 2026, missing 65 minutes
of lessons. The register closes at the start of the day, and the first
minutes are when the day's learning is set up.

  Date                        Morning          Afternoon
  Tuesday 3 November 2026     L (10 min late)
  Wednesday 4 November 2026   L (15 min late)
  Wednesday 11 November 2026  U (40 min late)

L: Late, arrived before the register closed; U: Arrived after the
register closed.

We know mornings can be hard. If something is making it difficult to
arrive on time, please tell us: we would like to help.

This school year Amy's attendance is 95.00% (½ day missed). If the late
arrivals continue we will invite you to a meeting.

Yours sincerely,

Ms J. Rivers
Attendance Lead, Brook Lane Primary Academy
"""


def test_text_letter_golden_and_figures_match_summary(run, setup):
    tmp_path, export = setup
    out = tmp_path / "out"
    result = letters(run, tmp_path, export, "--out", out, "-f", "txt")
    assert result.exit_code == 0, result.stderr
    assert "Wrote 2 letters for 2 pupils" in result.stderr
    amy = (out / "2026-11-13_S1_punctuality-1.txt").read_text(encoding="utf-8")
    assert amy == GOLDEN_AMY
    # the same percentage and days missed as `attendance summary` over the school year to date
    summary = csv_frame(run("summary", export, "--window", "ytd", "-f", "csv", "-q").stdout)
    row = summary.filter(summary["pupil_id"] == "S1").row(0, named=True)
    assert row["attendance_pct"].startswith("95.0") and row["days_missed"] in ("0.5", "0.50")


def test_a_name_full_of_markup_comes_out_literally_in_every_format(run, setup):
    tmp_path, export = setup
    for fmt in ("txt", "html", "pdf"):
        out = tmp_path / f"out-{fmt}"
        db = tmp_path / f"{fmt}.sqlite"
        result = run("letters", export, "--policy", tmp_path / "policy.toml", "--db", db, "--date", "16/11/2026",
                     "--out", out, "-f", fmt, "--only", "S2")
        assert result.exit_code == 0, result.stderr
        path = out / f"2026-11-13_S2_punctuality-1.{fmt}"
        if fmt == "txt":
            assert NASTY in path.read_text(encoding="utf-8")
        elif fmt == "html":
            page = path.read_text(encoding="utf-8")
            assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; {{ x }} #set *bold* =cmd|&#x27;" in page
        else:
            text = " ".join(PdfReader(path).pages[0].extract_text().split())
            assert "alert(1)</script> {{ x }} #set *bold* =cmd|' /C calc'!A0" in text
            assert "O’Brien" in text
        manifest = (out / "manifest-2026-11-13.csv").read_text(encoding="utf-8")
        assert "'<script>" not in manifest and ",O’Brien," in manifest
    # the manifest is spreadsheet-safe: a recipient built from a name starting '=' is neutralised
    assert "The Parent or Carer of <script>" in manifest


def test_a_name_full_of_markup_comes_out_literally_in_an_email(run, setup):
    tmp_path, export = setup
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(f'pupil_id,guardian_name,salutation,email\nS2,"{NASTY}","{NASTY}",parent@example.org\n',
                        encoding="utf-8")
    result = letters(run, tmp_path, export, "--out", tmp_path / "out", "-f", "eml", "--only", "S2", "--contacts", contacts)
    assert result.exit_code == 0, result.stderr
    message = email.message_from_bytes((tmp_path / "out" / "2026-11-13_S2_punctuality-1_g1.eml").read_bytes(),
                                       policy=email.policy.default)
    assert f"Dear {NASTY}," in message.get_body(("plain",)).get_content()
    page = message.get_body(("html",)).get_content()
    assert "<script>" not in page and "Dear &lt;script&gt;alert(1)&lt;/script&gt; {{ x }} #set *bold*" in page
    assert message["Subject"] == f"{NASTY}'s punctuality"


def test_formula_in_a_guardian_name_is_neutralised_in_the_manifest(run, setup):
    tmp_path, export = setup
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("pupil_id,guardian_name,parental_responsibility,address\nS1,=HYPERLINK(\"x\"),yes,\"1 Road, Town\"\n",
                        encoding="utf-8")
    result = letters(run, tmp_path, export, "--out", tmp_path / "out", "-f", "txt", "--contacts", contacts, "--only", "S1")
    assert result.exit_code == 0, result.stderr
    manifest = csv_frame((tmp_path / "out" / "manifest-2026-11-13.csv").read_text(encoding="utf-8"))
    assert manifest["recipient"].to_list() == ["'=HYPERLINK(\"x\")"]
    assert manifest["address"].to_list() == ["1 Road, Town"]


def test_written_once_and_recorded_with_the_events(run, setup):
    tmp_path, export = setup
    out, db = tmp_path / "out", tmp_path / "ledger.sqlite"
    first = letters(run, tmp_path, export, "--out", out)
    assert first.exit_code == 0, first.stderr
    files = sorted(p.name for p in out.iterdir() if p.name != ".attendance-letters.lock")
    assert files == ["2026-11-13_S1_punctuality-1.pdf", "2026-11-13_S2_punctuality-1.pdf", "manifest-2026-11-13.csv",
                     "print-2026-11-13.pdf"]
    assert len(PdfReader(out / "print-2026-11-13.pdf").pages) == 4  # one page per letter and a blank back, pupil order
    assert "Amy Smith" in PdfReader(out / "print-2026-11-13.pdf").pages[0].extract_text()
    assert ledger_rows(db, "select pupil_id, letter, guardian, channel, file from letters order by pupil_id") == [
        ("S1", "punctuality-1", 0, "post", "2026-11-13_S1_punctuality-1.pdf"),
        ("S2", "punctuality-1", 0, "post", "2026-11-13_S2_punctuality-1.pdf")]
    assert ledger_rows(db, "select count(*) from events") == [(2,)]
    history = csv_frame(run("history", "S1", "--db", db, "-f", "csv").stdout)
    assert history.filter(history["entry"] == "letter").select("date", "value", "detail").rows() == [
        ("2026-11-16", "punctuality-1", "to The Parent or Carer of Amy Smith by post: 2026-11-13_S1_punctuality-1.pdf")]
    again = letters(run, tmp_path, export, "--out", out)
    assert again.exit_code == 0 and "No new letters." in again.stderr
    assert sorted(p.name for p in out.iterdir() if p.name != ".attendance-letters.lock") == files
    assert ledger_rows(db, "select count(*) from letters") == [(2,)]
    # triggers agrees: nothing new
    assert "0 new events" in run("triggers", export, "--policy", tmp_path / "policy.toml", "--db", db, "--new").stderr


def test_a_week_later_only_the_new_letters(run, setup, tmp_path):
    tmp_path, _ = setup
    first_week = register(tmp_path / "week1.csv", {"S1": ("Smith", "Amy", LATE3)}, days=5)
    out, db = tmp_path / "out", tmp_path / "ledger.sqlite"
    assert letters(run, tmp_path, first_week, "--out", out, "-f", "txt").stderr.count("No new letters.") == 1
    both = register(tmp_path / "weeks.csv", {"S1": ("Smith", "Amy", LATE3), "S3": ("Khan", "Omar", LATE3)})
    result = letters(run, tmp_path, both, "--out", out, "-f", "txt")
    assert "Wrote 2 letters for 2 pupils" in result.stderr
    assert sorted(p.name for p in out.glob("*.txt")) == ["2026-11-13_S1_punctuality-1.txt", "2026-11-13_S3_punctuality-1.txt"]
    assert ledger_rows(db, "select count(*) from letters") == [(2,)]


def test_dry_run_lists_and_writes_nothing(run, setup):
    tmp_path, export = setup
    result = letters(run, tmp_path, export, "--out", tmp_path / "out", "--dry-run")
    assert result.exit_code == 0
    listed = csv_frame(result.stdout)
    assert listed["pupil_id"].to_list() == ["S1", "S2"] and listed["file"][0] == "2026-11-13_S1_punctuality-1.pdf"
    assert "Dry run: 2 letters for 2 pupils would be written (2 for print). Nothing was written or recorded." in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "ledger.sqlite").exists()


def test_excluded_pupils_are_neither_written_nor_recorded(run, setup):
    tmp_path, export = setup
    out, db = tmp_path / "out", tmp_path / "ledger.sqlite"
    result = letters(run, tmp_path, export, "--out", out, "-f", "txt", "--exclude", "S2")
    assert result.exit_code == 0
    assert [p.name for p in out.glob("*.txt")] == ["2026-11-13_S1_punctuality-1.txt"]
    assert ledger_rows(db, "select pupil_id from events") == [("S1",)]
    # S2's event is still new, so next week's run (after review) can write it
    new = csv_frame(run("triggers", export, "--policy", tmp_path / "policy.toml", "--db", db, "--new", "-f", "csv").stdout)
    assert new["pupil_id"].to_list() == ["S2"]
    only = letters(run, tmp_path, export, "--out", out, "-f", "txt", "--only", "S3")
    assert "Warning: --only S3: no new letter for this pupil." in only.stderr and "No new letters." in only.stderr


def test_one_letter_per_guardian_with_parental_responsibility(run, setup):
    tmp_path, export = setup
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "Student ID,Contact Name,Relationship,Parental Responsibility,Salutation,Email,Address 1,Town,Postcode\n"
        "S1,Mrs Sara Smith,Mother,Yes,Mrs Smith,sara@example.org,1 Mill Road,Newtown,NT1 1AA\n"
        "S1,Mr Tom Smith,Father,Yes,Mr Smith,,9 Elm Grove,Oldtown,OT2 2BB\n"
        "S1,Mrs Jo Bloggs,Grandmother,No,Mrs Bloggs,jo@example.org,1 Mill Road,Newtown,NT1 1AA\n",
        encoding="utf-8")
    out = tmp_path / "out"
    result = letters(run, tmp_path, export, "--out", out, "-f", "eml", "--contacts", contacts, "--only", "S1")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir() if p.name != ".attendance-letters.lock") == [
        "2026-11-13_S1_punctuality-1_g1.eml", "2026-11-13_S1_punctuality-1_g2.pdf", "manifest-2026-11-13.csv",
        "print-2026-11-13.pdf"]
    message = email.message_from_bytes((out / "2026-11-13_S1_punctuality-1_g1.eml").read_bytes(), policy=email.policy.default)
    assert message["To"] == "Mrs Sara Smith <sara@example.org>"
    assert message["From"] == "Brook Lane Primary Academy <attendance@brooklane.example.org>"
    assert message["Subject"] == "Amy's punctuality"
    body = message.get_body(("plain",)).get_content()
    assert body.startswith("Brook Lane Primary Academy") and "Dear Mrs Smith," in body and "1 Mill Road" not in body
    assert "<strong>95.00%</strong>" in message.get_body(("html",)).get_content()
    posted = PdfReader(out / "2026-11-13_S1_punctuality-1_g2.pdf").pages[0].extract_text()
    assert "Mr Tom Smith" in posted and "9 Elm Grove" in posted and "Dear Mr Smith," in posted
    manifest = csv_frame((out / "manifest-2026-11-13.csv").read_text(encoding="utf-8"))
    assert manifest.select("recipient", "relationship", "channel", "email", "address").rows() == [
        ("Mrs Sara Smith", "Mother", "email", "sara@example.org", "1 Mill Road, Newtown, NT1 1AA"),
        ("Mr Tom Smith", "Father", "post", "", "9 Elm Grove, Oldtown, OT2 2BB")]


def test_a_pupil_without_contacts_gets_a_letter_for_print_and_a_warning(run, setup):
    tmp_path, export = setup
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("pupil_id,guardian_name\nS1,Mrs Sara Smith\n", encoding="utf-8")
    result = letters(run, tmp_path, export, "--out", tmp_path / "out", "-f", "txt", "--contacts", contacts)
    assert "Warning: 1 pupil with no guardian on file" in result.stderr
    text = (tmp_path / "out" / "2026-11-13_S2_punctuality-1.txt").read_text(encoding="utf-8")
    assert "Dear Parent or Carer," in text


def test_a_broken_template_fails_before_anything_is_written(run, setup):
    tmp_path, export = setup
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "punctuality-1.j2").write_text("{% block subject %}Hi{% endblock %}\n{% block body %}\n{% if %}\n{% endblock %}\n")
    result = letters(run, tmp_path, export, "--out", tmp_path / "out", "--templates", mine)
    assert result.exit_code == 1
    assert f"Letter template {mine / 'punctuality-1.j2'}, line 3: Expected an expression" in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "ledger.sqlite").exists()
    (mine / "punctuality-1.j2").write_text("{% block subject %}Hi{% endblock %}\n{% block body %}\nDear\n\n{{ pupil.nickname }}\n{% endblock %}\n")
    result = letters(run, tmp_path, export, "--out", tmp_path / "out", "--templates", mine)
    assert result.exit_code == 1
    assert f"Letter template {mine / 'punctuality-1.j2'}, line 5: 'dict object' has no attribute 'nickname'" in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "ledger.sqlite").exists()


def test_the_sandbox_refuses_unsafe_templates(run, setup):
    tmp_path, export = setup
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "punctuality-1.j2").write_text("{% block subject %}Hi{% endblock %}\n{% block body %}\n"
                                           "{{ pupil.__class__.__mro__ }}\n{% endblock %}\n")
    result = letters(run, tmp_path, export, "--out", tmp_path / "out", "--templates", mine)
    assert result.exit_code == 1
    assert "access to attribute '__class__' of 'dict' object is unsafe" in result.stderr
    assert not (tmp_path / "ledger.sqlite").exists() and not (tmp_path / "out").exists()


def _kill_run(tmp_path: Path, export: Path, step: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ATTENDANCE_TEST_KILL_AT": step, "ATTENDANCE_NO_PROGRESS": "1"}
    return subprocess.run([sys.executable, "-m", "attendance_cli", "letters", str(export), "--policy",
                           str(tmp_path / "policy.toml"), "--db", str(tmp_path / "ledger.sqlite"), "--out",
                           str(tmp_path / "out"), "-f", "txt", "--date", "16/11/2026", "-q"],
                          capture_output=True, text=True, env=env)


def _consistent(tmp_path: Path) -> None:
    """Every letter file in the folder is recorded, and every recorded letter's file is there."""
    visible = {p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".") and p.suffix == ".txt"}
    recorded = {row[0] for row in ledger_rows(tmp_path / "ledger.sqlite", "select file from letters")} \
        if (tmp_path / "ledger.sqlite").exists() else set()
    assert visible == recorded


@pytest.mark.parametrize("step", ["staged", "recorded"])
def test_killed_before_the_commit_leaves_nothing_recorded_and_no_letter(run, setup, step):
    tmp_path, export = setup
    killed = _kill_run(tmp_path, export, step)
    assert killed.returncode == 137
    _consistent(tmp_path)
    assert not [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    if (tmp_path / "ledger.sqlite").exists():
        assert ledger_rows(tmp_path / "ledger.sqlite", "select count(*) from events") == [(0,)]
    result = letters(run, tmp_path, export, "--out", tmp_path / "out", "-f", "txt")
    assert "Removed .attendance-staging-" in result.stderr and "Wrote 2 letters" in result.stderr
    assert not list((tmp_path / "out").glob(".attendance-staging-*"))
    _consistent(tmp_path)


def test_killed_while_moving_files_is_finished_by_the_next_run(run, setup):
    tmp_path, export = setup
    killed = _kill_run(tmp_path, export, "moving")
    assert killed.returncode == 137
    # recorded, one file moved so far: the rest wait in staging for the next run
    assert ledger_rows(tmp_path / "ledger.sqlite", "select count(*) from letters") == [(2,)]
    assert len(list((tmp_path / "out").glob(".attendance-staging-*"))) == 1
    result = letters(run, tmp_path, export, "--out", tmp_path / "out", "-f", "txt")
    assert "Finished an interrupted letters run: moved" in result.stderr and "No new letters." in result.stderr
    assert not list((tmp_path / "out").glob(".attendance-staging-*"))
    _consistent(tmp_path)
    assert ledger_rows(tmp_path / "ledger.sqlite", "select state from letter_runs") == [("done",)]


def test_templates_list_show_and_copy(run, tmp_path):
    listed = run("templates", "list").stdout
    assert "punctuality-1\tdefault" in listed and "_layout/letter.typ.j2\tlayout" in listed
    assert "{% block body %}" in run("templates", "show", "punctuality-1").stdout
    assert "attendance  school year to date" in run("templates", "show", "x", "--names").stdout
    copied = run("templates", "copy", tmp_path / "mine")
    assert copied.exit_code == 0 and (tmp_path / "mine" / "_layout" / "letter.typ.j2").exists()
    assert run("templates", "copy", tmp_path / "mine").exit_code == 2  # never overwrites without --force


def test_no_school_settings_is_an_error_with_an_example(run, setup):
    tmp_path, export = setup
    (tmp_path / "policy.toml").write_text(POLICY, encoding="utf-8")
    result = run("letters", export, "--policy", tmp_path / "policy.toml", "--out", tmp_path / "out",
                 "--school", tmp_path / "none.toml")
    assert result.exit_code == 2
    assert f"There is no school settings file at {tmp_path / 'none.toml'}" in result.stderr
    assert 'signatory = "Ms J. Rivers"' in result.stderr


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find the worker processes")
def test_a_killed_run_with_many_letters_leaves_no_worker_processes_and_nothing_recorded(tmp_path):
    import time
    import uuid

    samples = Path(__file__).parent.parent / "sample_data"
    files = [str(p) for p in sorted(samples.glob("primary_arbor_2025-26_*.csv"))]
    marker = f"ATTENDANCE_TEST_MARKER={uuid.uuid4().hex}"
    name, value = marker.split("=")
    env = {**os.environ, "ATTENDANCE_TEST_KILL_AT": "staged", "ATTENDANCE_NO_PROGRESS": "1", name: value}
    # every event of the year gets its letter (not only those of the last fortnight): enough letters
    policy = tmp_path / "many.toml"
    policy.write_text('extends = "primary-academy"\nletter_within = 300\n', encoding="utf-8")
    killed = subprocess.run([sys.executable, "-m", "attendance_cli", "letters", *files, "--policy", str(policy),
                             "--school", str(samples / "primary_school.toml"), "--db", str(tmp_path / "ledger.sqlite"),
                             "--out", str(tmp_path / "out"), "-q"], capture_output=True, text=True, env=env, timeout=120)
    assert killed.returncode == 137, killed.stderr[-2000:]
    staged = list((tmp_path / "out").glob(".attendance-staging-*/*.pdf"))
    assert len(staged) > 100  # enough letters for the worker processes to have typeset them
    deadline = time.monotonic() + 10
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_with(marker) == []  # the workers went with their parent
    assert not [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    assert not (tmp_path / "ledger.sqlite").exists() or ledger_rows(tmp_path / "ledger.sqlite",
                                                                     "select count(*) from letters") == [(0,)]


def test_school_settings_name_every_problem_at_once(run, setup):
    tmp_path, export = setup
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "X"\ncolour = "red"\ntelephone = 7\n', encoding="utf-8")
    result = run("letters", export, "--policy", tmp_path / "policy.toml", "--out", tmp_path / "out", "--school", bad)
    assert result.exit_code == 1
    assert (f"{bad}: the setting 'address' is missing; setting 'telephone': Input should be a valid string; "
            "the setting 'signatory' is missing; unknown setting 'colour'.") in " ".join(result.stderr.split())
