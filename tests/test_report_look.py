"""How the report looks, checked on the rendered page as a reader sees it: the sample secondary
school's report (1,000 pupils, so its tables run over pages) as a PDF compiled by Typst and read back
with PyMuPDF (words with their positions, the tables' ruled cells), and as HTML laid out by a real
headless Chromium (the boxes of the text, the computed styles) and printed by it.

On every page: each chart has its title and caption; no two words overlap and none runs over its
table cell's border; every number in a table is right-aligned (its right edge that of the column's
other numbers); a table continued on the next page repeats its header row; text has a contrast of at
least 4.5:1 with what is behind it (WCAG 2)."""

from __future__ import annotations

import functools
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pymupdf
import pytest

from attendance_cli.reports.render import CHARTS
from tests.conftest import Run
from tests.test_trust import trust_file  # noqa: F401  (a fixture)


SAMPLES = Path(__file__).parent.parent / "sample_data"
SECONDARY = [SAMPLES / "secondary_arbor_2026-27_autumn1.csv", SAMPLES / "secondary_arbor_2026-27_autumn2.csv"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NUMBER = re.compile(r"^[−+-]?\d[\d,]*(\.\d+)?%?( \(.*\))?$")  # 1,301.5 · 26.20% · 26.20% (262 pupils) · -10.00


@pytest.fixture(scope="module")
def secondary(tmp_path_factory) -> dict[str, Path]:
    """The sample secondary school's half-term report, as HTML and as PDF (made once for the module)."""
    folder = tmp_path_factory.mktemp("secondary")
    run = Run()
    made = {}
    for suffix in ("html", "pdf"):
        made[suffix] = folder / f"report.{suffix}"
        result = run("report", *SECONDARY, "--out", made[suffix], "-q")
        assert result.exit_code == 0, result.stderr
    return made


# -- the PDF, read back ------------------------------------------------------------------------------

def contrast(foreground: tuple[float, float, float], background: tuple[float, float, float]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (components 0 to 1)."""
    def luminance(rgb):
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_contrast_formula_is_wcags():
    assert round(contrast((0, 0, 0), (1, 1, 1)), 2) == 21.0
    assert round(contrast((0x76 / 255,) * 3, (1, 1, 1)), 2) == 4.54  # #767676 on white: the classic pass
    assert contrast((0x77 / 255,) * 3, (1, 1, 1)) < 4.5


def _overlaps(a, b, slack: float = 0.3) -> bool:
    return min(a[2], b[2]) - max(a[0], b[0]) > slack and min(a[3], b[3]) - max(a[1], b[1]) > slack


def _inside(word, box, slack: float = 2.0) -> bool:  # PyMuPDF places a rule up to ~1.5 pt off
    return word[0] >= box[0] - slack and word[2] <= box[2] + slack and word[1] >= box[1] - slack and word[3] <= box[3] + slack


def pdf_words(page) -> list[tuple[float, float, float, float, str]]:
    """The words on a PDF page, each in its em box (x0, y0, x1, y1, text): from 0.8 of the font size
    above the baseline to 0.2 below, so two lines overlap only when their letters could touch (the
    boxes PyMuPDF gives are taller than the type, and overlap on any tight line)."""
    words = []
    for block in page.get_text("rawdict")["blocks"]:
        for line in block.get("lines", []):
            for span in line["spans"]:
                word: list = []
                for char in [*span["chars"], None]:
                    if char is not None and not char["c"].isspace():
                        word.append(char)
                    elif word:
                        baseline = word[0]["origin"][1]
                        words.append((word[0]["bbox"][0], baseline - 0.8 * span["size"], word[-1]["bbox"][2],
                                      baseline + 0.2 * span["size"], "".join(c["c"] for c in word)))
                        word = []
    return words


@functools.cache
def pdf_tables(path: Path) -> list[dict]:
    """Every table fragment on every page: its page, box, and rows of cells, each cell its box and the
    words in it (PyMuPDF finds the tables by their rules). Read once per file: finding tables is slow."""
    fragments = []
    with pymupdf.open(path) as document:
        for number, page in enumerate(document):
            words = pdf_words(page)
            for table in page.find_tables().tables:
                rows = []
                for row in table.rows:
                    cells = []
                    for box in row.cells:
                        inside = [] if box is None else [w for w in words if box[0] <= (w[0] + w[2]) / 2 <= box[2]
                                                         and box[1] <= (w[1] + w[3]) / 2 <= box[3]]
                        cells.append({"box": box, "words": inside, "text": " ".join(w[4] for w in inside)})
                    rows.append(cells)
                fragments.append({"page": number, "box": table.bbox, "rows": rows, "height": page.rect.height})
    return fragments


def pdf_problems(path: Path, headers: set[str]) -> list[str]:
    """What a reader would see wrong in the PDF at `path`: overlapping words, words across a cell's
    border, numbers not right-aligned, continued tables without their header row, faint text.
    `headers`: the first cells of the header rows its tables have."""
    problems = []
    with pymupdf.open(path) as document:
        for number, page in enumerate(document, start=1):
            words = sorted(pdf_words(page), key=lambda w: w[1])
            for i, a in enumerate(words):
                for b in words[i + 1:]:
                    if b[1] > a[3]:
                        break
                    if _overlaps(a, b):
                        problems.append(f"page {number}: {a[4]!r} overlaps {b[4]!r}")
            for block in page.get_text("dict")["blocks"]:
                for line in block.get("lines", []):
                    for span in line["spans"]:
                        rgb = tuple(((span["color"] >> shift) & 255) / 255 for shift in (16, 8, 0))
                        if span["text"].strip() and contrast(rgb, (1, 1, 1)) < 4.5:
                            problems.append(f"page {number}: {span['text']!r} in #{span['color']:06x}: "
                                            f"contrast {contrast(rgb, (1, 1, 1)):.2f}")
    fragments = pdf_tables(path)
    for previous, fragment in zip([None, *fragments], fragments):
        where = f"page {fragment['page'] + 1}, table {fragment['rows'][0][0]['text']!r}"
        for cells in fragment["rows"]:
            for cell in cells:
                for word in cell["words"]:
                    if not _inside(word, cell["box"]):
                        problems.append(f"{where}: {word[4]!r} runs over its cell's border")
        body = fragment["rows"][1:] if fragment["rows"][0][0]["text"] in headers else fragment["rows"]
        for column in range(max(len(cells) for cells in body)):
            ends = {round(cells[column]["words"][-1][2], 1): cells[column]["text"] for cells in body
                    if column < len(cells) and cells[column]["box"] is not None and NUMBER.match(cells[column]["text"])}
            if max(ends, default=0) - min(ends, default=0) > 0.6:
                problems.append(f"{where}: column {column + 1} not right-aligned: {sorted(ends.items())[:3]}")
        continued = (previous is not None and fragment["page"] == previous["page"] + 1
                     and fragment["box"][1] < 80 and previous["box"][3] > previous["height"] - 80)
        if continued and fragment["rows"][0][0]["text"] not in headers:
            problems.append(f"{where}: continued from page {previous['page'] + 1} without its header row")
    return problems


def test_the_pdf_checks_catch_what_the_issue_saw(tmp_path):
    """The checks fail on the report as it was: a word over its cell border (Unauthorised % into PA %),
    numbers left-aligned, a continued table without its header, grey text."""
    source = """#set page(paper: "a6", margin: 1cm)
#set text(font: "Atkinson Hyperlegible", size: 9pt)
#table(columns: (1fr, 1.2cm, 1cm), stroke: 0.4pt,
  [*Group*], [*Unauthorised %*], [*PA %*],
  ..range(40).map(i => ([#str(i)x], [#str(i * 37)], [#str(i * 1.5)])).flatten())
#text(fill: luma(170))[faint]
"""
    from attendance_cli.letters.pdf import compile_one

    pdf, message = compile_one((source, False, "2026-11-23"))
    assert message is None, message
    (tmp_path / "bad.pdf").write_bytes(pdf)
    problems = "\n".join(pdf_problems(tmp_path / "bad.pdf", {"Group"}))
    assert "'Unauthorised' runs over its cell's border" in problems
    assert "column 2 not right-aligned" in problems
    assert "page 1: 'Unauthorised' overlaps 'PA'" in problems
    assert "page 2, table '20x': continued from page 1 without its header row" in problems
    assert "'faint' in #aaaaaa: contrast 2.32" in problems


REPORT_HEADERS = {"Measure", "Group", "Pupil", "Letter", "Code"}  # Code: the Method's absence by reason


def test_the_pdf_report_has_every_chart_titled_and_captioned(secondary):
    with pymupdf.open(secondary["pdf"]) as document:
        text = " ".join(" ".join(page.get_text().split()) for page in document)
    numbers = []
    for _, title, caption in CHARTS:
        found = re.search(rf"Chart (\d): {re.escape(caption)}", text)
        assert title in text and found, caption
        assert text.index(title) < found.start()  # the title above the chart, the caption below
        numbers.append(found[1])
    assert sorted(numbers) == ["1", "2", "3", "4"]


def test_the_pdf_report_reads_cleanly_on_every_page(secondary):
    fragments = pdf_tables(secondary["pdf"])
    # the sample school's form table and its lists of pupils run over pages: the check has work to do
    continued = [f for f in fragments if f["box"][1] < 80 and f["page"] > 0]
    assert len(continued) >= 3
    assert all(f["rows"][0][0]["text"] in REPORT_HEADERS for f in continued)
    assert [c["text"] for c in fragments[1]["rows"][0]] == [
        "Group", "Pupils", "Attendance %", "Absence %", "Unauthorised %", "PA %", "SA %"]  # each heading on one line
    assert pdf_problems(secondary["pdf"], REPORT_HEADERS) == []


def test_the_pdf_report_right_aligns_the_headline_figures(secondary):
    headline = pdf_tables(secondary["pdf"])[0]
    assert headline["rows"][0][0]["text"] == "Measure"
    value_ends = {round(cells[1]["words"][-1][2], 1) for cells in headline["rows"]}
    assert len(value_ends) == 1  # "This window" and each figure under it end at the same x


def test_the_trust_report_reads_cleanly(run, trust_file, tmp_path):
    html_page = tmp_path / "trust.html"
    assert run("trust", "report", trust_file, "--out", html_page, "--suppress-below", "1", "-q").exit_code == 0
    if CHROMIUM:
        found = audit(html_page, tmp_path, 1280)
        assert found["problems"] == [] and found["numbers"] >= 30
    out = tmp_path / "trust.pdf"
    result = run("trust", "report", trust_file, "--out", out, "--suppress-below", "1", "-q")
    assert result.exit_code == 0, result.stderr
    fragments = pdf_tables(out)
    assert [c["text"] for c in fragments[0]["rows"][0]][:4] == ["School", "DfE number", "Phase", "Window"]
    assert pdf_problems(out, {"School"}) == []


# -- the HTML, in a headless Chromium -----------------------------------------------------------------

#: Run in the page once it is laid out: what a reader would see wrong, written into <pre id="audit">.
AUDIT = r"""
<script>
(() => {
  const problems = [];
  const rgb = (text) => { const p = text.match(/[\d.]+/g).map(Number); return p.length > 3 ? p : [...p, 1]; };
  const luminance = ([r, g, b]) => {
    const c = [r, g, b].map(v => v / 255).map(v => v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const colour = rgb(getComputedStyle(e).backgroundColor);
      if (colour[3] > 0) return colour;
    }
    return [255, 255, 255, 1];
  };
  const boxes = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const element = node.parentElement;
    if (!node.textContent.trim() || element.closest("svg, script, style, #audit")) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const text = node.textContent.trim().slice(0, 40);
    for (const r of range.getClientRects()) if (r.width > 0 && r.height > 0) boxes.push({text, element, r});
    const style = getComputedStyle(element);
    const ratio = ((a, b) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05))(
      luminance(rgb(style.color)), luminance(background(element)));
    if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)}: ${text} (${style.color} on ${background(element)})`);
    const cell = element.closest("td, th");
    if (cell) {
      const c = cell.getBoundingClientRect();
      for (const r of range.getClientRects())
        if (r.left < c.left - 0.5 || r.right > c.right + 0.5 || r.top < c.top - 0.5 || r.bottom > c.bottom + 0.5)
          problems.push(`runs over its cell: ${text}`);
    }
  }
  boxes.sort((a, b) => a.r.top - b.r.top);
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length && boxes[j].r.top < boxes[i].r.bottom; j++) {
      const a = boxes[i].r, b = boxes[j].r;
      if (Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5)
        problems.push(`overlap: ${boxes[i].text} | ${boxes[j].text}`);
    }
  const number = /^[−+-]?\d[\d,]*(\.\d+)?%?( \(.*\))?$/;
  let numbers = 0;
  for (const cell of document.querySelectorAll("td, th")) {
    if (!number.test(cell.textContent.trim())) continue;
    numbers++;
    const align = getComputedStyle(cell).textAlign;
    if (align !== "right" && align !== "end") problems.push(`not right-aligned (${align}): ${cell.textContent.trim()}`);
  }
  const figures = [...document.querySelectorAll("figure")].map(f => ({
    id: f.id, title: (f.querySelector(".chart-title") || {}).textContent || "",
    caption: (f.querySelector("figcaption") || {}).textContent || "", svg: !!f.querySelector("svg"),
  }));
  const loose = [...document.querySelectorAll("svg")].filter(s => !s.closest("figure")).length;
  const out = document.createElement("pre");
  out.id = "audit";
  out.textContent = JSON.stringify({problems, numbers, figures, loose, boxes: boxes.length});
  document.body.append(out);
})();
</script>
"""


def chromium(page: Path, folder: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={folder / 'profile'}", *arguments, page.as_uri()],
        capture_output=True, text=True, timeout=180)


def audit(page: Path, folder: Path, width: int) -> dict:
    """The page with AUDIT added at the end of its body, laid out `width` CSS pixels wide."""
    audited = folder / f"audited-{width}.html"
    audited.write_text(page.read_text(encoding="utf-8").replace("</body>", AUDIT + "</body>"), encoding="utf-8")
    browser = chromium(audited, folder, f"--window-size={width},900", "--dump-dom")
    assert browser.returncode == 0, browser.stderr[-2000:]
    return json.loads(html.unescape(browser.stdout.split('<pre id="audit">', 1)[1].split("</pre>", 1)[0]))


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (.ci/run installs Debian's chromium)")


@needs_chromium
def test_the_html_audit_catches_what_the_issue_saw(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("""<!DOCTYPE html><html><body style="font: 16px sans-serif">
<table style="table-layout: fixed; width: 10em; border-collapse: collapse"><thead><tr><th style="width: 3em">Unauthorised %</th>
<th>PA %</th></tr></thead><tbody><tr><td style="text-align: left">4.63</td><td style="color: #aaa; text-align: right">12.5</td></tr></tbody></table>
<figure><svg width="10" height="10"></svg></figure></body></html>""", encoding="utf-8")
    found = audit(page, tmp_path, 800)
    problems = "\n".join(found["problems"])
    assert "runs over its cell: Unauthorised %" in problems and "overlap: Unauthorised % | PA %" in problems
    assert "not right-aligned (left): 4.63" in problems and "contrast 2.32: 12.5" in problems
    assert found["figures"] == [{"id": "", "title": "", "caption": "", "svg": True}]


@needs_chromium
@pytest.mark.parametrize("width", [1280, 480])
def test_the_html_report_reads_cleanly_in_a_browser(secondary, tmp_path, width):
    found = audit(secondary["html"], tmp_path, width)
    assert found["problems"] == []
    assert found["numbers"] > 400 and found["boxes"] > 1000  # the checks looked at the whole report
    assert found["loose"] == 0  # every chart is inside a figure
    assert found["figures"] == [{"id": f"chart-{key}", "title": title, "caption": caption, "svg": True}
                                for key, title, caption in CHARTS]


@needs_chromium
def test_the_html_report_printed_repeats_each_tables_header_row(secondary, tmp_path):
    printed = tmp_path / "printed.pdf"
    browser = chromium(secondary["html"], tmp_path, f"--print-to-pdf={printed}", "--no-pdf-header-footer")
    assert browser.returncode == 0 and printed.exists(), browser.stderr[-2000:]
    fragments = pdf_tables(printed)
    continued = [f for f in fragments if f["box"][1] < 80 and f["page"] > 0]
    assert len(continued) >= 3
    headers = {"Measure", "Year group", "Form", "Pupil", "Letter", "Code"}
    assert pdf_problems(printed, headers) == []


# -- the charts' own text ------------------------------------------------------------------------------
def test_every_charts_text_contrasts_with_what_is_behind_it(monkeypatch, tmp_path):
    """The charts are drawn text-as-paths, which neither the PDF check nor the browser's reads: each
    chart's text is checked on the matplotlib figure as drawn for the sample secondary's report. Behind
    a heat-map label is its cell's colour; behind any other text, the white page."""
    import numpy as np
    from matplotlib.colors import to_rgb
    from matplotlib.image import AxesImage
    from matplotlib.text import Text

    from attendance_cli.reports import charts

    drawn = []
    real = charts._svg

    def keep(figure, title):
        figure.canvas.draw()
        texts = []
        for text in figure.findobj(Text):
            if not text.get_visible() or not text.get_text().strip():
                continue
            behind = (1.0, 1.0, 1.0)
            image = next((a for a in text.axes.get_images() if isinstance(a, AxesImage)), None) if text.axes else None
            if image is not None and text in text.axes.texts:  # a heat-map cell's label
                x, y = text.get_position()
                value = np.asarray(image.get_array())[round(y)][round(x)]
                behind = image.cmap(image.norm(value))[:3]
            texts.append((title, text.get_text(), contrast(to_rgb(text.get_color()), behind)))
        drawn.append((title, texts))
        return real(figure, title)

    monkeypatch.setattr(charts, "_svg", keep)
    result = Run()("report", *SECONDARY, "--out", tmp_path / "report.html", "-q")
    assert result.exit_code == 0, result.stderr
    assert sorted(title for title, _ in drawn) == ["Absence by reason", "Attendance by day of the week and session",
                                                   "Attendance by school week", "Minutes lost to lateness by school week"]
    assert all(texts for _, texts in drawn)
    low = [(title, text, round(ratio, 2)) for title, texts in drawn for _, text, ratio in texts if ratio < 4.5]
    assert not low, low
    labels = [text for title, texts in drawn if title.startswith("Attendance by day") for _, text, _ in texts]
    assert len(labels) >= 10  # the heat map's cell labels were checked on their cells
