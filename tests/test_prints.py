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


def assert_tagged_print_file(path: Path, documents: int) -> None:
    """`path`, read back with pypdf, is one tagged PDF in English: a Document of `documents` Parts,
    each reaching its words (a heading, paragraphs) on the print file's own pages, and every page's
    and link's key into the parent tree its own. qpdf finds nothing wrong in it."""
    with pikepdf.open(path) as pdf:
        assert pdf.check_pdf_syntax() == []
    reader = PdfReader(path)
    root = reader.trailer["/Root"]
    assert root["/MarkInfo"]["/Marked"].value is True and str(root["/Lang"]).lower() == "en-gb"
    tree = root["/StructTreeRoot"].get_object()
    (document,) = [kid.get_object() for kid in tree["/K"]]
    assert document["/S"] == "/Document"
    parts = [kid.get_object() for kid in document["/K"]]
    assert len(parts) == documents and {part["/S"] for part in parts} == {"/Part"}
    pages = {page.indirect_reference.idnum for page in reader.pages}

    def walk(node, kinds):
        node = node.get_object()
        if isinstance(node, list):
            for item in node:
                walk(item, kinds)
        elif hasattr(node, "keys") and "/S" in node:
            kinds.add(str(node["/S"]).lstrip("/"))
            if "/Pg" in node:
                assert node.raw_get("/Pg").idnum in pages  # the print file's page, not a letter's own
            if "/K" in node:
                walk(node["/K"], kinds)

    for part in parts:
        kinds: set[str] = set()
        walk(part["/K"], kinds)
        assert {"H1", "P"} <= kinds, kinds
    nums = tree["/ParentTree"].get_object()["/Nums"]
    keys = [int(k) for k in nums[::2]]
    assert len(keys) == len(set(keys)) and int(tree["/ParentTreeNextKey"]) > max(keys)
    used = [int(page["/StructParents"]) for page in reader.pages if "/StructParents" in page]
    used += [int(a.get_object()["/StructParent"]) for page in reader.pages for a in page.get("/Annots", [])
             if "/StructParent" in a.get_object()]
    assert len(used) == len(set(used)) and set(used) <= set(keys)
    assert len(used) >= documents


def test_the_print_file_is_tagged_as_each_letter_is(run, school):
    folder, export = school
    out = folder / "out"
    assert write_letters(run, folder, export, "--out", out).exit_code == 0
    assert_tagged_print_file(out / "print-2026-11-13.pdf", 2)


def test_the_print_file_of_many_letters_keeps_every_letter_whole_and_tagged(tmp_path):
    """Enough letters for the worker processes (in several batches): the print file holds each
    letter's pages in the manifest's order (its words on the same pages as in its own file, a blank
    page after an odd one), and each letter's structure as a Part of one Document."""
    import os
    import subprocess
    import sys

    policy = tmp_path / "many.toml"
    policy.write_text('extends = "primary-academy"\nletter_within = 300\n', encoding="utf-8")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "attendance_cli", "letters", *map(str, PRIMARY), "--policy",
                             str(policy), "--school", str(SAMPLES / "primary_school.toml"), "--db",
                             str(tmp_path / "ledger.sqlite"), "--out", str(out), "-q"],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "ATTENDANCE_NO_PROGRESS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    import csv

    (manifest,) = out.glob("manifest-*.csv")
    with manifest.open(encoding="utf-8", newline="") as file:
        letters = [out / row["file"] for row in csv.DictReader(file) if row["file"]]
    assert len(letters) > 100 and len(letters) == len(list(out.glob("2026-*.pdf")))
    (merged,) = out.glob("print-*.pdf")
    expected: list[str] = []
    for letter in letters:
        pages = slip_pages(letter)
        expected += pages + [""] * (len(pages) % 2)
    assert slip_pages(merged) == expected
    assert_tagged_print_file(merged, len(letters))


