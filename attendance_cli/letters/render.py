"""Letters rendered: the wording template to the wording format, then into each output's layout
(PDF letters as Typst source, compiled in `pdf.py`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from attendance_cli.errors import InputError
from attendance_cli.letters import markup
from attendance_cli.letters.model import Letter
from attendance_cli.letters.templates import TemplateError, Templates, render, render_block
from attendance_cli.templating import Safe

#: What a letter's file is, by the format asked for and how the letter is delivered.
EXTENSION = {"pdf": "pdf", "html": "html", "txt": "txt", "eml": "eml"}


@dataclass(frozen=True)
class Rendered:
    letter: Letter
    subject: str
    format: str  # the file written for this letter: pdf, html, txt or eml
    content: str  # HTML, plain text, or Typst source (compiled later, all together)
    words: int  # words of the body a family reads

    @property
    def filename(self) -> str:
        return f"{self.letter.stem}.{EXTENSION[self.format]}"


def file_format(fmt: str, channel: str) -> str:
    """A letter going by e-mail is an e-mail (with -f eml, or on a ladder whose `channel` is email,
    such as the university's automated e-mails to students); e-mail letters for guardians with no
    e-mail address are printed (PDF)."""
    if channel == "email":
        return "eml"
    return "pdf" if fmt == "eml" else fmt


def render_letters(letters: Sequence[Letter], templates: Templates, fmt: str, school_email: str = "",
                   tick: Callable[[], None] | None = None) -> list[Rendered]:
    """Every letter in its output's form (PDF letters as Typst source). Any template error stops
    the run before anything is written."""
    out = []
    for letter in letters:
        out.append(render_one(letter, templates, file_format(fmt, letter.channel), school_email))
        if tick:
            tick()
    return out


def wording(letter: Letter, templates: Templates) -> tuple[str, markup.Document]:
    """The subject line and the body of a letter, from its wording template."""
    template = templates.wording(letter.letter)
    subject_text = render_block(template, "subject", letter.context)
    subject = " ".join(subject_text.replace(markup.OPEN, "").replace(markup.CLOSE, "").split())
    body = render_block(template, "body", letter.context)
    try:
        blocks = markup.parse(body)
    except markup.MarkupError as error:
        raise TemplateError(f"Letter template {template.filename}: {error} (line {error.line} of the text it produced).",
                            fix="Correct the template; nothing was written.") from error
    return subject, markup.Document(blocks, tables(letter.context))


def tables(context: dict[str, Any]) -> dict[str, markup.Table]:
    """The tables the ::sessions and ::figures directives stand for."""
    from attendance_cli.templating import FILTERS

    sessions = context["event"]["sessions"]
    headings, rows = _session_rows(sessions, context["attendance"]["lessons"])
    meanings = dict.fromkeys(f"{s['code']}: {s['meaning']}" for s in sessions if s["meaning"])
    a = context["attendance"]
    unit = "lessons" if a["lessons"] else "sessions"
    figures = [("Attendance this school year", f"{a['percent']}%" if a["percent"] is not None else "no sessions yet"),
               (f"Possible {unit}", f"{a['possible']:,}"), (f"{unit.capitalize()} attended", f"{a['attended']:,}")]
    if a["days_missed"] is not None:
        figures.append(("Days missed", FILTERS["days"](a["days_missed"])))
    figures += [(f"{unit.capitalize()} missed without permission", f"{a['unauthorised']:,}"),
                ("Times late", f"{a['lates']:,}"), ("Minutes lost to lateness", f"{a['minutes_late']:,}")]
    return {"sessions": markup.Table(headings, rows, "; ".join(sorted(meanings)) + "." if meanings else ""),
            "figures": markup.Table(("", "School year to date"), tuple(figures))}


def _session_rows(sessions: list[dict[str, Any]], lessons: bool) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Sessions as a family reads them: one row per day (morning, afternoon), or per lesson."""
    from attendance_cli.templating import FILTERS

    def mark(s: dict[str, Any]) -> str:
        return s["code"] + (f" ({s['minutes_late']} min late)" if s["minutes_late"] is not None else "")

    if lessons:
        return ("Date", "Lesson", "Mark"), tuple((FILTERS["date"](s["date"], "day"), s["session"], mark(s)) for s in sessions)
    days: dict[Any, dict[str, str]] = {}
    for s in sessions:
        days.setdefault(s["date"], {})[s["session"]] = mark(s)
    return ("Date", "Morning", "Afternoon"), tuple(
        (FILTERS["date"](day, "day"), marks.get("AM", ""), marks.get("PM", "")) for day, marks in days.items())


def render_one(letter: Letter, templates: Templates, out_format: str, school_email: str = "") -> Rendered:
    subject, document = wording(letter, templates)
    context = {**letter.context, "subject": subject}
    if out_format == "pdf":
        content = render(templates.layout("pdf"), {**context, "body": Safe(markup.to_typst(document))})
    elif out_format == "html":
        content = render(templates.layout("html"), {**context, "body": Safe(markup.to_html(document)), "email": False})
    elif out_format == "txt":
        content = render(templates.layout("txt"), {**context, "body": Safe(markup.to_text(document)), "email": False})
    else:
        content = _email(letter, context, document, templates, school_email)
    return Rendered(letter, subject, out_format, content, document.words())


def _email(letter: Letter, context: dict[str, Any], document: markup.Document, templates: Templates,
           sender: str) -> str:
    """A ready e-mail (RFC 5322), a draft, with a plain-text part and an HTML alternative. From and To are
    address objects, not text: the library quotes and encodes each name, so a comma or an angle
    bracket in a guardian's name stays part of the name instead of adding a recipient."""
    if not one_address(letter.email or ""):
        raise InputError(f"Letter {letter.stem}: the guardian's or student's e-mail address is not one address "
                         "such as name@example.org; nothing was written.",
                         fix="Correct the address in the contacts or pupils file (or leave it empty: the letter "
                             "is then posted).")
    text = render(templates.layout("txt"), {**context, "body": Safe(markup.to_text(document)), "email": True})
    page = render(templates.layout("html"), {**context, "body": Safe(markup.to_html(document)), "email": True})
    message = EmailMessage()
    message["From"] = Address(display_name=header_text(context["school"]["name"]), addr_spec=sender)
    message["To"] = Address(display_name=header_text(letter.recipient), addr_spec=letter.email)
    message["Subject"] = header_text(context["subject"])
    # a draft, not a message received: Outlook opens a file marked X-Unsent as a new message ready to
    # send; a Date and a Message-ID would make it look received (they are added when it is sent)
    message["X-Unsent"] = "1"
    message.set_content(text)
    message.add_alternative(page, subtype="html")
    return message.as_string()


#: Line breaks and the other control characters, none of which belongs in a header's text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def header_text(text: str) -> str:
    """A name or subject as the text of one header: a line break or other control character in a
    guardian's name (pasted from a spreadsheet cell) becomes a space, so it can neither start a
    header of its own nor stop the run."""
    return " ".join(_CONTROL.sub(" ", text).split())


def one_address(text: str) -> bool:
    """Whether `text` is one e-mail address and nothing else (name@example.org), read back
    unchanged by the standard library: a second address, a name or a comment in it would send the
    letter, or its replies, somewhere it was not meant to go. ASCII only, as a message without
    SMTPUTF8 can carry it."""
    if not text.isascii() or text.count("@") != 1 or re.search(r"[\s,;<>\x00-\x1f\x7f]", text):
        return False
    try:
        parsed = Address(addr_spec=text)
    except (ValueError, IndexError, HeaderParseError):
        return False
    return parsed.addr_spec == text and "." in parsed.domain


# -- PDF ----------------------------------------------------------------------------------------


# -- rendering and compiling, on every core ---------------------------------------------------------

@dataclass(frozen=True)
class Batch:
    """Letters rendered, typeset and written to the staging folder together (the printed ones each
    a PDF of its own, for the parent to join into the print file from its file)."""

    items: list[Rendered]  # their content in their files, not kept here


#: Letters per batch a worker renders and typesets (one tagged PDF each): enough that sending a
#: batch to a worker costs little.
BATCH = 40
_libraries: dict[str, Templates] = {}


def produce_batch(job: tuple[list[Letter], list[str], str, str | None, str, str]
                  ) -> tuple[list[tuple[str, str, int]] | None, tuple[str, str | None] | None]:
    """Render some letters, typeset the printed ones, and write each to the staging folder under its
    name. Runs in a worker process, so errors come back as (message, fix), not as exceptions; and
    what comes back of each letter is only what the parent has not got: (subject, format, words)."""
    from pathlib import Path

    from attendance_cli.errors import AttendanceError
    from attendance_cli.letters.pdf import typeset_each

    letters, names, staging, folder, fmt, school_email = job
    key = folder or ""
    if key not in _libraries:
        _libraries[key] = Templates(Path(folder) if folder else None)
    templates = _libraries[key]
    try:
        rendered = [render_one(letter, templates, file_format(fmt, letter.channel), school_email) for letter in letters]
        printed = [item for item in rendered if item.format == "pdf"]
        pdfs: list[bytes] = []
        if printed:
            school = printed[0].letter.context["school"]
            # each letter its own PDF, titled with its subject (what a screen reader announces)
            preambles = [render(templates.preamble(), {"school": school, "title": item.subject}) for item in printed]
            pdfs, message = typeset_each(preambles, [item.content for item in printed],
                                         printed[0].letter.context["date"])
            if message:
                return None, (f"Letter layout letter.typ.j2 (or preamble.typ.j2) does not compile: {message}.",
                              "Correct the layout template; nothing was written.")
    except AttendanceError as error:
        return None, (error.message, error.fix)
    by_item = dict(zip(map(id, printed), pdfs))
    for item, name in zip(rendered, names):
        target = Path(staging) / name
        try:
            if id(item) in by_item:
                target.write_bytes(by_item[id(item)])
            else:
                target.write_text(item.content, encoding="utf-8", newline="" if item.format == "eml" else None)
        except OSError as error:  # a full disk names no file: name the letter's, for the message
            if error.filename is not None:
                raise
            raise OSError(error.errno, error.strerror, str(target)) from error
    return [(item.subject, item.format, item.words) for item in rendered], None


def produce(letters: Sequence[Letter], names: Sequence[str], staging: Path, folder: str | None, fmt: str,
            school_email: str = "", workers=None) -> Iterator[Batch]:
    """Every letter rendered, typeset if printed, and written into `staging` under its name, in
    order, in batches; on the `workers` processes (a `pdf.Workers`) when given. The first error
    stops the run with a TemplateError."""
    # small batches (each letter is a document of its own, so there is no fixed cost to share): every
    # core stays busy to the end, and the print file, joined by the caller as they come, is nearly
    # done when the last comes
    jobs = [(list(letters[i:i + BATCH]), list(names[i:i + BATCH]), str(staging), folder, fmt, school_email)
            for i in range(0, len(letters), BATCH)]
    results = workers.map(produce_batch, jobs) if workers is not None else map(produce_batch, jobs)
    for (done, error), job in zip(results, jobs):
        if error is not None:
            raise TemplateError(error[0], fix=error[1])
        assert done is not None
        yield Batch([Rendered(letter, subject, out_format, "", words)
                     for letter, (subject, out_format, words) in zip(job[0], done)])
