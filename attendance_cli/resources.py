"""Files that ship with the package: templates and fonts."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def templates_folder() -> Path:
    """Templates ship inside the wheel; in a source checkout they are at the top level."""
    packaged = _PACKAGE / "templates"
    return packaged if packaged.is_dir() else _PACKAGE.parent / "templates"


def fonts_folder() -> Path:
    """The font letters are set in (Atkinson Hyperlegible, SIL Open Font License, see OFL.txt)."""
    return _PACKAGE / "fonts"