def _letter_pdf(title: str, words: str, pages: int = 1) -> bytes:
    """A tagged PDF typeset by Typst: a bookmarked heading `title`, then `words` on each of `pages` pages."""
    import datetime as dt

    from attendance_cli.letters.pdf import typeset_each

    preamble = ('#set document(title: "' + title + '")\n#set text(lang: "en", region: "gb")\n')
    body = f'#heading(level: 1, bookmarked: true, "{title}")\n' + "\n#pagebreak()\n".join([words] * pages)
    (pdf,), message = typeset_each(preamble, [body], dt.date(2026, 11, 16))
    assert message is None
    return pdf


def test_a_print_file_joins_pdfs_in_any_form_and_keeps_their_words_and_structure(tmp_path):
    """Typst's plain PDFs are joined by copying their objects; a PDF in another form (here qpdf's
    object streams, as another program might write it) is joined too. Text that looks like PDF
    syntax (a reference, the keyword that opens a stream, parentheses) is copied as text, and each
    link keeps a key into the parent tree of its own."""
    import io

    from attendance_cli.letters.pdf import concatenate

    tricky = "Ref. (12 0 R) stream: a ( b"
    plain = _letter_pdf(tricky, 'First letter, see #link("https://example.org")[our page].', pages=3)
    other = pikepdf.open(io.BytesIO(_letter_pdf("Second", "Second letter.")))
    packed = io.BytesIO()
    other.save(packed, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    assert b"/ObjStm" in packed.getvalue()
    path = tmp_path / "print.pdf"
    concatenate([plain, packed.getvalue(), plain], path)
    pages = slip_pages(path)
    first = "First letter, see our page."
    assert pages == [f"{tricky} {first}", first, first, "", "Second Second letter.", "", f"{tricky} {first}", first,
                     first, ""]
    assert_tagged_print_file(path, 3)
    links = [a for page in PdfReader(path).pages for a in page.get("/Annots", [])]
    assert len(links) == 6 and len({int(a.get_object()["/StructParent"]) for a in links}) == 6
    with pikepdf.open(path) as pdf:
        document = pdf.Root.StructTreeRoot.K[0]
        titles = [str(element.T) for part in document.K for element in part.K
                  if isinstance(element, pikepdf.Dictionary) and element.get("/S") == "/H1"]
        assert titles == [tricky, "Second", tricky]
        assert str(pdf.Root.Lang) == "en-GB"
    concatenate([plain, plain], path, duplex=False)
    assert len(PdfReader(path).pages) == 6


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


# -- slips ------------------------------------------------------------------------------------------

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
PRIMARY = sorted(SAMPLES.glob("primary_arbor_2025-26_*.csv"))
#: A school's own paragraph: every Typst special character in it, a bullet and bold.
OWN = ("By law, parents must make sure their child attends school regularly.\n\n"
       "Typst would read these: # $ * _ < > @ [x] {y} \\ `z` = #set page(width: 1cm)\n\n"
       "- Ring **01632 960100** before 9:00\n")


def slip_pages(path: Path) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(path).pages]


