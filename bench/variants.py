"""`make bench`, variants: the same year's marks as other exporters write them.

From the clean export bench.py generates, writes into bench/data/ (once; a variant is rewritten
only when it is missing or older than the clean file or than this generator):

  quoted        every field quoted, the header too (Polars quote_style="always"; empties as "")
  empty-quoted  only the empty cells quoted: ""  (Polars null_value='""')
  padded        every cell, the header too, padded with spaces to its column's fixed width
                (one leading space, trailing spaces to the width), as fixed-width exporters do;
                an empty cell becomes all spaces
  crlf          CRLF line endings
  cp1252        Windows-1252 (Excel's "CSV" save), transcoded a chunk at a time. Ł is not in
                Windows-1252, so Łukasz is written Lukasz (TRANSLITERATE; expected_cp1252 gives
                the output to expect)
  shuffled      the rows in random order (fixed seed), header first
  half-terms    the year split into six files by the bench calendar's half terms
  grid          the register grid: one row per pupil, a column per date and session under two
                header rows ('Wed 03/09/2025' over AM, blank over PM), as in
                sample_data/primary_arbor_2026-27_autumn_grid.csv; no minutes late

All vectorised with Polars, streaming where the layout allows (no Python loop over rows).
Usage: python bench/variants.py [CLEAN.csv]   (default: the 60,000-pupil year)
"""

from __future__ import annotations

import codecs
import datetime as dt
import os
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

SEED = 2026
CHUNK = 64 * 1024 * 1024  # bytes, for the Windows-1252 transcoding
# characters of the clean file that Windows-1252 cannot hold, written as their nearest letter
TRANSLITERATE = {"Ł": "L", "ł": "l"}

NAMES = ["quoted", "empty-quoted", "padded", "crlf", "cp1252", "shuffled", "half-terms", "grid"]


def paths(clean: Path) -> dict[str, list[Path]]:
    """Each variant's file(s), beside the clean file: arbor_..._2025-26.<variant>.csv."""
    stem = clean.with_suffix("")
    out = {name: [Path(f"{stem}.{name}.csv")] for name in NAMES if name != "half-terms"}
    out["half-terms"] = [Path(f"{stem}.half-term-{i}.csv") for i in range(1, 7)]
    return {name: out[name] for name in NAMES}


def ensure(clean: Path, half_terms: list[list[dt.date]], log: Callable[[str], None] = print) -> dict[str, list[Path]]:
    """Write every variant that is missing or older than `clean` (or than this file, which writes
    them); return all their paths."""
    wanted = paths(clean)
    writers = {"quoted": _quoted, "empty-quoted": _empty_quoted, "padded": _padded, "crlf": _crlf,
               "cp1252": _cp1252, "shuffled": _shuffled, "half-terms": lambda c, o: _half_terms(c, o, half_terms),
               "grid": _grid}
    newest = max(clean.stat().st_mtime, Path(__file__).stat().st_mtime)
    for name, files in wanted.items():
        if all(f.exists() and f.stat().st_mtime > newest for f in files):
            continue
        started = time.perf_counter()
        parts = [f.with_name(f.name + ".part") for f in files]
        writers[name](clean, parts if len(parts) > 1 else parts[0])
        for part, final in zip(parts, files):
            part.replace(final)
        size = sum(f.stat().st_size for f in files) / 1e9
        log(f"  variant {name}: {', '.join(f.name for f in files[:1])}{' ...' if len(files) > 1 else ''} "
            f"({size:.2f} GB) in {time.perf_counter() - started:.0f} s")
    return wanted


def _scan(clean: Path) -> pl.LazyFrame:
    return pl.scan_csv(clean, infer_schema=False)  # every column text, empty cells null


def _quoted(clean: Path, out: Path) -> None:
    _scan(clean).sink_csv(out, quote_style="always")


def _empty_quoted(clean: Path, out: Path) -> None:
    _scan(clean).sink_csv(out, null_value='""')


def _crlf(clean: Path, out: Path) -> None:
    _scan(clean).sink_csv(out, line_terminator="\r\n")


