"""docs/cli.md, the CLI reference: every command and subcommand of the app is in it, it is exactly
what `attendance_cli.cli.reference` generates now, each section is what `--help` prints, and the
generation does not depend on the terminal or the environment."""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from attendance_cli.cli import reference

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "cli.md"
HOW = f"Regenerate it with:  {reference.REGENERATE}  (or: make docs)"

#: Commands that must be found, so the tests below cannot pass on an empty walk.
KNOWN_COMMANDS = {"ingest", "summary", "triggers", "letters", "report", "slips", "digest", "history", "calendar",
                  "codes", "policy", "case", "sample", "templates"}
#: Subcommands, so the walk is known to go down into groups.
KNOWN_SUBCOMMANDS = {("case", "record"), ("case", "import"), ("case", "list"), ("policy", "list"),
                     ("policy", "show"), ("policy", "init"), ("policy", "check"), ("templates", "list"),
                     ("templates", "show"), ("templates", "copy")}


def _name(path: tuple[str, ...]) -> str:
    return reference.title(path)


def _sections(markdown: str) -> tuple[list[tuple[str, ...]], list[str]]:
    """The `## attendance ...` headings outside code blocks, as command paths, and the anchors the
    table of contents links to."""
    headings, links, fence = [], [], None
    for line in markdown.splitlines():
        opening = re.match(r"^(`{3,})", line)
        if fence is not None:
            if line.strip() == fence:
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        heading = re.match(rf"^## ({reference.PROG}(?: \S+)*)\s*$", line)
        if heading:
            headings.append(tuple(heading.group(1).split()[1:]))
        links += re.findall(r"\]\(#([^)]+)\)", line)
    return headings, links


@pytest.fixture(scope="module")
def paths() -> list[tuple[str, ...]]:
    return reference.command_paths()


@pytest.fixture(scope="module")
def doc() -> str:
    if not DOC.exists():
        pytest.fail(f"{DOC.relative_to(ROOT)} does not exist. {HOW}")
    return DOC.read_text(encoding="utf-8")


def test_the_walk_finds_every_known_command_and_subcommand(paths):
    assert paths[0] == (), "the walk starts at `attendance` itself"
    assert len(paths) == len(set(paths)), "no command is visited twice"
    top = {path[0] for path in paths if len(path) == 1}
    assert not KNOWN_COMMANDS - top, f"commands not found by the walk: {sorted(KNOWN_COMMANDS - top)}"
    nested = {path for path in paths if len(path) == 2}
    missing = sorted(" ".join(path) for path in KNOWN_SUBCOMMANDS - nested)
    assert not missing, f"subcommands not found by the walk: {missing}"
    # each group's subcommands follow it, as its --help lists them
    for group in ("case", "policy", "templates"):
        start = paths.index((group,))
        assert all(p[:1] == (group,) for p in paths[start:start + 4])


def test_every_command_is_in_the_reference(paths, doc):
    headings, links = _sections(doc)
    missing = [_name(path) for path in paths if path not in headings]
    assert not missing, f"docs/cli.md has no section for: {', '.join(missing)}. {HOW}"
    unlisted = [_name(path) for path in paths if reference.anchor(path) not in links]
    assert not unlisted, f"the contents of docs/cli.md do not link to: {', '.join(unlisted)}. {HOW}"
    gone = [_name(path) for path in headings if path not in paths]
    assert not gone, f"docs/cli.md has sections for commands the app no longer has: {', '.join(gone)}. {HOW}"


def test_the_reference_is_up_to_date(doc):
    fresh = reference.reference_markdown()
    if doc != fresh:
        diff = list(difflib.unified_diff(doc.splitlines(), fresh.splitlines(), "docs/cli.md", "generated now",
                                         lineterm="", n=1))
        shown = "\n".join(diff[:40]) + ("\n..." if len(diff) > 40 else "")
        pytest.fail(f"docs/cli.md is out of date. {HOW}\n{shown}")


def test_the_anchors_are_unique_and_match_the_headings(paths):
    anchors = [reference.anchor(path) for path in paths]
    assert len(anchors) == len(set(anchors))
    assert reference.anchor(("case", "record")) == "attendance-case-record"
    assert reference.anchor(()) == "attendance"


#: Runs `attendance <path> --help` for each path read from stdin (one JSON list a line), as the console
#: script does, and prints the help texts as a JSON list.
_RUN_HELP = """
import contextlib, io, json, sys
from attendance_cli.cli import main
texts = []
for line in sys.stdin:
    sys.argv = ["attendance", *json.loads(line), "--help"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main()
        except SystemExit as end:
            assert end.code in (0, None), (sys.argv, end.code)
    texts.append(out.getvalue())
sys.__stdout__.write(json.dumps(texts))
"""


def test_each_section_is_what_help_prints(paths):
    """The rendering is the real --help: `attendance <path> --help` in a terminal reference.COLUMNS
    wide (Click finds the width itself, from COLUMNS) prints exactly the section's text."""
    env = dict(os.environ, COLUMNS=str(reference.COLUMNS))
    result = subprocess.run([sys.executable, "-c", _RUN_HELP], cwd=ROOT, env=env, capture_output=True, text=True,
                            input="".join(json.dumps(list(path)) + "\n" for path in paths))
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert len(printed) == len(paths)
    for (path, command, ctx), text in zip(reference.walk(), printed, strict=True):
        assert text.startswith("Usage: " + _name(path)), _name(path)
        assert reference.help_text(command, ctx) == text.rstrip("\n"), _name(path)


def test_the_generation_ignores_the_terminal_and_the_environment():
    hostile = dict(os.environ, COLUMNS="40", LINES="5", TERMINAL_WIDTH="50", FORCE_COLOR="1", PY_COLORS="1",
                   CLICOLOR_FORCE="1", GITHUB_ACTIONS="true", TERM="xterm-256color", LANG="C", LC_ALL="C",
                   TZ="Pacific/Kiritimati", PYTHONIOENCODING="latin-1")
    hostile.pop("NO_COLOR", None)
    out = subprocess.run([sys.executable, "-m", "attendance_cli.cli.reference"], cwd=ROOT, env=hostile,
                         capture_output=True, check=True).stdout
    assert b"\x1b[" not in out
    assert out.decode("utf-8") == reference.reference_markdown()


def test_check_mode(tmp_path):
    fresh = tmp_path / "cli.md"
    fresh.write_bytes(reference.reference_markdown().encode("utf-8"))
    command = [sys.executable, "-m", "attendance_cli.cli.reference", "--check"]
    ok = subprocess.run([*command, str(fresh)], cwd=ROOT, capture_output=True, text=True)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")

    stale = tmp_path / "stale.md"
    stale.write_text(reference.reference_markdown().replace("Usage:", "Usage :", 1), encoding="utf-8")
    missing = tmp_path / "missing.md"
    for path, why in ((stale, "out of date"), (missing, "does not exist")):
        result = subprocess.run([*command, str(path)], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 1 and result.stdout == ""
        assert why in result.stderr and reference.REGENERATE in result.stderr


def test_help_does_not_import_the_reference():
    code = ("import sys\n"
            "sys.argv = ['attendance', '--help']\n"
            "from attendance_cli.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(str('attendance_cli.cli.reference' in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert "Usage: attendance" in result.stdout
    assert result.stderr == "False"