def test_slips_for_one_form_over_chosen_dates_carry_summarys_figures(run, tmp_path):
    out, each = tmp_path / "oak.pdf", tmp_path / "each"
    result = run("slips", *PRIMARY, "--policy", "primary-academy", "--out", out, "--per-pupil", each, "--form", "oak",
                 "--from", "05/01/2026", "--to", "13/02/2026", "--date", "20/02/2026", "--simplex")
    assert result.exit_code == 0, result.stderr
    summary = csv_frame(run("summary", *PRIMARY, "--from", "05/01/2026", "--to", "13/02/2026", "-f", "csv", "-q").stdout)
    oak = summary.filter(summary["form"] == "Oak").sort("pupil_id")
    pages = slip_pages(out)
    assert len(pages) == oak.height == len(list(each.glob("*.pdf"))) > 5  # only Oak's pupils, one page each (--simplex)
    from attendance_cli.templating import FILTERS

    seen = {}
    for page in pages:
        assert "Attendance from 5 January 2026 to 13 February 2026" in page
        assert "sessions attended from 5 January 2026 to 13 February 2026 (DfE method)" in page
        found = re.search(r"Oak · 20 February 2026 .*? ([\d.]+)% attendance (.+?) missed ([\d,]+) times? late .* Ref\. (\w+)$", page)
        assert found, page
        seen[found.group(4)] = found.groups()[:3]
    assert sorted(seen) == oak["pupil_id"].to_list()
    for row in oak.iter_rows(named=True):
        attended, possible = int(row["attended_sessions"]), int(row["possible_sessions"])
        hundredths = attended * 10_000 // possible  # rounded down, as every output shows it
        lates = int(row["late_before_close"]) + int(row["late_after_close"])
        assert seen[row["pupil_id"]] == (f"{hundredths // 100}.{hundredths % 100:02d}",
                                         FILTERS["days"](float(row["days_missed"])), str(lates)), row["pupil_id"]


def test_slips_print_the_schools_own_paragraph_literally(run, tmp_path):
    school = tmp_path / "school.toml"
    school.write_text((SAMPLES / "primary_school.toml").read_text(encoding="utf-8")
                      + "slip_text = '''\n" + OWN + "'''\n", encoding="utf-8")
    out = tmp_path / "slips.pdf"
    result = run("slips", *PRIMARY, "--policy", "primary-academy", "--school", school, "--out", out, "--year", "Year 2",
                 "--window", "half-term", "--as-of", "13/02/2026")
    assert result.exit_code == 0, result.stderr
    pages = slip_pages(out)
    slips = pages[::2]  # each slip on a sheet of its own: a blank back
    assert all(page == "" for page in pages[1::2]) and len(slips) > 5
    for page in slips:
        assert "Year 2 ·" in page and "Attendance from 5 January 2026 to 13 February 2026" in page
        assert "By law, parents must make sure their child attends school regularly." in page
        assert "Typst would read these: # $ * _ < > @ [x] {y} \\ `z` = #set page(width: 1cm)" in page
        assert "Ring 01632 960100 before 9:00" in page and "**" not in page
    # --text replaces the settings' paragraph
    other = tmp_path / "other.txt"
    other.write_text("Our own words, 100% <ours>.\n", encoding="utf-8")
    again = run("slips", *PRIMARY, "--policy", "primary-academy", "--school", school, "--out", out, "--form", "Oak",
                "--text", other, "--simplex")
    assert again.exit_code == 0, again.stderr
    page = slip_pages(out)[0]
    assert "Our own words, 100% <ours>." in page and "By law" not in page
    # an unclosed ** is named before anything is read
    other.write_text("Unclosed **bold\n", encoding="utf-8")
    bad = run("slips", *PRIMARY, "--policy", "primary-academy", "--out", tmp_path / "bad.pdf", "--text", other)
    assert bad.exit_code != 0 and str(other) in bad.stderr and not (tmp_path / "bad.pdf").exists()


def test_a_slip_counts_one_time_late_in_the_singular(run, tmp_path):
    (tmp_path / "school.toml").write_text(SCHOOL, encoding="utf-8")
    export = marks(tmp_path / "marks.csv", {"S1": ("Smith", "Amy", "4R", {3}), "S2": ("Jones", "Ben", "4R", {0, 3}),
                                            "S3": ("Khan", "Omar", "4R", set())})
    out = tmp_path / "slips.pdf"
    result = run("slips", export, "--policy", "primary-academy", "--school", tmp_path / "school.toml", "--out", out,
                 "--simplex", "--date", "16/11/2026")
    assert result.exit_code == 0, result.stderr
    pages = {re.search(r"Ref\. (\w+)$", page).group(1): page for page in slip_pages(out)}
    assert "1 time late" in pages["S1"] and "2 times late" in pages["S2"] and "0 times late" in pages["S3"]
    assert not any(re.search(r"\b1 times\b", page) for page in pages.values())
    assert_tagged_print_file(out, 3)  # the slips' print file tagged, as each slip is