def _padded(clean: Path, out: Path) -> None:
    lf = _scan(clean)
    names = lf.collect_schema().names()
    longest = lf.select(pl.col(names).str.len_chars().max()).collect(engine="streaming").row(0)
    widths = {n: max(len(n), w or 0) for n, w in zip(names, longest)}
    header = ",".join(" " + n.ljust(widths[n]) + " " for n in names) + "\n"
    padded = lf.select((pl.lit(" ") + pl.col(n).fill_null("").str.pad_end(widths[n]) + pl.lit(" ")).alias(n)
                       for n in names)
    body = out.with_name(out.name + ".body")
    padded.sink_csv(body, include_header=False)
    with out.open("wb") as handle:
        handle.write(header.encode("utf-8"))
        with body.open("rb") as rows:
            while chunk := rows.read(CHUNK):
                handle.write(chunk)
    body.unlink()


def to_cp1252(text: str) -> bytes:
    """`text` as Windows-1252, with the letters it cannot hold transliterated (strict otherwise:
    any other such character stops the generator). str.replace per letter, over the whole chunk:
    ten times faster than str.translate."""
    for letter, nearest in TRANSLITERATE.items():
        text = text.replace(letter, nearest)
    return text.encode("cp1252")


def expected_cp1252(clean_output: bytes) -> bytes:
    """The UTF-8 output to expect from the Windows-1252 variant, given the clean file's."""
    return to_cp1252(clean_output.decode("utf-8")).decode("cp1252").encode("utf-8")


def _cp1252(clean: Path, out: Path) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with clean.open("rb") as source, out.open("wb") as target:
        while chunk := source.read(CHUNK):
            target.write(to_cp1252(decoder.decode(chunk)))
        target.write(to_cp1252(decoder.decode(b"", final=True)))


def _shuffled(clean: Path, out: Path) -> None:
    """A random permutation in bounded memory: each row to one of K buckets at random (hash of its
    line number), the buckets one after another, each shuffled within."""
    buckets = max(1, round(clean.stat().st_size / 200e6))
    lf = _scan(clean).with_row_index("_line")
    with out.open("wb") as handle:
        for bucket in range(buckets):
            part = (lf.filter(pl.col("_line").hash(SEED) % buckets == bucket).drop("_line")
                    .collect(engine="streaming").sample(fraction=1.0, shuffle=True, seed=SEED + bucket))
            part.write_csv(handle, include_header=bucket == 0)


def _half_terms(clean: Path, outs: list[Path], half_terms: list[list[dt.date]]) -> None:
    assert len(outs) == len(half_terms) == 6
    lf = _scan(clean)
    for days, out in zip(half_terms, outs):
        texts = [d.strftime("%d/%m/%Y") for d in days]
        lf.filter(pl.col("Date").is_in(texts)).sink_csv(out)


def _grid(clean: Path, out: Path) -> None:
    lf = _scan(clean)
    pupil_cols = ["Student ID", "UPN", "Legal Surname", "Legal Forename", "Year Group", "Registration Form"]
    slots = (lf.select("Date", "Session").unique()
             .with_columns(pl.col("Date").str.to_date("%d/%m/%Y").alias("_day"))
             .sort("_day", "Session").with_row_index("_slot").collect(engine="streaming"))
    marks = (lf.select("Student ID", "Date", "Session", "Mark")
             .join(slots.lazy().select("Date", "Session", "_slot"), on=["Date", "Session"], how="left")
             .select("Student ID", "_slot", "Mark").collect(engine="streaming"))
    wide = marks.pivot(on="_slot", index="Student ID", values="Mark")
    del marks
    order = [str(i) for i in range(slots.height)]
    pupils = lf.select(pupil_cols).unique("Student ID", keep="first", maintain_order=True).collect(engine="streaming")
    grid = pupils.join(wide.select("Student ID", *order), on="Student ID", how="left", maintain_order="left")
    # two header rows: the date over its AM column (blank over PM), then the sessions
    first, second = list(pupil_cols), [""] * len(pupil_cols)
    previous = None
    for day, session in slots.select("_day", "Session").iter_rows():  # 380 header cells, not rows
        first.append(day.strftime("%a %d/%m/%Y") if day != previous else "")
        second.append(session)
        previous = day
    with out.open("wb") as handle:
        handle.write((",".join(first) + "\n" + ",".join(second) + "\n").encode("utf-8"))
        grid.write_csv(handle, include_header=False)


def main() -> None:
    import sys

    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    from bench import BIG, half_terms  # noqa: E402

    clean = Path(sys.argv[1]) if len(sys.argv) > 1 else BIG
    ensure(clean, half_terms())
    for name, files in paths(clean).items():
        print(name, *(os.path.relpath(f) for f in files))


if __name__ == "__main__":
    main()
