"""Templates: the one Jinja environment factory for letters, reports, slips and digests, what it
escapes for each output, and the filters every template may use.

Every template runs in Jinja's immutable sandbox (a school edits its own letters) with undefined
names as errors, and every `{{ value }}` is escaped for its output: HTML entities, a Typst string
literal, the letters' wording format, or nothing for plain text. `Safe` text (already in its
output's form, such as rendered wording) is not escaped again.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from attendance_cli.letters import markup

#: The outputs a template can write, each with its escaping ("plain": values written as Python
#: prints them, for the tool's own text such as the validation report).
OUTPUTS = ("wording", "html", "typ", "txt", "plain")


class Safe(str):
    """Text already in its output's form (the rendered wording): not escaped again."""


def escaper(fmt: str) -> Callable[[Any], str]:
    """How a `{{ value }}` is written into output `fmt` (see OUTPUTS)."""
    if fmt == "wording":
        return markup.literal
    if fmt == "html":
        return lambda value: value if isinstance(value, Safe) else html.escape("" if value is None else str(value))
    if fmt == "typ":
        return lambda value: value if isinstance(value, Safe) else "#" + markup.typst_string("" if value is None else str(value))
    return lambda value: value if isinstance(value, Safe) else ("" if value is None else str(value))


def environment(folders: Sequence[Path], fmt: str, *, autoescape: bool = False, keep_trailing_newline: bool = True):
    """The sandboxed environment for templates in `folders` (searched in order) writing `fmt`.

    `autoescape`: Jinja's own HTML escaping (the reports' pages, whose values are escaped by it
    rather than by `escaper`)."""
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader([str(f) for f in folders]), undefined=StrictUndefined, autoescape=autoescape,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=keep_trailing_newline,
        finalize=None if autoescape or fmt == "plain" else escaper(fmt))
    env.filters.update(FILTERS)
    return env


# -- filters available in templates ------------------------------------------------------------

def _date(value: Any, style: str = "long") -> str:
    import datetime as dt

    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    if style == "short":
        return f"{value:%d/%m/%Y}"
    return f"{value:%A} {value.day} {value:%B %Y}" if style == "day" else f"{value.day} {value:%B %Y}"


def _days(value: Any) -> str:
    """Days as words a family reads: 1 day, 4½ days, 0 days."""
    if value is None:
        return ""
    whole, half = divmod(round(float(value) * 2), 2)
    text = (f"{whole:,}" if whole or not half else "") + ("½" if half else "")
    return f"{text} day" + ("" if (whole, half) in ((1, 0), (0, 1)) else "s")


def _count(value: int, noun: str, plural: str | None = None) -> str:
    return f"{value:,} {noun if value == 1 else (plural or noun + 's')}"


def _typst_str(value: Any) -> Safe:
    """A value as a Typst string literal, for arguments in a Typst layout (`title: {{ subject | typst_str }}`)."""
    return Safe(markup.typst_string("" if value is None else str(value)))


FILTERS: dict[str, Callable[..., str]] = {"date": _date, "days": _days, "count": _count, "typst_str": _typst_str}