def test_slips_refuse_a_form_no_pupil_is_in(run, tmp_path):
    result = run("slips", *PRIMARY, "--policy", "primary-academy", "--out", tmp_path / "x.pdf", "--form", "3A")
    assert result.exit_code == 2, result.stderr
    assert "--form 3A: no pupil in the window is in that form." in result.stderr and "Oak" in result.stderr
    assert not (tmp_path / "x.pdf").exists()


# -- digest -----------------------------------------------------------------------------------------

def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """WCAG contrast ratio of two sRGB colours (0-1)."""
    def luminance(c):
        r, g, bl = ((v / 12.92) if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in c)
        return 0.2126 * r + 0.7152 * g + 0.0722 * bl
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_digest_names_rules_reasons_and_days_and_marks_rows_that_need_action(run, tmp_path):
    out = tmp_path / "d"
    args = (*PRIMARY, "--by", "form", "--policy", "primary-academy", "--db", tmp_path / "none.sqlite",
            "--as-of", "24/10/2025", "--out", out)
    assert run("digest", *args, "-f", "csv").exit_code == 0
    oak = csv_frame((out / "digest-Oak.csv").read_text(encoding="utf-8")).with_row_index()
    grace = oak.filter(oak["pupil_id"] == "000571").row(0, named=True)
    # every day of the week off ill: the code, its meaning and the days; the rules by their description
    assert grace["week_absence_reasons"] == ("I Illness (not medical or dental appointment): "
                                             "Mon 20 Oct, Tue 21 Oct, Wed 22 Oct, Thu 23 Oct, Fri 24 Oct")
    assert "Persistently absent: 10% or more of possible sessions missed this school year" in grace["new_triggers"]
    assert "persistent-absence" not in grace["new_triggers"] and "persistent-absence" in grace["new_trigger_rules"]
    assert grace["needs_action"] == "true"
    quiet = oak.filter((oak["new_triggers"].fill_null("") == "") & (oak["persistent_absence"] == "false")
                       & (oak["unmarked_this_week"] == "0"))
    assert quiet.height > 0 and set(quiet["needs_action"]) == {"false"}
    assert set(oak.filter(oak["persistent_absence"] == "true")["needs_action"]) == {"true"}
    # the PDF: the same, with each row needing action shaded and marked with ▶
    assert run("digest", *args, "-f", "pdf").exit_code == 0
    pdf = out / "digest-Oak.pdf"
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(pdf).pages)
    assert "Persistently absent: 10% or more of possible sessions" in text and "Mon 20 Oct, Tue 21 Oct" in text
    assert text.count("▶") == oak.filter(oak["needs_action"] == "true").height + 1  # each row, and the key
    fills = set()
    with pikepdf.open(pdf) as document:
        for page in document.pages:
            for operands, operator in pikepdf.parse_content_stream(page):
                if str(operator) in ("rg", "sc", "scn") and len(operands) == 3:
                    fills.add(tuple(round(float(v), 3) for v in operands))
    shade = (1.0, round(0xE7 / 255, 3), round(0xB3 / 255, 3))
    assert shade in fills
    assert contrast(shade, (0, 0, 0)) >= 4.5
    # the HTML page too
    assert run("digest", *args).exit_code == 0
    page = (out / "digest-Oak.html").read_text(encoding="utf-8")
    assert page.count('<tr class="action">') == oak.filter(oak["needs_action"] == "true").height
    assert "Persistently absent: 10% or more" in page and "I Illness (not medical or dental appointment): Mon 20 Oct" in page


#: The digest's column headings, word by word, as a reader of its PDF meets them.
HEADINGS = ("Action Pupil Name Possible this week Absent Late Attendance % this week Unmarked Attendance % this year "
            "Days missed this year Absences this week New triggers").split()


