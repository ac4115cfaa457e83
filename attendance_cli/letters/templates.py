"""Letter templates: where they are, the sandbox they run in, and their errors.

Two kinds of template, both Jinja run in the sandbox with undefined names as errors:

- **wording**, one per letter type (`templates/letters/<name>.j2`): blocks `subject` and `body`
  in the wording format of `markup.py`. Every `{{ value }}` is passed through `markup.literal`.
- **layout**, one per output (`templates/letters/_layout/letter.{html,typ,txt}.j2`): the
  letterhead, address and date around the wording. Every `{{ value }}` is escaped for that output
  (HTML entities, a Typst string literal, nothing for text), except the rendered wording itself.

A school's own folder (the policy's `letters`, or --templates) is searched first, so it can
replace one letter or the layout and keep the rest.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path
from typing import Any

from attendance_cli.errors import ConfigError, MissingFileError, UsageError
from attendance_cli.letters import markup
from attendance_cli.resources import templates_folder
from attendance_cli.templating import FILTERS, Safe, environment

LAYOUT_DIR = "_layout"
FORMATS = ("pdf", "html", "txt", "eml")
#: Each output's layout: the environment (how values are escaped) and the template. An e-mail's
#: parts are the HTML and text layouts.
_LAYOUT_OF = {"pdf": ("typ", "letter.typ.j2"), "html": ("html", "letter.html.j2"), "eml": ("html", "letter.html.j2"),
              "txt": ("txt", "letter.txt.j2")}


def letters_folder() -> Path:
    return templates_folder() / "letters"


class TemplateError(ConfigError):
    """A letter template that cannot be used: it names the template and the line."""


class Templates:
    """The templates for one run: the school's folder (if any) in front of the defaults."""

    def __init__(self, school_folder: Path | None = None) -> None:
        if school_folder is not None and not school_folder.is_dir():  # a missing file: exit 2, as for any other
            raise MissingFileError(f"The letter templates folder {school_folder} does not exist.",
                                   fix="Create it with `attendance templates copy FOLDER`, or correct the policy's "
                                       "`letters`.")
        self.folders = [f for f in (school_folder, letters_folder()) if f is not None]
        self._envs: dict[str, Any] = {}

    def env(self, fmt: str):
        """The sandboxed environment for "wording", "html", "typ" or "txt"."""
        if fmt not in self._envs:
            self._envs[fmt] = environment(self.folders, fmt)
        return self._envs[fmt]

    def names(self) -> list[str]:
        """Letter types available (wording templates), school folder and defaults together."""
        found = {p.stem for folder in self.folders for p in folder.glob("*.j2") if not p.name.startswith("_")}
        return sorted(found)

    def path_of(self, name: str) -> Path | None:
        for folder in self.folders:
            if (folder / name).is_file():
                return folder / name
        return None

    def wording(self, letter: str):
        return self._load("wording", f"{letter}.j2")

    def layout(self, fmt: str):
        env_name, name = _LAYOUT_OF[fmt]
        return self._load(env_name, f"{LAYOUT_DIR}/{name}")

    def preamble(self):
        return self._load("typ", f"{LAYOUT_DIR}/preamble.typ.j2")

    def _load(self, env_name: str, name: str):
        from jinja2 import TemplateNotFound, TemplateSyntaxError

        try:
            template = self.env(env_name).get_template(name)
        except TemplateNotFound as error:
            where = " or ".join(str(f) for f in self.folders)
            raise TemplateError(f"There is no letter template {name!r} (looked in {where}).",
                                fix="Check the rule's `letter` in the policy, or add the template to the school's "
                                    "folder (`attendance templates list` shows the defaults).") from error
        except TemplateSyntaxError as error:
            raise TemplateError(f"Letter template {error.filename or name}, line {error.lineno}: {error.message}.",
                                fix="Correct the template; `attendance templates show NAME` prints the default to "
                                    "compare with.") from error
        if env_name == "wording":
            missing = [b for b in ("subject", "body") if b not in template.blocks]
            if missing:
                raise TemplateError(f"Letter template {template.filename}: no {{% block {missing[0]} %}}.",
                                    fix="A letter template defines {% block subject %} and {% block body %}.")
        return template

    def check(self, letters: list[str], formats: list[str]) -> None:
        """Load every template a run needs, so a broken one fails before anything is written."""
        for letter in letters:
            self.wording(letter)
        for fmt in formats:
            self.layout(fmt)
        if "pdf" in formats:
            self.preamble()


def render_block(template, block: str, context: dict[str, Any]) -> str:
    """One block of a template, with errors naming the template and the line."""
    try:
        return "".join(template.blocks[block](template.new_context(context)))
    except Exception as error:  # jinja's UndefinedError, SecurityError, TypeError from a filter...
        raise template_error(template, error) from error


