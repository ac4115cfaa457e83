"""`attendance completion`: print the shell's completion script (commands, options and their choices
complete on Tab).

The script calls `attendance` back with `_ATTENDANCE_COMPLETE` set (Typer's protocol); the root
command answers it (`cli._Root._main_shell_completion`). Nothing here is imported by a normal run.
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from attendance_cli.cli import common as c

PROG = "attendance"
COMPLETE_VAR = "_ATTENDANCE_COMPLETE"
SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")

#: How each shell loads the script, for the help and the error when no shell is named.
INSTALL = {
    "bash": "attendance completion bash >> ~/.bashrc",
    "zsh": "attendance completion zsh >> ~/.zshrc",
    "fish": "attendance completion fish > ~/.config/fish/completions/attendance.fish",
    "powershell": "attendance completion powershell >> $PROFILE",
}


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"
    pwsh = "pwsh"


def register(app: typer.Typer) -> None:
    app.command("completion", short_help="Print the shell completion script (bash, zsh, fish, powershell).",
                epilog=c.examples(*INSTALL.values(), "eval \"$(attendance completion bash)\"    (this shell only)"))(completion)


def shell_protocol() -> None:
    """Teach Click the shells Typer completes (bash, zsh, fish, powershell): only when a shell asks."""
    from typer._completion_classes import completion_init

    completion_init()


def script(shell: str) -> str:
    """The completion script for `shell`."""
    from typer._completion_shared import get_completion_script

    shell_protocol()
    return get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell)


def _detected() -> Optional[str]:
    """The login shell's name from $SHELL (bash, zsh, fish), if it is one completion knows."""
    name = Path(os.environ.get("SHELL", "")).name
    return name if name in SHELLS else None


def completion(
    shell: Annotated[Optional[Shell], typer.Argument(
        metavar="SHELL", help="bash, zsh, fish or powershell. Default: the shell in $SHELL.", show_default=False)] = None,
) -> None:
    """Print the script that makes the shell complete attendance's commands, options and choices
    on Tab. Add it to the shell's start-up file once (see the examples), then open a new terminal.
    """
    with c.user_errors():
        name = shell.value if shell is not None else _detected()
        if name is None:
            from attendance_cli.errors import UsageError

            raise UsageError("Could not tell which shell this is ($SHELL is "
                             f"{os.environ.get('SHELL') or 'not set'}).",
                             fix="Name it: attendance completion bash (or zsh, fish, powershell).")
        typer.echo(script(name))
