"""Letters rendered: the wording template to the wording format, then into each output's layout
(PDF letters as Typst source, compiled in `pdf.py`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from attendance_cli.letters import markup
from attendance_cli.letters.facts import Letter
from attendance_cli.letters.templates import Safe, TemplateError, Templates, render, render_block

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
    """e-mail letters for guardians with no e-mail address are printed (PDF)."""
    return "pdf" if fmt == "eml" and channel != "email" else fmt


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
    from attendance_cli.letters.templates import FILTERS

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
    from attendance_cli.letters.templates import FILTERS

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
    """A ready e-mail (RFC 5322) with a plain-text part and an HTML alternative."""
    text = render(templates.layout("txt"), {**context, "body": Safe(markup.to_text(document)), "email": True})
    page = render(templates.layout("html"), {**context, "body": Safe(markup.to_html(document)), "email": True})
    message = EmailMessage()
    message["From"] = f'{context["school"]["name"]} <{sender}>'
    message["To"] = f'{letter.recipient} <{letter.email}>'
    message["Subject"] = context["subject"]
    moment = dt.datetime.combine(context["date"], dt.time(8, 0), tzinfo=dt.UTC)
    message["Date"] = format_datetime(moment)
    message["Message-ID"] = make_msgid(idstring=letter.stem, domain=sender.rpartition("@")[2] or None)
    message.set_content(text)
    message.add_alternative(page, subtype="html")
    return message.as_string()


# -- PDF ----------------------------------------------------------------------------------------


def typst_document(templates: Templates, school: dict[str, Any], title: str, pages: Sequence[str]) -> str:
    """A whole Typst document: the preamble once, then each letter's pages."""
    preamble = render(templates.preamble(), {"school": school, "title": title})
    return preamble + "\n" + "\n".join(pages)
