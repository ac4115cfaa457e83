"""The `attendance` command line: a thin layer over the library.

Each command parses its options, calls the pipeline (ingest → calendar → statistics → outputs)
and prints. Results go to stdout, diagnostics to stderr. Exit codes: 0 success, 1 the data or a
configuration file could not be used (nothing written), 2 usage error, 3 finished with rows set
aside by --lenient.
"""

from __future__ import annotations

import os
import sys

import typer

from attendance_cli import __version__
from attendance_cli.cli import common

app = typer.Typer(
    name="attendance",
    help="Attendance figures from school and college register exports (Arbor, Progresso and others), "
         "by the DfE method.\n\nStart with:  attendance summary export.csv",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"attendance {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show a full traceback when something fails."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    common.set_debug(debug)


from attendance_cli.cli import (  # noqa: E402
    calendar_cmd, codes_cmd, history_cmd, ingest_cmd, letters_cmd, policy_cmd, report_cmd, sample_cmd, summary_cmd,
    triggers_cmd,
)

for module in (ingest_cmd, summary_cmd, triggers_cmd, letters_cmd, report_cmd, history_cmd, policy_cmd, codes_cmd, calendar_cmd, sample_cmd):
    module.register(app)


def main() -> None:
    """Console entry point. `| head` must not print a broken-pipe traceback."""
    try:
        app()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted; nothing was written.\n")
        sys.exit(130)
