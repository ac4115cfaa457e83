"""The tool as a user installs it: a wheel built from this checkout, installed with its dependencies into
a fresh virtual environment (as `pipx install` does), runs from any folder and finds everything it
ships (templates, fonts, code tables, policies).

The wheel's dependencies are the test environment's (see `installed`), so this takes seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import attendance_cli

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = "attendance-cli"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(ROOT)],
                   check=True, capture_output=True, text=True)
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed, as `pipx install` installs it: the `attendance`
    it installs. Its dependencies are this test environment's own, reached by a path file (not installed
    afresh, which took a minute of `make test`; `make install` installs them from the package index), and
    `pip check` then says every dependency the wheel declares is there at a version it accepts. This
    checkout's own package is not on that path (it is installed here in editable mode, by a path file of
    the test environment that the fresh one does not read), so the tool runs from the wheel alone."""
    import site
    import sysconfig

    home = tmp_path_factory.mktemp("fresh")
    venv.create(home / "venv", with_pip=True)
    python = home / "venv" / ("Scripts" if os.name == "nt" else "bin") / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    Path(purelib, "dependencies.pth").write_text("".join(f"{path}\n" for path in sorted(ours)), encoding="utf-8")
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    where = subprocess.run([str(python), "-c", "import attendance_cli; print(attendance_cli.__file__)"],
                           capture_output=True, text=True, check=True, cwd=home).stdout
    assert where.startswith(purelib), where  # the wheel's copy, not this checkout
    return python.parent / "attendance"


def _run(attendance: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    # run from an unrelated folder, so nothing of this checkout can be found by accident
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(attendance), *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_the_wheel_is_named_and_licensed_and_holds_every_file_the_tool_reads(wheel):
    assert wheel.name == f"attendance_cli-{attendance_cli.__version__}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    info = f"attendance_cli-{attendance_cli.__version__}.dist-info"
    metadata = Parser().parsestr(zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode())
    assert metadata["Name"] == DISTRIBUTION and metadata["Version"] == attendance_cli.__version__
    assert metadata["License-Expression"] == "MIT"
    assert f"{info}/licenses/LICENSE" in names
    assert "attendance = attendance_cli.cli:main" in zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    # every file of the package and of the templates folder at the top of the checkout (which the
    # wheel carries inside the package)
    tracked = subprocess.run(["git", "ls-files", "attendance_cli", "templates"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    expected = {name if name.startswith("attendance_cli/") else f"attendance_cli/{name}" for name in tracked}
    assert len(expected) > 150 and any(name.startswith("attendance_cli/templates/letters/") for name in expected)
    assert any(name.startswith("attendance_cli/fonts/") for name in expected)
    assert sorted(expected - names) == []


def test_installed_wheel_runs_from_any_folder(installed, tmp_path):
    version = _run(installed, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout == f"attendance {attendance_cli.__version__}\n"

    sample = _run(installed, "sample", "--out", "s", cwd=tmp_path)
    assert sample.returncode == 0, sample.stderr
    written = sorted(path.name for path in (tmp_path / "s").iterdir())
    assert written == sorted(path.name for path in (ROOT / "sample_data").iterdir())

    summary = _run(installed, "summary", "s/primary_arbor_2026-27_week-47.csv", "--by", "year_group", "-f", "csv", "-q",
                   cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout.startswith("year_group,pupils,")
    assert len(summary.stdout.splitlines()) == 9  # the header, Reception, Years 1 to 6 and the whole school

    exports = ["s/primary_arbor_2025-26_autumn.csv", "s/primary_arbor_2025-26_spring.csv",
               "s/primary_arbor_2025-26_summer.csv", "s/primary_arbor_2026-27_autumn_grid.csv",
               "s/primary_arbor_2026-27_week-47.csv"]
    letters = _run(installed, "letters", *exports, "--policy", "primary-academy", "--school", "s/primary_school.toml",
                   "--contacts", "s/primary_contacts.csv", "--dry-run", "--preview", "preview", "--only", "000208", "-q",
                   cwd=tmp_path)
    assert letters.returncode == 0, letters.stderr
    # the letter templates and fonts that ship inside the package: a real PDF, set by typst
    (letter,) = (tmp_path / "preview").glob("*.pdf")
    assert letter.read_bytes().startswith(b"%PDF-") and letter.stat().st_size > 10_000

    templates = _run(installed, "templates", "list", cwd=tmp_path)
    assert templates.returncode == 0 and "punctuality-1\tdefault" in templates.stdout

    report = _run(installed, "report", *exports[:4], "--school", "s/primary_school.toml", "--policy", "primary-academy",
                  "--out", "report.html", "-q", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "<html" in (tmp_path / "report.html").read_text(encoding="utf-8")
