"""Bad inputs and hostile surroundings: each is one clear error (the exact first line), no traceback,
and nothing written; or, where the input is fine, the right result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ARBOR_HEADER


def attendance(*args, cwd: Path, env: dict | None = None, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "attendance_cli", *map(str, args)], cwd=cwd, capture_output=True,
                          env={**os.environ, **(env or {})}, **options)


def test_results_in_a_pipe_are_utf8_whatever_the_console_code_page(tmp_path):
    export = tmp_path / "e.csv"
    export.write_text(f"{ARBOR_HEADER}\nS1,Nowak,Łukasz,Year 3,3A,02/11/2026,AM,/,\n", encoding="utf-8")
    for fmt in ("json", "csv"):
        done = attendance("summary", export, "-f", fmt, cwd=tmp_path, env={"PYTHONIOENCODING": "cp1252"})
        assert done.returncode == 0, done.stderr
        assert "Łukasz" in done.stdout.decode("utf-8")
    rows = json.loads(attendance("summary", export, "-f", "json", cwd=tmp_path,
                                 env={"PYTHONIOENCODING": "cp1252"}).stdout.decode("utf-8"))
    assert rows[0]["forename"] == "Łukasz"


def test_a_closed_stdout_is_said_at_once(tmp_path):
    export = tmp_path / "e.csv"
    export.write_text(f"{ARBOR_HEADER}\nS1,Nowak,Amy,Year 3,3A,02/11/2026,AM,/,\n", encoding="utf-8")
    done = subprocess.run(f'"{sys.executable}" -m attendance_cli summary "{export}" >&-', shell=True, cwd=tmp_path,
                          capture_output=False, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == ("Error: Standard output is closed, so the results have nowhere to go; "
                                           "nothing was read, written or recorded.")
    assert "Traceback" not in done.stderr


def test_an_output_file_whose_format_cannot_be_told_is_refused(run, arbor, tmp_path):
    export = arbor("e.csv", ["S1,Nowak,Amy,Year 3,3A,02/11/2026,AM,/,"])
    result = run("summary", export, "-o", tmp_path / "out.txt")
    assert result.exit_code == 2 and not (tmp_path / "out.txt").exists()
    assert result.stderr.splitlines()[0] == f"Error: Cannot tell the format of {tmp_path / 'out.txt'} from its name."
    table = run("summary", export, "-f", "table", "-o", tmp_path / "out.csv")
    assert table.exit_code == 2 and not (tmp_path / "out.csv").exists()
    assert table.stderr.splitlines()[0] == (f"Error: --format table is for the terminal; {tmp_path / 'out.csv'} "
                                            "would get nothing.")
