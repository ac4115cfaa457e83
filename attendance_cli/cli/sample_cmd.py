"""`attendance sample`: write the synthetic sample exports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from attendance_cli.cli import common as c


def register(app: typer.Typer) -> None:
    app.command("sample", short_help="Write synthetic sample exports (fictional schools).",
                epilog=c.examples("attendance sample --out sample_data", "attendance sample --out /tmp/demo --seed 7"))(sample)


def sample(
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Folder to write the exports into.", file_okay=False)] = Path("sample_data"),
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Random seed; the same seed writes the same files.")] = 2026,
) -> None:
    """Write synthetic register exports of fictional schools (no real people).

    A primary (Arbor, long and grid), a secondary (Arbor, including the warehouse layout) and a
    college (Progresso lessons and roll call), for 2025/26 and the autumn term 2026, with
    realistic absence and the quirks real exports have.
    """
    with c.user_errors():
        from attendance_cli.sample import write_samples

        with c.progress("Writing sample exports"):
            paths = write_samples(out, seed)
        for path in paths:
            typer.echo(str(path))
