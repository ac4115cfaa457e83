"""The `attendance` command line: a thin layer over the library.

Each command parses its options, calls the pipeline (ingest → calendar → statistics → outputs)
and prints. Results go to stdout, diagnostics to stderr. Exit codes: 0 success, 1 the data or a
configuration file could not be used, or a file could not be written (nothing written), 2 usage
error or a missing file, 3 finished with rows set aside by --lenient, 4 --send finished with
messages failed or unknown, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import os
import signal
import sys

import typer
import typer.core

from attendance_cli import __version__
from attendance_cli.errors import EXIT_USAGE
from attendance_cli.cli import common


class _Root(typer.core.TyperGroup):
    """The `attendance` command. Every failure of a subcommand, including its options' checks,
    passes through `invoke`: reported here as one line (`common.failures`), before Typer would
    turn Ctrl-C into a silent exit 130 and anything else into a traceback. Tests driving `app`
    with CliRunner meet the same handling as `main()`.

    Built once the whole tree of commands is (Typer builds it when the app runs): every command
    and group below also takes `--debug` (`attendance summary x.csv --debug`), and every help
    shows a readable name for each value, never a Python type (`EXPORT`, not `EXPORT
    <list[Path]>`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        debug = next(param for param in self.params if param.name == "debug")
        for command in _below(self):
            command.params.append(_debug_anywhere(debug))
            for param in command.params:
                _readable(param)

    def invoke(self, ctx):
        with common.failures():
            return super().invoke(ctx)

    def _main_shell_completion(self, ctx_args, prog_name, complete_var=None):
        """Shell completion (`attendance completion`): the completion classes are registered only
        when a shell asks (the app adds no --install-completion options, which would cost every
        start-up). Click's order of the instruction (bash_complete) is taken as Typer's
        (complete_bash)."""
        complete_var = complete_var or f"_{prog_name}_COMPLETE".replace("-", "_").upper()
        instruction = os.environ.get(complete_var)
        if instruction:
            from attendance_cli.cli.completion_cmd import SHELLS, shell_protocol

            shell_protocol()
            first, _, second = instruction.partition("_")
            if first in SHELLS and second in ("complete", "source"):
                os.environ[complete_var] = f"{second}_{first}"
        return super()._main_shell_completion(ctx_args, prog_name, complete_var)


def _below(group):
    """Every command and group under `group`, depth first."""
    for command in getattr(group, "commands", {}).values():
        yield command
        yield from _below(command)


def _debug_anywhere(root_debug):
    """The root's --debug, for a command below it: eager, so it is set before any other option's
    check can fail (the root's own callback has already run by then)."""
    import copy

    def turn_on(ctx, param, value):
        if value:
            common.set_debug(True)
        return value

    option = copy.copy(root_debug)
    option.expose_value = False
    option.is_eager = True
    option.callback = turn_on
    return option


def _readable(param) -> None:
    """A name for the value in help, never a Python type: an argument is shown by its name alone
    (Typer 0.2x would add `<list[Path]>` or `<str>`), upper case; an option without a metavar gets
    its choices (pdf|html), FILE, FOLDER, N, NUMBER or TEXT."""
    descriptor = getattr(param, "type_descriptor", None)  # Typer >= 0.2x; older Typer shows Click's names
    if param.param_type_name == "argument":
        if param.metavar is None:
            param.metavar = param.name.upper()
        if hasattr(param, "display_type_rich"):
            param.display_type_rich = lambda ctx: None
    elif param.metavar is None and not getattr(param, "is_flag", False) and not getattr(param, "count", False) \
            and descriptor is not None:
        if descriptor.is_choice:
            param.metavar = "|".join(str(getattr(choice, "value", choice)) for choice in descriptor.choices)
        elif descriptor.is_path:
            param.metavar = "FOLDER" if descriptor.path_type == "dir" else "FILE"
        else:
            param.metavar = {int: "N", float: "NUMBER"}.get(descriptor.annotation, "TEXT")


app = typer.Typer(
    cls=_Root,
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
    calendar_cmd, case_cmd, codes_cmd, completion_cmd, history_cmd, ingest_cmd, letters_cmd, policy_cmd, report_cmd, requests_cmd, sample_cmd,
    send_cmd, summary_cmd, triggers_cmd, trust_cmd,
)

for module in (ingest_cmd, summary_cmd, triggers_cmd, letters_cmd, send_cmd, requests_cmd, report_cmd, history_cmd, case_cmd,
               policy_cmd, codes_cmd, calendar_cmd, sample_cmd, completion_cmd, trust_cmd):  # trust_cmd: many schools, a trust or local authority
    module.register(app)


def _streams() -> None:
    """Results written to a pipe or a file are UTF-8 on every platform: Windows would otherwise encode
    them in the console's code page (cp1252 cannot write Łukasz). A terminal keeps its own encoding
    (Rich draws for it). A closed stdout (`>&-`) has nowhere to put results: said at once, before
    anything is read, written or recorded."""
    if sys.stderr is None:  # nowhere to report anything: a message would only fail again
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    if sys.stdout is None:
        sys.stderr.write("Error: Standard output is closed, so the results have nowhere to go; nothing was read, "
                         "written or recorded.\n  Fix: Redirect it to a file (> results.csv), or to /dev/null (NUL on "
                         "Windows) when the results go to a file with -o.\n")
        sys.exit(EXIT_USAGE)
    for stream, errors in ((sys.stdout, "strict"), (sys.stderr, "backslashreplace")):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if encoding != "utf8" and hasattr(stream, "reconfigure") and not stream.isatty():
            stream.reconfigure(encoding="utf-8", errors=errors)


def main() -> None:
    """Console entry point. Failures are reported by the root command (`_Root.invoke`); here, `| head`
    must not print a broken-pipe traceback, and Ctrl-C before a command starts is reported too, and
    after it ends, ignored."""
    _streams()
    try:
        app()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except KeyboardInterrupt:
        sys.stderr.write(common.INTERRUPTED + "\n")
        sys.exit(130)
    finally:
        # the command is over: Ctrl-C while Python shuts down (joining threads, atexit) would only
        # print a traceback, or turn a finished run's exit code into 130
        signal.signal(signal.SIGINT, signal.SIG_IGN)
