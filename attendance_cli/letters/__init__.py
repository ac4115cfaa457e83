"""Letters to families: the letters stage of the pipeline.

exports → triggers (new events naming a letter) → facts (figures, sessions, guardians) → render
(wording template → PDF/HTML/text/e-mail) → deliver (staged, recorded in the ledger, moved into place).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from attendance_cli.letters.facts import Letter, gather, new_letter_events
from attendance_cli.letters.render import Rendered, render_letters
from attendance_cli.letters.school import School, load_school, school_path
from attendance_cli.letters.templates import Templates

__all__ = ["Letter", "Rendered", "School", "Templates", "gather", "load_school", "new_letter_events", "read_letters",
           "render_letters", "school_path"]


def read_letters(ledger_path: Path | None, policy: str) -> pl.DataFrame:
    """Letters already written under this policy (empty when there is no ledger yet)."""
    from attendance_cli.ledger import LETTER_SCHEMA, Ledger

    if ledger_path is None or not ledger_path.exists():
        return pl.DataFrame(schema=LETTER_SCHEMA)
    with Ledger(ledger_path, create=False) as ledger:
        return ledger.letters(policy=policy)
