"""Command-line conventions a user meets: shell completion, --debug anywhere on the line, help text
that names values in words (never a Python type)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from attendance_cli.cli import reference

BIN = Path(sys.executable).parent
ATTENDANCE = BIN / "attendance"
ROOT = Path(__file__).resolve().parents[1]


def _attendance(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(ATTENDANCE), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kwargs)


# -- shell completion ----------------------------------------------------------------------------

def test_bash_completion_script_is_valid_bash_and_completes_in_a_real_bash():
    script = _attendance("completion", "bash")
    assert script.returncode == 0, script.stderr
    assert "complete -o default -F _attendance_completion attendance" in script.stdout
    syntax = subprocess.run(["bash", "-n"], input=script.stdout, capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    # what Tab does: bash loads the script, fills COMP_WORDS and calls the completion function
    probe = ('eval "$(attendance completion bash)"\n'
             'complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=(); '
             '_attendance_completion attendance; printf "%s\\n" "${COMPREPLY[@]}"; echo "--"; }\n'
             'complete_words attendance su\n'
             'complete_words attendance summary --win\n'
             'complete_words attendance summary --window h\n'
             'complete_words attendance policy ch\n')
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", probe], capture_output=True, text=True,
                          env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("--\n") == ["summary\n", "--window\n", "half-term\n", "check\n", ""]


@pytest.mark.parametrize("instruction", ["complete_bash", "bash_complete"])
def test_completion_protocol_answers_subcommand_names(instruction):
    """The script's call (Typer's complete_bash) and Click's order (bash_complete) both answer."""
    done = _attendance(env={"_ATTENDANCE_COMPLETE": instruction, "COMP_WORDS": "attendance su", "COMP_CWORD": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["summary"]
    every = _attendance(env={"_ATTENDANCE_COMPLETE": instruction, "COMP_WORDS": "attendance ", "COMP_CWORD": "1"})
    assert {"summary", "letters", "report", "completion", "trust"} <= set(every.stdout.split())


@pytest.mark.parametrize("shell, line", [
    ("zsh", "compdef _attendance_completion attendance"),
    ("fish", "complete --command attendance"),
    ("powershell", "Register-ArgumentCompleter -Native -CommandName attendance"),
])
def test_completion_scripts_for_other_shells(shell, line):
    done = _attendance("completion", shell)
    assert done.returncode == 0 and line in done.stdout
    if shell == "zsh" and shutil.which("zsh"):
        assert subprocess.run(["zsh", "-n"], input=done.stdout, text=True).returncode == 0


def test_completion_takes_the_shell_from_SHELL_or_says_to_name_it():
    assert _attendance("completion", env={"SHELL": "/usr/bin/bash"}).stdout == _attendance("completion", "bash").stdout
    unknown = _attendance("completion", env={"SHELL": "/bin/tcsh"})
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr == ("Error: Could not tell which shell this is ($SHELL is /bin/tcsh).\n"
                              "  Fix: Name it: attendance completion bash (or zsh, fish, powershell).\n")


def test_completing_does_not_import_polars():
    """Tab must answer at once: neither the script nor an answer loads Polars."""
    probe = ("import os, sys; sys.argv = ['attendance'] + sys.argv[1:]\n"
             "from attendance_cli.cli import main\n"
             "try: main()\nexcept SystemExit: pass\n"
             "print('polars' in sys.modules, file=sys.stderr)")
    for args, env in ((["completion", "bash"], {}),
                      ([], {"_ATTENDANCE_COMPLETE": "complete_bash", "COMP_WORDS": "attendance summary --w", "COMP_CWORD": "2"})):
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                              env={**os.environ, **env})
        assert done.stdout and done.stderr == "False\n", (args, done.stderr)


# -- --debug before or after the subcommand --------------------------------------------------------

@pytest.fixture
def unreadable(tmp_path) -> Path:
    path = tmp_path / "not-a-register.csv"
    path.write_text("a,b\n1,2\n")
    return path


@pytest.mark.parametrize("where", ["before", "after", "among options"])
def test_debug_shows_the_traceback_wherever_it_is_on_the_line(unreadable, where):
    args = {"before": ["--debug", "summary", str(unreadable)],
            "after": ["summary", str(unreadable), "--debug"],
            "among options": ["summary", "--debug", str(unreadable), "-q"]}[where]
    done = _attendance(*args)
    assert done.returncode != 0
    assert done.stderr.startswith("Traceback (most recent call last):")
    assert done.stderr.rstrip().endswith(
        f"attendance_cli.errors.InputError: {unreadable}: cannot tell what kind of export this is.")


def test_without_debug_the_same_failure_is_one_error(unreadable):
    done = _attendance("summary", str(unreadable))
    assert done.returncode == 1
    assert done.stderr.startswith(f"Error: {unreadable}: cannot tell what kind of export this is.\n")
    assert "Traceback" not in done.stderr


def test_debug_after_a_subcommand_of_a_group(tmp_path):
    missing = tmp_path / "policy.toml"
    missing.write_text("not = [valid")
    plain = _attendance("policy", "check", str(missing))
    assert plain.returncode != 0 and "Traceback" not in plain.stderr
    debug = _attendance("policy", "check", str(missing), "--debug")
    assert "Traceback (most recent call last):" in debug.stderr


# -- help without Python types ---------------------------------------------------------------------

PYTHON_TYPES = re.compile(r"list\[|Path\]|<class|Optional\[|\bNoneType\b|<(?:str|int|float|bool|file|dir|path)>"
                          r"|<[^<>\s]*\|[^<>\s]*>")


def test_no_help_shows_a_python_type(run):
    paths = reference.command_paths()
    assert len(paths) > 30 and ("summary",) in paths and ("policy", "check") in paths
    for path in paths:
        result = run(*path, "--help")
        assert result.exit_code == 0, path
        found = PYTHON_TYPES.findall(result.stdout)
        assert not found, f"attendance {' '.join(path)} --help shows {found}"
        if path:
            assert "--debug" in result.stdout, path
    assert not PYTHON_TYPES.findall((ROOT / "docs" / "cli.md").read_text(encoding="utf-8"))


def test_arguments_and_options_are_named_in_words(run):
    summary = run("summary", "--help").stdout
    assert re.search(r"^  EXPORT  Register exports", summary, re.M)
    assert re.search(r"^  -f, --format pdf\|html\|txt\|eml ", run("letters", "--help").stdout, re.M)
    assert re.search(r"^  --title TEXT ", run("report", "--help").stdout, re.M)
    assert re.search(r"^  TARGET  A new folder", run("templates", "copy", "--help").stdout, re.M)
    assert re.search(r"^  NAME  A letter type", run("templates", "show", "--help").stdout, re.M)