def test_digest_pdf_headings_stand_apart_on_every_page(run, tmp_path):
    import pymupdf

    out = tmp_path / "d"
    result = run("digest", *PRIMARY, "--by", "form", "--policy", "primary-academy", "--db", tmp_path / "none.sqlite",
                 "--as-of", "24/10/2025", "--out", out, "-f", "pdf")
    assert result.exit_code == 0, result.stderr
    pages = 0
    for path in sorted(out.glob("digest-*.pdf"))[:3]:
        for page in pymupdf.open(path):
            words = page.get_text("words")  # (x0, y0, x1, y1, word, ...)
            top = next(i for i, w in enumerate(words) if w[4] == "Action")
            heading = words[top:top + len(HEADINGS)]
            # each heading's words read apart: no "LateAttendance", "UnmarkedAttendance"
            assert sorted(w[4] for w in heading) == sorted(HEADINGS), (path.name, [w[4] for w in heading])
            for i, a in enumerate(heading):
                for b in heading[i + 1:]:
                    beside = min(a[3], b[3]) - max(a[1], b[1]) > 1  # on the same line
                    if beside:  # at least a space's width between them, and never overlapping
                        assert max(a[0], b[0]) - min(a[2], b[2]) >= 2, (path.name, a[4], b[4])
            pages += 1
    assert pages >= 3


def test_digest_page_escapes_each_value_and_shows_a_figure_the_week_has_not_as_a_dash():
    import datetime as dt

    import polars as pl

    from attendance_cli.cli.report_cmd import DigestFormat, _digest_page
    from attendance_cli.reports.digest import COLUMNS

    rows = pl.DataFrame([
        {"pupil_id": "S&1", "surname": "O'Brien <Jr>", "forename": 'Zoë "Z"', "year_group": "Year 7", "form": "7A",
         "week_possible": 10, "week_absences": 2, "week_lates": 1, "week_attendance_pct": "80.00",
         "unmarked_this_week": 1, "ytd_attendance_pct": "91.50", "ytd_days_missed": 3.5, "persistent_absence": False,
         "week_absence_reasons": "I Illness: Mon 3 Nov & Tue 4 Nov", "new_triggers": "", "needs_action": True,
         "new_trigger_rules": ""},
        {"pupil_id": "S2", "surname": "Smith", "forename": "Amy", "year_group": "Year 7", "form": "7A",
         "week_possible": None, "week_absences": None, "week_lates": None, "week_attendance_pct": None,
         "unmarked_this_week": 0, "ytd_attendance_pct": "100.00", "ytd_days_missed": 0.0, "persistent_absence": False,
         "week_absence_reasons": "", "new_triggers": "Late <10 times> (11)", "needs_action": False,
         "new_trigger_rules": "lates"}]).select(COLUMNS)
    page = _digest_page(DigestFormat.html, "Form 7A", "week", "year", rows, dt.date(2025, 11, 7)).decode("utf-8")
    assert page.split("<tbody>\n", 1)[1].split("</tbody>", 1)[0] == (
        '<tr class="action"><td>▶<span class="note"> needs action</span></td><td>S&amp;1</td>'
        "<td>Zoë &#34;Z&#34; O&#39;Brien &lt;Jr&gt;</td><td>10</td><td>2</td><td>1</td><td>80.00</td><td>1</td>"
        "<td>91.50</td><td>3.5</td><td>I Illness: Mon 3 Nov &amp; Tue 4 Nov</td><td></td></tr>\n"
        "<tr><td></td><td>S2</td><td>Amy Smith</td><td>–</td><td>–</td><td>–</td><td>–</td><td>0</td><td>100.00</td>"
        "<td>0.0</td><td></td><td>Late &lt;10 times&gt; (11)</td></tr>\n")
    assert page.count("<tr") == 3  # the heading's row and the two pupils'