def render(template, context: dict[str, Any]) -> str:
    try:
        return template.render(context)
    except Exception as error:
        raise template_error(template, error) from error


def template_error(template, error: Exception) -> TemplateError:
    """The template file and line where rendering failed (the innermost template frame, mapped from
    the compiled Python line back to the template's own line)."""
    from jinja2.exceptions import TemplateSyntaxError

    filename, line = template.filename or template.name, None
    if isinstance(error, TemplateSyntaxError):
        filename, line = error.filename or filename, error.lineno
    trace = error.__traceback__
    while trace is not None:
        code = trace.tb_frame.f_code
        if code.co_filename.endswith(".j2"):
            source = template if code.co_filename == template.filename else _template_at(template, code.co_filename)
            filename = code.co_filename
            line = source.get_corresponding_lineno(trace.tb_lineno) if source is not None else None
        trace = trace.tb_next
    where = f"Letter template {filename}" + (f", line {line}" if line else "")
    message = getattr(error, "message", None) or str(error)
    return TemplateError(f"{where}: {message}.", fix="Correct the template (the names it may use are listed by "
                                                      "`attendance templates show x --names`); nothing was written.")


def _template_at(template, filename: str):
    """The loaded template whose file is `filename` (an included one), if it can be found."""
    for folder in template.environment.loader.searchpath:
        if filename.startswith(folder):
            try:
                return template.environment.get_template(Path(filename).relative_to(folder).as_posix())
            except Exception:  # pragma: no cover - only used to find a line number
                return None
    return None


# -- `attendance templates` ---------------------------------------------------------------------


def copy_defaults(target: Path, force: bool = False) -> list[Path]:
    """Copy the default letter templates (and layouts) into `target` for a school to edit."""
    source = letters_folder()
    if target.exists() and any(target.iterdir()) and not force:
        raise UsageError(f"{target} is not empty.", fix="Choose a new folder, or pass --force to overwrite the templates in it.")
    written = []
    for path in sorted(source.rglob("*.j2")):
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        written.append(destination)
    return written


def show(name: str, folder: Path | None = None) -> str:
    templates = Templates(folder)
    candidates = [f"{name}.j2", name, f"{LAYOUT_DIR}/{name}", f"{LAYOUT_DIR}/{name}.j2"]
    for candidate in candidates:
        path = templates.path_of(candidate)
        if path is not None:
            return path.read_text(encoding="utf-8")
    raise UsageError(f"There is no letter template {name!r}.",
                     fix=f"Use one of: {', '.join(templates.names())} (or a layout: letter.typ.j2, letter.html.j2, letter.txt.j2).")


#: What `attendance templates show --names` prints: the names a letter template may use.
NAMES_HELP = """Names a letter template may use (undefined names are errors):

school      name, address (list of lines), telephone, email, website, signatory, signatory_role, headteacher
policy      name, title
date        the date printed on the letter;  as_of: the date the triggers were evaluated
pupil       id, forename, surname, name, year_group, form
recipient   name, salutation (for "Dear ..."), relationship, address (list), email, channel (post/email), on_file,
            student (true when the letter is to the student)
attendance  school year to date: percent (text, rounded down, as `attendance summary` shows it; none if no
            sessions), possible, attended, absences, authorised, unauthorised, days_missed (none for lesson
            registers), lessons (true for lesson registers), lates, minutes_late, from, to,
            persistent_absence, severe_absence, band (name, explanation; none without bands)
event       the trigger: rule_id, letter, ladder, stage, description, value, threshold, measure,
            window_start (none when open), window_end, first_met_on, count, sessions (list of date,
            session, code, meaning, minutes_late)
window      the rule's window: from (its first school day), to, possible, absences, unauthorised, days_missed,
            lates, minutes_late, counted (the marks of the kind the rule counts, all of them in the window)
earlier     the latest letter of the same ladder this school year (letter, date), or none
also        the other events of this run the letter covers (the ladder's `covers`): their descriptions
since       from the earlier letter's date to as_of: date, absences, unauthorised, lates, counted (marks of the
            kind the rule counts), days_missed; none without an earlier letter
request     decision letters on absence requests only (leave-granted, leave-declined, request-decision): id,
            type, type_text, from, to, decision (grant, partial, decline), asked_sessions, asked_days,
            granted_sessions, granted_days, declined_days, granted_from, granted_to, code and code_meaning (for
            the days granted), declined_code and declined_meaning (for the rest), reason, decided_on,
            decided_by, evidence; there event.sessions are the sessions asked for, each with the code to enter

Filters: date ("4 November 2026"; date("day") adds the weekday; date("short") 04/11/2026),
days (5.5 -> "5½ days"), count (3 | count("time") -> "3 times").
Wording format: paragraphs split by blank lines, "- " bullets, **bold**, and the lines ::sessions
(the sessions behind the trigger) and ::figures (the pupil's figures this school year).
"""
