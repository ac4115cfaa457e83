"""The CLI reference (docs/cli.md): the `--help` of every command, generated from the app itself.

Regenerate it with::

    python -m attendance_cli.cli.reference > docs/cli.md      (or: make docs)

and check it is up to date with ``python -m attendance_cli.cli.reference --check`` (exit 1 if not).

The help is rendered as `attendance <path> --help` prints it in a terminal COLUMNS wide, whatever the
real terminal, environment or date: Click's formatter is given the width outright (never asked to
detect it) and prints no colour; a command that prints its help through Rich (Typer's
`rich_markup_mode`) gets a colourless, non-terminal console of that width. Every command and
subcommand is found by walking the Click tree of the app, so a new command is in the reference as
soon as it is registered. `tests/test_cli_reference.py` fails when the file is out of date or a
command is missing from it.

Nothing is imported at module level beyond the standard library: `attendance --help` does not import
this module, and importing it does not build the app.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: The terminal the help is rendered for. Click caps help at the context's max_content_width
#: (80 unless the app sets one), so this prints what any terminal at least that wide shows.
COLUMNS = 100

PROG = "attendance"

#: docs/cli.md of this checkout (the package is installed in editable mode from it).
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "cli.md"

REGENERATE = "python -m attendance_cli.cli.reference > docs/cli.md"

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")

CommandPath = tuple[str, ...]


def root_command() -> Any:
    """The Click command tree of the `attendance` app (built afresh on every call)."""
    import typer.main

    from attendance_cli.cli import app

    return typer.main.get_command(app)


def _subcommands(command: Any, ctx: Any) -> list[tuple[str, Any]]:
    """A group's visible subcommands in the order `--help` lists them (hidden ones are left out, as
    `--help` leaves them out)."""
    if not hasattr(command, "list_commands"):
        return []
    found = []
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is not None and not getattr(sub, "hidden", False):
            found.append((name, sub))
    return found


def _click() -> Any:
    """The Click whose Context the app's commands expect: Typer's vendored copy where it has one
    (Typer 0.2x), else Click itself."""
    try:
        from typer import _click as click  # type: ignore[attr-defined]
    except ImportError:  # older Typer, built on Click
        import click
    return click


def _context(command: Any, name: str, parent: Any, width_given: bool) -> tuple[Any, bool]:
    """The context `attendance <path> --help` would give `command` (its context_settings, the ones it
    inherits, the prog name), with the help width fixed for a COLUMNS-wide terminal; and whether a
    `terminal_width` was set by the app itself (in this command's settings or inherited), which is
    then left as it is."""
    settings = dict(command.context_settings or {})
    ctx = _click().Context(command, parent=parent, info_name=name, **settings)
    width_given = width_given or settings.get("terminal_width") is not None
    if not width_given:
        # what Click's HelpFormatter computes for itself in a COLUMNS-wide terminal
        ctx.terminal_width = max(min(COLUMNS, ctx.max_content_width or 80) - 2, 50)
    ctx.color = False
    return ctx, width_given


def walk() -> Iterator[tuple[CommandPath, Any, Any]]:
    """Every command of the app, root first, then depth first in `--help` order: (path below
    `attendance`, Click command, its context)."""
    root = root_command()

    def visit(path: CommandPath, command: Any, ctx: Any, width_given: bool) -> Iterator[tuple[CommandPath, Any, Any]]:
        yield path, command, ctx
        for name, sub in _subcommands(command, ctx):
            sub_ctx, sub_given = _context(sub, name, ctx, width_given)
            yield from visit(path + (name,), sub, sub_ctx, sub_given)

    root_ctx, given = _context(root, PROG, None, False)
    yield from visit((), root, root_ctx, given)


def command_paths() -> list[CommandPath]:
    """The path of every command below `attendance` (`()` is the root itself)."""
    return [path for path, _, _ in walk()]


@contextlib.contextmanager
def _plain_rich() -> Iterator[None]:
    """For a command that prints its help through Typer's Rich formatter: a colourless console,
    COLUMNS wide, that is not a terminal. Typer reads TERMINAL_WIDTH, FORCE_COLOR, PY_COLORS,
    GITHUB_ACTIONS and _TYPER_FORCE_DISABLE_TERMINAL once, when `typer.rich_utils` is first imported,
    into module constants, so those are set here for the duration; Rich's Console reads NO_COLOR,
    FORCE_COLOR, TTY_COMPATIBLE, COLUMNS and the like when it is created, so those are set too."""
    from typer import rich_utils

    constants = {"MAX_WIDTH": COLUMNS, "FORCE_TERMINAL": False, "COLOR_SYSTEM": None}
    saved_constants = {key: getattr(rich_utils, key) for key in constants if hasattr(rich_utils, key)}
    saved_environ = dict(os.environ)
    for key in ("FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS", "CLICOLOR_FORCE", "TTY_COMPATIBLE",
                "TTY_INTERACTIVE", "JUPYTER_COLUMNS", "JUPYTER_LINES", "TERMINAL_WIDTH"):
        os.environ.pop(key, None)
    os.environ.update({"TERM": "dumb", "NO_COLOR": "1", "COLUMNS": str(COLUMNS), "LINES": "25",
                       "_TYPER_FORCE_DISABLE_TERMINAL": "1"})
    for key, value in constants.items():
        setattr(rich_utils, key, value)
    try:
        yield
    finally:
        for key in constants:
            if key in saved_constants:
                setattr(rich_utils, key, saved_constants[key])
            else:
                delattr(rich_utils, key)
        os.environ.clear()
        os.environ.update(saved_environ)


def help_text(command: Any, ctx: Any) -> str:
    """`command`'s help as `--help` prints it (trailing spaces included), without the final newline
    and without ANSI codes."""
    out = io.StringIO()
    uses_rich = getattr(command, "rich_markup_mode", None) is not None
    with _plain_rich() if uses_rich else contextlib.nullcontext(), contextlib.redirect_stdout(out):
        text = command.get_help(ctx)  # Click returns it; Typer's Rich formatter prints it instead
    text = text or out.getvalue()
    return _ANSI.sub("", text).rstrip("\n")


def title(path: CommandPath) -> str:
    """The heading of a command's section: `attendance <path>`."""
    return " ".join((PROG,) + path)


def anchor(path: CommandPath) -> str:
    """The anchor GitHub (and most Markdown renderers) give the heading `## attendance <path>`."""
    slug = title(path).lower()
    slug = re.sub(r"[^\w\- ]", "", slug)
    return slug.replace(" ", "-")


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def reference_markdown() -> str:
    """docs/cli.md: a table of contents, then for `attendance` and each of its commands and
    subcommands a section `## attendance <path>` holding its `--help` in a ```text block."""
    entries = []
    for path, command, ctx in walk():
        summary = command.get_short_help_str(limit=10_000) if path else ""
        entries.append((path, summary, help_text(command, ctx)))

    lines = [
        f"# {PROG} command reference",
        "",
        "<!-- Generated from the commands' --help; do not edit by hand. Regenerate with:",
        f"     {REGENERATE}   (or: make docs) -->",
        "",
        f"The `--help` of every command and subcommand, as printed in a terminal {COLUMNS} columns "
        "wide (Click wraps help at 78 columns in any terminal wider than 80). "
        f"Regenerate with `{REGENERATE}` (or `make docs`).",
        "",
        "## Contents",
        "",
    ]
    for path, summary, _ in entries:
        indent = "  " * max(len(path) - 1, 0)
        item = f"{indent}- [`{title(path)}`](#{anchor(path)})"
        lines.append(f"{item}: {summary}" if summary else item)
    for path, _, text in entries:
        fence = _fence(text)
        lines += ["", f"## {title(path)}", "", f"{fence}text", text, fence]
    return "\n".join(lines) + "\n"


def stale(path: Path = DEFAULT_PATH) -> str | None:
    """None if `path` holds exactly what `reference_markdown()` generates, else why not."""
    try:
        current = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return f"{path} does not exist"
    except (OSError, UnicodeDecodeError) as error:
        return f"{path} could not be read: {error}"
    if current != reference_markdown():
        return f"{path} is out of date: it is not what the commands' --help prints now"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m attendance_cli.cli.reference",
        description="Print the CLI reference (the --help of every attendance command) as Markdown.",
        epilog=f"Regenerate docs/cli.md with:\n  {REGENERATE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", nargs="?", const=str(DEFAULT_PATH), metavar="FILE",
                        help="print nothing; exit 1 (saying why) if FILE, by default this checkout's "
                             "docs/cli.md, is not what would be generated now")
    args = parser.parse_args(argv)
    if args.check is not None:
        problem = stale(Path(args.check))
        if problem:
            sys.stderr.write(f"{problem}. Regenerate it with:  {REGENERATE}  (or: make docs)\n")
            return 1
        return 0
    data = reference_markdown().encode("utf-8")
    # bytes, so the file is UTF-8 with \n line ends whatever the platform's console encoding
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
