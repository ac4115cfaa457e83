"""`attendance codes`: print the active code table."""

from __future__ import annotations

from typing import Annotated

import typer

from attendance_cli.cli import common as c


def register(app: typer.Typer) -> None:
    app.command("codes", short_help="Print a code table and what each mark counts as.", epilog=c.examples(
        "attendance codes", "attendance codes --codes college", "attendance codes --list",
        "attendance codes --codes my-codes.toml -f csv > codes.csv"))(codes)


def codes(
    codes: c.CodesOpt = "dfe",
    list_presets: Annotated[bool, typer.Option("--list", help="List the code tables shipped with the toolkit.")] = False,
    fmt: c.FormatOpt = None,
    output: c.OutOpt = None,
) -> None:
    """Print a code table: every mark, what it means and what it counts as.

    Copy a preset (the TOML files in attendance_cli/codes/), or save this command's CSV
    (-o codes.csv) and edit it, to make your own table, and pass it with --codes FILE to any
    command. A TOML table with `extends = "dfe"` adds its codes to a preset's.
    """
    with c.user_errors():
        import polars as pl

        from attendance_cli.codes import ATTENDED, POSSIBLE, list_presets as presets, load_code_table
        from attendance_cli.ingest.dates import format_date
        from attendance_cli.outputs import choose_format, write_frame

        if list_presets:
            for name in presets():
                table = load_code_table(name)
                typer.echo(f"{name:10} {table.title}")
            return
        table = load_code_table(codes)
        rows = [{
            "code": code.code, "meaning": code.meaning, "category": code.category,
            "possible_session": code.category in POSSIBLE, "attendance": code.category in ATTENDED,
            "late": code.late, "valid_from": format_date(code.valid_from) or None,
            "valid_until": format_date(code.valid_until) or None, "aliases": " ".join(code.aliases) or None,
            "closure": code.closure,
        } for code in table.codes]
        frame = pl.DataFrame(rows, schema={"code": pl.String, "meaning": pl.String, "category": pl.String,
                                           "possible_session": pl.Boolean, "attendance": pl.Boolean, "late": pl.String,
                                           "valid_from": pl.String, "valid_until": pl.String, "aliases": pl.String,
                                           "closure": pl.Boolean})
        out_format = choose_format(fmt.value if fmt else None, output, c.stdout_is_terminal())
        if out_format == "table":
            from attendance_cli.cli.render import print_table

            print_table(frame, title=f"Code table '{table.name}': {table.title}", caption=f"Source: {table.source}")
        else:
            write_frame(frame, out_format, output, sheet="codes")
