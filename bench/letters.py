"""`make bench`, letters: 1,000 letters to PDF (one file each and the merged print file), timed.

The letters are the first 1,000 the primary-academy policy finds in the 1,000-pupil secondary
sample's 2025/26 year on a fresh ledger (all kinds: punctuality, unauthorised, medical, penalty,
persistent absence). Timed: rendering every letter, typesetting the PDFs, joining the print file,
writing the manifest, recording events and letters in the ledger, and moving the files into
place: everything `attendance letters` does after the triggers are found. The worker processes
are started before the figures are gathered, as `attendance letters` starts them.
Usage: python bench/letters.py  -> prints "letters seconds pages parent-cpu-seconds"
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COUNT = 1_000


def main() -> None:
    import datetime as dt

    import polars as pl

    from attendance_cli.cli.common import Duplicates, ingest_options
    from attendance_cli.ingest import open_exports
    from attendance_cli.letters.facts import gather, read_letters
    from attendance_cli.letters.school import load_school
    from attendance_cli.letters.deliver import write_letters
    from attendance_cli.rules import load_policy
    from attendance_cli.rules.triggers import find_triggers

    from attendance_cli.letters.pdf import Workers

    workers = Workers()
    files = sorted((ROOT / "sample_data").glob("secondary_arbor_2025-26_*.csv"))
    policy = load_policy("primary-academy")
    export = open_exports(files, ingest_options("dfe", None, None, None, False, Duplicates.error, None))
    with tempfile.TemporaryDirectory() as folder:
        ledger = Path(folder) / "ledger.sqlite"
        found = find_triggers(export, policy, None, None, ledger)
        # every new event that names a letter, not the casework's one letter per family a run sends:
        # this measures rendering, typesetting and delivery
        events = (found.evaluation.events.filter((pl.col("status") == "new") & pl.col("letter").is_not_null())
                  .sort("pupil_id", "ladder", "stage", "rule_id").with_columns(pl.lit("letter").alias("decision")))
        workers.start()  # as `attendance letters` does: before the figures are gathered
        school = load_school(ROOT / "sample_data" / "primary_school.toml")
        letters = gather(found, export, policy, events, dt.date(2026, 7, 20), "pdf", None,
                         read_letters(None, policy.name), school.model_dump())[:COUNT]
        events = events.filter(pl.col("key").is_in([letter.key for letter in letters]))
        import os

        cpu_before = os.times()
        started = time.perf_counter()
        written = write_letters(letters, "pdf", Path(folder) / "out", found.evaluation, events, ledger, 30.0,
                                workers=workers)
        elapsed = time.perf_counter() - started
        cpu_after = os.times()
        cpu = sum(after - before for after, before in zip(cpu_after[:4], cpu_before[:4]))
        from pypdf import PdfReader

        pages = len(PdfReader(Path(folder) / "out" / written.merged).pages)
    workers.close()
    print(f"{written.letters} {elapsed:.2f} {pages} {cpu:.2f}")  # letters, seconds, pages, parent CPU seconds


if __name__ == "__main__":
    main()
