"""`attendance policy`: list, show, copy and check attendance policies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from attendance_cli.cli import common as c

app = typer.Typer(
    name="policy", no_args_is_help=True, rich_markup_mode=None,
    help="Attendance policies: the school's thresholds as a TOML file of rules.",
    epilog=c.examples("attendance policy list", "attendance policy show primary-academy",
                      "attendance policy init primary-academy my-school.toml   # copy a preset to edit",
                      "attendance policy check my-school.toml"),
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="policy", short_help="List, show, copy (init) and check attendance policies.")


@app.command("list", epilog=c.examples("attendance policy list"))
def list_policies() -> None:
    """The policies shipped with the toolkit."""
    with c.user_errors():
        from attendance_cli.rules.policy import list_presets, load_policy

        for name in list_presets():
            policy = load_policy(name)
            parent = load_policy_extends(name)
            based = f" (extends {parent})" if parent else ""
            typer.echo(f"{name:17} {len(policy.rules):2} rules  {policy.title}{based}")


def load_policy_extends(name: str) -> str | None:
    import tomllib

    from attendance_cli.rules.policy import preset_path

    return tomllib.loads(preset_path(name).read_text(encoding="utf-8")).get("extends")


@app.command("show", epilog=c.examples("attendance policy show dfe-national", "attendance policy show my-school.toml -f csv"))
def show(
    name: Annotated[str, typer.Argument(metavar="NAME|FILE", help="A preset name or a policy file.")],
    fmt: c.FormatOpt = None,
    output: c.OutOpt = None,
) -> None:
    """Every rule of a policy (including those it extends): kind, stage, window, condition, letter, source."""
    with c.user_errors():
        from attendance_cli.codes import load_code_table
        from attendance_cli.outputs import choose_format, write_frame
        from attendance_cli.rules.policy import check_codes, load_policy, policy_path, rules_frame

        c.check_policy_file(name)
        policy = load_policy(name)
        check_codes(policy, load_code_table(policy.codes), str(policy_path(name)))
        frame = rules_frame(policy)
        out_format = choose_format(fmt.value if fmt else None, output, c.stdout_is_terminal())
        if out_format == "table":
            from rich.console import Console

            from attendance_cli.cli.render import print_table

            print_table(frame.drop("source", "description"),
                        title=f"Policy {policy.name}: {policy.title}",
                        caption=f"Codes: {policy.codes}. Calendar: {policy.calendar}. Source: {policy.source}")
            if policy.bands:
                console = Console(highlight=False)
                console.print("Attendance bands:")
                for band, low, high in policy.band_of():
                    span = f"{low:g}% up to {high:g}%" if high is not None else f"{low:g}% to 100%"
                    console.print(f"  {band}: {span}", markup=False)
        else:
            write_frame(frame, out_format, output, sheet="rules")


@app.command("init", epilog=c.examples("attendance policy init primary-academy my-school.toml"))
def init(
    name: Annotated[str, typer.Argument(metavar="PRESET", help="The preset to start from (see 'attendance policy list').")],
    path: Annotated[Path, typer.Argument(metavar="FILE", help="Where to write your copy (.toml).", dir_okay=False)],
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Copy a preset policy to a file you can edit (change thresholds, codes, letters; add rules)."""
    with c.user_errors():
        from attendance_cli.errors import UsageError
        from attendance_cli.outputs import atomic_write
        from attendance_cli.rules.policy import preset_path

        source = preset_path(name)
        if path.exists() and not force:
            raise UsageError(f"{path} already exists.", fix="Choose another name, or pass --force to overwrite it.")
        text = source.read_text(encoding="utf-8")
        text = text.replace(f'name = "{name}"', f'name = "{path.stem}"', 1)
        atomic_write(path, lambda temp: temp.write_text(text, encoding="utf-8"))
        c.stderr_console().print(f"Wrote {path} (a copy of {name}). Check it with: attendance policy check {path}",
                                 markup=False)


@app.command("check", epilog=c.examples("attendance policy check my-school.toml"))
def check(path: Annotated[str, typer.Argument(metavar="FILE", help="The policy file to check.")]) -> None:
    """Validate a policy file: every key known, every value allowed, every code in its code table, every
    letter it names a template (the school's own or a default)."""
    with c.user_errors():
        from attendance_cli.codes import load_code_table
        from attendance_cli.rules.policy import check_codes, load_policy, policy_path

        c.check_policy_file(path)
        policy = load_policy(path)
        table = load_code_table(policy.codes)
        check_codes(policy, table, str(policy_path(path)))
        # every letter the policy names, in the school's folder or the defaults: a missing one would stop
        # the week's letters run
        from attendance_cli.letters.templates import Templates

        letters = sorted({rule.letter for rule in policy.rules if rule.letter}
                         | set(policy.requests.letters if policy.requests else []))
        Templates(Path(policy.letters) if policy.letters else None).check(letters, [])
        typer.echo(f"{path}: OK. Policy {policy.name!r}, {len(policy.rules)} rules, code table {table.name!r}, "
                   f"calendar {policy.calendar}" + (f", {len(policy.bands)} bands." if policy.bands else "."))
