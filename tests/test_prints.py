"""Prints and e-mails read as a family, a printer and a screen reader meet them: the letters' print
file duplex-safe, continuation pages that name the pupil, the reference and the page, every letter
PDF tagged; slips with the school's own paragraph, a chosen window and one form at a time, their
figures those of `summary`; the digest naming rules and reasons and highlighting what needs action.
Real parts throughout: PDFs compiled by Typst and read back with pypdf and pikepdf."""

from __future__ import annotations

import re
from pathlib import Path

import pikepdf
import pytest
from pypdf import PdfReader

from tests.conftest import ARBOR_HEADER, PUNCTUALITY_LETTER, SCHOOL, csv_frame, weekdays

POLICY = 'name = "test-prints"\ncodes = "dfe"\nschool = "school.toml"\n' + PUNCTUALITY_LETTER

#: A punctuality letter long enough for three pages: 50 short paragraphs.
LONG = """{% block subject %}{{ pupil.forename }}'s punctuality{% endblock %}
{% block body %}
Dear Parent or Carer,

{% for i in range(50) %}
Paragraph {{ i }}: the register closes at the start of the day, and the first minutes are when the day's learning is set up.

{% endfor %}
Yours sincerely,
{% endblock %}
"""


def text_of(pdf) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(pdf).pages)


def marks(path: Path, pupils: dict[str, tuple[str, str, str, set[int]]], days: int = 10) -> Path:
    """Arbor long export from Monday 2 November 2026: every pupil present except late (L, 10 minutes)
    on the mornings whose day index is given."""
    import datetime as dt

    rows = [ARBOR_HEADER]
    for pupil_id, (surname, forename, form, late) in pupils.items():
        for index, day in enumerate(weekdays(dt.date(2026, 11, 2), days)):
            code, minutes = ("L", 10) if index in late else ("/", "")
            rows.append(f"{pupil_id},{surname},{forename},Year 4,{form},{day:%d/%m/%Y},AM,{code},{minutes}")
            rows.append(f"{pupil_id},{surname},{forename},Year 4,{form},{day:%d/%m/%Y},PM,\\,")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def school(tmp_path):
    (tmp_path / "school.toml").write_text(SCHOOL, encoding="utf-8")
    (tmp_path / "policy.toml").write_text(POLICY, encoding="utf-8")
    export = marks(tmp_path / "marks.csv", {"S1": ("Smith", "Amy", "4R", {1, 2, 7}),
                                            "S2": ("Jones", "Ben", "4R", {0, 3, 4}),
                                            "S3": ("Khan", "Omar", "4R", set())})
    return tmp_path, export


def write_letters(run, folder: Path, export: Path, *extra):
    return run("letters", export, "--policy", folder / "policy.toml", "--db", folder / "ledger.sqlite",
               "--date", "16/11/2026", *extra)


# -- letters ----------------------------------------------------------------------------------------

def test_print_file_starts_every_letter_on_a_new_sheet(run, school):
    folder, export = school
    mine = folder / "mine"
    mine.mkdir()
    (mine / "punctuality-1.j2").write_text(LONG, encoding="utf-8")
    out = folder / "out"
    result = write_letters(run, folder, export, "--out", out, "--templates", mine)
    assert result.exit_code == 0, result.stderr
    amy, ben = (PdfReader(out / f"2026-11-13_{p}_punctuality-1.pdf") for p in ("S1", "S2"))
    assert len(amy.pages) == len(ben.pages) == 3  # a three-page letter: odd, so padded in the print file
    printed = PdfReader(out / "print-2026-11-13.pdf")
    assert len(printed.pages) == 8  # 3 + a blank page, 3 + a blank page
    assert [page.extract_text().strip() == "" for page in printed.pages] == [False, False, False, True] * 2
    assert "Brook Lane Primary Academy" in printed.pages[4].extract_text()  # Ben's letter on a sheet of its own
    # the continuation pages: the pupil, the reference and the page number; the first page says there is more
    first, second, third = (" ".join(page.extract_text().split()) for page in amy.pages)
    assert "Page 1 of 3, continued" in first and "Amy Smith · Ref. S1" not in first
    assert "Amy Smith · Ref. S1 · punctuality-1" in second and "Page 2 of 3" in second
    assert "Amy Smith · Ref. S1 · punctuality-1" in third and "Page 3 of 3" in third
    assert "Ben Jones · Ref. S2 · punctuality-1" in text_of(out / "2026-11-13_S2_punctuality-1.pdf")
    # --simplex: no blank pages
    simplex = folder / "simplex"
    again = run("letters", export, "--policy", folder / "policy.toml", "--db", folder / "other.sqlite",
                "--date", "16/11/2026", "--out", simplex, "--templates", mine, "--simplex")
    assert again.exit_code == 0, again.stderr
    assert len(PdfReader(simplex / "print-2026-11-13.pdf").pages) == 6


def test_a_one_page_letter_has_no_page_number_and_a_blank_back(run, school):
    folder, export = school
    out = folder / "out"
    assert write_letters(run, folder, export, "--out", out).exit_code == 0
    letter = text_of(out / "2026-11-13_S1_punctuality-1.pdf")
    assert "Page 1 of" not in letter and "Ref. S1 · punctuality-1" in letter
    printed = PdfReader(out / "print-2026-11-13.pdf")
    assert len(printed.pages) == 4 and printed.pages[1].extract_text().strip() == ""
    assert "Ben Jones" in printed.pages[2].extract_text()


def test_every_letter_pdf_is_tagged_with_its_language_and_title(run, school):
    folder, export = school
    out = folder / "out"
    assert write_letters(run, folder, export, "--out", out).exit_code == 0
    files = sorted(out.glob("2026-11-13_*.pdf"))
    assert len(files) == 2
    for path, name in zip(files, ("Amy", "Ben")):
        with pikepdf.open(path) as pdf:
            root = pdf.Root
            assert "/StructTreeRoot" in root and len(root.StructTreeRoot.K) > 0, path.name
            assert bool(root.MarkInfo.Marked)
            assert str(root.Lang).lower() == "en-gb"
            assert str(pdf.open_metadata().get("dc:title")) == f"{name}'s punctuality"
            # the structure tree reaches the letter's words: its subject a heading, its paragraphs paragraphs
            assert {"H1", "P"} <= structure_kinds(root.StructTreeRoot), path.name


def structure_kinds(node, seen=None) -> set[str]:
    """The structure types (/S) in a PDF's structure tree."""
    seen = set() if seen is None else seen
    if isinstance(node, pikepdf.Array):
        for item in node:
            structure_kinds(item, seen)
    elif isinstance(node, pikepdf.Dictionary):
        if "/S" in node:
            seen.add(str(node.S).lstrip("/"))
        if "/K" in node:
            structure_kinds(node.K, seen)
    return seen
