"""`make bench`: time and peak memory of the toolkit against its targets, measured in one run.

1. Generates (once, into bench/data/, not committed) a 60,000-pupil full-year Arbor export:
   380 sessions each, about 23 million marks, about 1.4 GB, with realistic codes; a guardians file
   for its pupils; and the same year as other exporters write it (bench/variants.py: quoted,
   padded, CRLF, Windows-1252, shuffled, six half-term files, the register grid).
2. Times `attendance summary` on it beside the floor (bench/floor.py, a minimal hand-written
   Polars group-by producing the same table without any checking), interleaved, best of N.
3. Times `summary` on every variant against the clean file, and checks the output is the same.
4. Times `attendance ingest` into a .parquet store, then `summary` and `triggers` on the store
   against the CSV (same output).
5. Times `triggers --policy dfe-national`, `report` (HTML), `digest --by form` and
   `letters --dry-run` on the year.
6. Times `attendance --help`, a summary of the 1,000-pupil secondary sample's full year, 1,000
   letters to PDF (bench/letters.py) and the report for the 1,000-pupil sample.
7. Times `attendance trust summary` on 100 schools of 600 pupils (bench/trust.py): one school after
   another, the process pool, and a local Dask cluster (its output the same, byte for byte).

Every command's output goes to bench/data/out-PUPILS/ (the identity checks read it there, and write
the whole diff of an output that differs beside it), and the table, as markdown for an issue
note, to bench/data/out-PUPILS/bench.md.
Peak memory is the maximum resident set size of each process (GNU time's %M).
Environment: BENCH_RUNS (default 3) runs of each, the best time and the highest peak kept;
BENCH_PUPILS (default 60000) to run the whole bench on a smaller generated year, with its own
files (e.g. BENCH_PUPILS=5000 for a quick check).
Exit status: 0 when every command ran (targets missed or not: the table says), 1 if one failed.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import shutil
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
PUPILS = int(os.environ.get("BENCH_PUPILS", "60000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
BIG = DATA / f"arbor_{PUPILS}_pupils_2025-26.csv"
CONTACTS = DATA / f"contacts_{PUPILS}_pupils.csv"
STORE = DATA / ("store.parquet" if PUPILS == 60_000 else f"store_{PUPILS}_pupils.parquet")
OUT = DATA / f"out-{PUPILS}"
LEDGER = OUT / "no-ledger.sqlite"  # never created (nothing records): every event is new
SCHOOL = ROOT / "sample_data" / "primary_school.toml"
ATTENDANCE = [sys.executable, "-m", "attendance_cli"]
MB_1GB = 1024

HOLIDAYS = [(dt.date(2025, 10, 27), dt.date(2025, 10, 31)), (dt.date(2025, 12, 22), dt.date(2026, 1, 2)),
            (dt.date(2026, 2, 16), dt.date(2026, 2, 20)), (dt.date(2026, 3, 30), dt.date(2026, 4, 10)),
            (dt.date(2026, 5, 25), dt.date(2026, 5, 29))]
SURNAMES = ["Smith", "Jones", "Khan", "O’Brien", "Nowak", "Patel", "Okafor", "Williams", "Brown", "Taylor"]
FORENAMES = ["Amy", "Zoë", "Łukasz", "Tom", "Aisha", "Oliver", "Mia", "Noah", "Isla", "Leo"]
GUARDIANS = ["Sophia", "Hannah", "Amira", "Grace", "Joanna", "Priya", "Chloé", "Ngozi", "Emma", "Kasia",  # mothers
             "James", "Tomasz", "Imran", "David", "Chidi", "Seán", "Raj", "Mark", "Peter", "Daniel"]  # fathers


def school_days() -> list[dt.date]:
    """190 school days of 2025/26: weekdays from 3 Sep 2025, skipping the usual holidays."""
    days, day = [], dt.date(2025, 9, 3)
    while len(days) < 190:
        if day.weekday() < 5 and not any(a <= day <= b for a, b in HOLIDAYS) and day != dt.date(2026, 5, 4):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def half_terms() -> list[list[dt.date]]:
    """The school days in six half terms, split at the holidays."""
    terms: list[list[dt.date]] = [[] for _ in range(len(HOLIDAYS) + 1)]
    for day in school_days():
        terms[sum(1 for start, _ in HOLIDAYS if start < day)].append(day)
    return terms


def generate(path: Path, pupils: int = PUPILS, chunk: int = 5_000, salt: int = 0) -> None:
    """Write the big export in chunks of pupils (vectorised: marks come from hashes, not loops).
    `salt`: another school's marks for the same pupil ids (0: the bench's own year, as it always was)."""
    days = school_days()
    sessions = pl.DataFrame({
        "Date": [d.strftime("%d/%m/%Y") for d in days for _ in (0, 1)],
        "Session": ["AM", "PM"] * len(days),
        "_slot": list(range(2 * len(days))),
    }).with_columns(pl.col("_slot").cast(pl.UInt64))
    closed = {2 * days.index(dt.date(2025, 11, 28)), 2 * days.index(dt.date(2025, 11, 28)) + 1}
    # cumulative thresholds on a uniform draw: (code, probability for a typical pupil)
    codes = [("I", 0.035), ("M", 0.006), ("O", 0.008), ("G", 0.006), ("N", 0.002), ("U", 0.003), ("L", 0.02),
             ("C", 0.002), ("V", 0.002), ("E", 0.001), ("X", 0.0005), ("D", 0.0005)]
    tmp = path.with_suffix(".part")
    with tmp.open("wb") as handle:
        for start in range(0, pupils, chunk):
            ids = pl.int_range(start, min(start + chunk, pupils), eager=True).alias("_p")
            block = pl.DataFrame(ids).with_columns(
                ("S" + (pl.col("_p") + 100_000).cast(pl.String)).alias("Student ID"),
                ("A" + (pl.col("_p") + 800_000_000_000).cast(pl.String)).alias("UPN"),
                _pick(pl.col("_p") % 10, SURNAMES).alias("Legal Surname"),
                _pick(pl.col("_p") // 10 % 10, FORENAMES).alias("Legal Forename"),
                ("Year " + (7 + pl.col("_p") % 5).cast(pl.String)).alias("Year Group"),
                ((7 + pl.col("_p") % 5).cast(pl.String) + _pick(pl.col("_p") % 8, list("ABCDEFGH")))
                .alias("Registration Form"),
                # a pupil's absence propensity: most near 1, a tail up to 6x
                (1 + 5 * ((pl.col("_p").hash(7 + salt) % 1000).cast(pl.Float64) / 1000) ** 6).alias("_risk"),
            ).join(sessions, how="cross")
            draw = (pl.struct("_p", "_slot").hash(11 + salt) % 1_000_000).cast(pl.Float64) / 1_000_000
            mark = pl.when(pl.col("_slot").is_in(list(closed))).then(pl.lit("#"))
            edge = 0.0
            for code, share in codes:
                low = edge
                edge += share
                risk = pl.col("_risk")
                mark = mark.when((draw >= pl.lit(low) * risk) & (draw < pl.lit(edge) * risk)).then(pl.lit(code))
            mark = mark.otherwise(pl.when(pl.col("Session") == "AM").then(pl.lit("/")).otherwise(pl.lit("\\")))
            block = block.with_columns(mark.alias("Mark")).with_columns(
                pl.when(pl.col("Mark") == "L").then(1 + (pl.struct("_p", "_slot").hash(3 + salt) % 25))
                .when(pl.col("Mark") == "U").then(30 + (pl.struct("_p", "_slot").hash(5 + salt) % 30))
                .cast(pl.String).alias("Minutes Late"))
            out = block.select("Student ID", "UPN", "Legal Surname", "Legal Forename", "Year Group",
                               "Registration Form", "Date", "Session", "Mark", "Minutes Late")
            out.write_csv(handle, include_header=start == 0)
    tmp.replace(path)


def _pick(index: pl.Expr, values: list[str]) -> pl.Expr:
    """values[index], as a column expression (a lookup, not a Python call per row)."""
    return index.replace_strict(list(range(len(values))), values, return_dtype=pl.String)


def generate_contacts(path: Path, pupils: int = PUPILS) -> None:
    """Guardians for the generated pupils, in the sample's contacts layout (vectorised): a mother
    with parental responsibility for every pupil, a father for two in three (without it for one
    in ten of those), an e-mail address for about half."""
    p = pl.col("_p")
    surname = _pick(p % 10, SURNAMES)
    # an e-mail address is ASCII: Seán's is sean.1002@example.org, not seán.1002@ (refused by letters)
    ascii_first = [unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower() for name in GUARDIANS]
    contacts = (
        pl.DataFrame({"_p": pl.int_range(0, pupils, eager=True)})
        .join(pl.DataFrame({"_g": [0, 1], "Relationship": ["Mother", "Father"], "_title": ["Mrs", "Mr"]}), how="cross")
        .filter((pl.col("_g") == 0) | (p % 3 != 0))
        .with_columns(surname.alias("_surname"),
                      (pl.col("_g") * 10 + (p * 2 + pl.col("_g")).hash(17) % 10).alias("_guardian"))
        .with_columns(_pick(pl.col("_guardian"), GUARDIANS).alias("_first"),
                      _pick(pl.col("_guardian"), ascii_first).alias("_email"))
        .select(
            ("S" + (p + 100_000).cast(pl.String)).alias("Student ID"),
            (pl.col("_title") + " " + pl.col("_first") + " " + pl.col("_surname")).alias("Contact Name"),
            "Relationship",
            pl.when((pl.col("_g") == 1) & (p % 10 == 1)).then(pl.lit("No")).otherwise(pl.lit("Yes"))
            .alias("Parental Responsibility"),
            (pl.col("_title") + " " + pl.col("_surname")).alias("Salutation"),
            pl.when((p + pl.col("_g")).hash(23) % 2 == 0)
            .then(pl.col("_email") + "." + (p + 1000).cast(pl.String) + "@example.org")
            .alias("Email"),
            ((p % 97 + 1).cast(pl.String) + " " + _pick(p % 7, [
                "Elm Grove", "Mill Lane", "Church Road", "High Street", "Park View", "Station Road",
                "Orchard Close"])).alias("Address 1"),
            pl.lit("Brookmere").alias("Town"),
            ("ZZ99 " + (p % 9 + 1).cast(pl.String) + _pick(p % 26, [chr(65 + i) for i in range(26)]) + "B")
            .alias("Postcode"),
        )
    )
    tmp = path.with_suffix(".part")
    contacts.write_csv(tmp)
    tmp.replace(path)


# ---------------------------------------------------------------------------------------------
# running and timing


@dataclass
class Run:
    seconds: float = 0.0
    mb: float = 0.0
    error: str | None = None  # the first line of stderr when the command failed

    @property
    def ok(self) -> bool:
        return self.error is None


FAILURES: list[str] = []


def timed(command: list[str], out: Path | None, before: Callable[[], None] | None = None) -> Run:
    """(seconds, peak MB) of one run; stdout to `out` (for the identity checks)."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if before:
        before()
    with (out.open("wb") if out else open(os.devnull, "wb")) as sink:
        started = time.perf_counter()
        result = subprocess.run([gnu_time, "-f", "%M", *command], stdout=sink, stderr=subprocess.PIPE,
                                env={**os.environ, "ATTENDANCE_NO_PROGRESS": "1"}, cwd=OUT)
        elapsed = time.perf_counter() - started
    lines = result.stderr.decode("utf-8", "replace").splitlines()
    peak = lines.pop() if lines else "0"
    if result.returncode != 0:
        own = [line for line in lines if line.strip() and not line.startswith(("Command exited with non-zero status",
                                                                                "Command terminated by signal"))]
        first = (own[-1] if own and own[0].startswith("Traceback") else own[0]).strip() if own \
            else f"exit status {result.returncode}"  # a traceback's first line says nothing: its last
        FAILURES.append(f"{' '.join(command)}\n  " + "\n  ".join(lines[-20:]))
        return Run(error=first[:160])
    return Run(elapsed, int(peak) / 1024)


def best(command: list[str], out: Path | None, runs: int = RUNS, before: Callable[[], None] | None = None) -> Run:
    """Best time and highest peak of `runs` runs (stops at the first failure)."""
    results = []
    for _ in range(runs):
        run = timed(command, out, before)
        if not run.ok:
            return run
        results.append(run)
    return Run(min(r.seconds for r in results), max(r.mb for r in results))


def fresh(*paths: Path) -> Callable[[], None]:
    """Before a run: remove a ledger, or an output folder, left by the last run."""
    def remove() -> None:
        for path in paths:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                for leftover in (path, path.with_name(path.name + ".lock")):
                    leftover.unlink(missing_ok=True)
    return remove


# ---------------------------------------------------------------------------------------------
# identity checks: the CSV on stdout of two commands compared byte for byte, each required to
# hold the rows it should (two empty outputs are not "identical": the check fails instead)

DIFFERENCES: list[str] = []


def same(label: str, expected: Path | bytes, actual: Path | bytes, *, rows: int | None = None,
         drop: str | None = None) -> bool:
    """True when `actual` is byte for byte `expected` (without the column `drop`, when given) and
    `expected` has `rows` data rows (or, with rows=None, at least one). A difference is noted, with
    the diff, for after the table, and the whole diff written to OUT/diff-LABEL.txt."""
    want, got = (data if isinstance(data, bytes) else data.read_bytes() for data in (expected, actual))
    if drop:
        want, got = _without(want, drop), _without(got, drop)
    lines = want.splitlines()
    count = len(lines) - 1  # the header
    if count < 1 or (rows is not None and count != rows):
        wanted = f"{rows:,}" if rows is not None else "at least one"
        DIFFERENCES.append(f"{label}: the reference output has {max(count, 0):,} data rows, not {wanted}: "
                           "the check cannot be made")
        return False
    if want == got:
        return True
    theirs = got.splitlines()
    diff = [line.rstrip("\n") for line in difflib.unified_diff(
        [x.decode("utf-8", "replace") for x in lines], [x.decode("utf-8", "replace") for x in theirs],
        "expected", label, n=0, lineterm="")]
    changed = sum(1 for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---")))
    where = OUT / f"diff-{label.replace(' ', '-').replace(',', '')}.txt"
    where.write_text("\n".join(diff) + "\n", encoding="utf-8")
    shown = "\n      ".join(line[:200] for line in diff[:24]) + ("\n      ..." if len(diff) > 24 else "")
    DIFFERENCES.append(f"{label}: {len(lines):,} lines expected, {len(theirs):,} got, {changed:,} lines differ "
                       f"(the whole diff: {where.relative_to(ROOT)}):\n      {shown}")
    return False


def _without(data: bytes, column: str) -> bytes:
    """The CSV `data` without `column` (every value kept as text, so nothing else changes)."""
    if not data.strip():
        return data
    frame = pl.read_csv(data, infer_schema=False)
    return frame.drop(column, strict=False).write_csv().encode("utf-8")


# the floor's columns, by the names `summary` gives them
FLOOR_NAMES = {"Student ID": "pupil_id", "Legal Surname": "surname", "Legal Forename": "forename",
               "Year Group": "year_group", "Registration Form": "form"}


def same_counts_as_floor(floor_csv: Path, summary_csv: Path) -> bool:
    """The floor computes the same table as `summary` (its columns, every pupil, sorted by pupil: the
    floor's group-by comes out in no particular order), so the two are timed doing the same job."""
    floor = pl.read_csv(floor_csv, infer_schema=False).rename(FLOOR_NAMES).sort("pupil_id")
    summary = pl.read_csv(summary_csv, infer_schema=False)
    summary = summary.select([c for c in floor.columns if c in summary.columns]).sort("pupil_id")
    return same("floor against summary", summary.write_csv().encode("utf-8"), floor.write_csv().encode("utf-8"),
                rows=PUPILS)


def wrote(label: str, run: Run, files: list[Path], least: int = 1) -> None:
    """A command that exited 0 must also have written its files: if not, count it as failed."""
    written = sum(1 for f in files if f.stat().st_size > 0)
    if run.ok and written < least:
        FAILURES.append(f"{label}: exited 0 but wrote {written} non-empty file(s), expected {least} or more")
        run.error = f"exited 0 but wrote {written} of the {least} or more files expected"


# ---------------------------------------------------------------------------------------------
# the table


@dataclass
class Row:
    name: str
    run: Run
    target: str = ""
    ratio: float | None = None
    passed: bool | None = None  # None: no target, or its base failed
    identical: bool | None = None  # None: no identity check for this row
    note: str = ""  # what was compared, when not simply the whole output (a footnote)


def check(name: str, run: Run, *, base: Run | None = None, factor: float | None = None, base_name: str = "",
          limit: float | None = None, mem: float | None = None, identical: bool | None = None,
          note: str = "") -> Row:
    """A measured row against its target: at most `factor` x `base` (seconds), or under `limit`
    seconds, and under `mem` MB; `identical`, the verdict of its identity check."""
    parts, ratio, passed = [], None, None
    if factor is not None:
        parts.append(f"<= {factor:.2f}x {base_name}")
    if limit is not None:
        parts.append(f"< {limit:g} s")
    if mem is not None:
        parts.append(f"< {mem:.0f} MB")
    if run.ok:
        checks: list[bool | None] = []
        if factor is not None:
            if base is not None and base.ok and base.seconds > 0:
                ratio = run.seconds / base.seconds
                checks.append(ratio <= factor)
            else:
                checks.append(None)  # the base failed: no verdict
        if limit is not None:
            ratio = run.seconds / limit
            checks.append(run.seconds < limit)
        if mem is not None:
            checks.append(run.mb < mem)
        passed = None if None in checks or not checks else all(checks)
    return Row(name, run, ", ".join(parts), ratio, passed, identical if run.ok else None, note)


HEADER = ("measure", "seconds", "peak MB", "target", "ratio", "result", "identical")
RIGHT = {1, 2, 4}  # right-aligned columns


def cells(rows: list[Row]) -> tuple[list[tuple[str, ...]], list[str]]:
    """The table's cells, and its footnotes (a row's note, marked [n] in its identical cell)."""
    table, notes = [], []
    for row in rows:
        identical = {True: "yes", False: "NO", None: ""}[row.identical]
        if row.note and row.identical is not None:
            notes.append(row.note)
            identical += f" [{len(notes)}]"
        if not row.run.ok:
            table.append((row.name, "", "", row.target, "", f"FAILED: {row.run.error}", ""))
            continue
        mb = f"{row.run.mb:.0f}" if row.run.mb else ""
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        result = {True: "met", False: "MISSED", None: "" if not row.target else "n/a"}[row.passed]
        table.append((row.name, f"{row.run.seconds:.2f}", mb, row.target, ratio, result, identical))
    return table, notes


def print_table(rows: list[Row]) -> list[str]:
    table, notes = cells(rows)
    # a failure's message may be long: it does not widen the columns (it is the last wide cell)
    widths = [max(len(c[i]) for c in [HEADER] + [t for t in table if not t[5].startswith("FAILED")])
              for i in range(len(HEADER))]
    for c in [HEADER] + table:
        print("  ".join((v.rjust(w) if i in RIGHT else v.ljust(w)) for i, (v, w) in enumerate(zip(c, widths)))
              .rstrip())
    return notes


def write_markdown(path: Path, rows: list[Row], intro: str, footer: list[str]) -> None:
    """The same table as markdown, to paste into an issue note."""
    table, notes = cells(rows)
    escape = lambda v: v.replace("|", "\\|")  # noqa: E731
    lines = [intro, "", "| " + " | ".join(HEADER) + " |",
             "|" + "|".join("---:" if i in RIGHT else "---" for i in range(len(HEADER))) + "|"]
    lines += ["| " + " | ".join(escape(v) for v in c) + " |" for c in table]
    lines += [""] + [f"[{i}] {note}  " for i, note in enumerate(notes, 1)] + [""] + footer
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------


def main() -> int:
    wall = time.perf_counter()
    sys.path.insert(0, str(HERE))
    import variants  # bench/variants.py

    DATA.mkdir(exist_ok=True)
    OUT.mkdir(exist_ok=True)
    if not BIG.exists():
        print(f"Generating {BIG.relative_to(ROOT)} ({PUPILS:,} pupils, a full year) ...", flush=True)
        started = time.perf_counter()
        generate(BIG, PUPILS)
        print(f"  {BIG.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - started:.0f} s", flush=True)
    generate_contacts(CONTACTS, PUPILS)  # a second or two: always as the generator writes it now
    files = variants.ensure(BIG, half_terms(), log=lambda text: print(text, flush=True))
    marks = 380 * PUPILS
    print(f"Input: {BIG.relative_to(ROOT)}, {BIG.stat().st_size / 1e9:.2f} GB, {marks:,} marks; "
          f"best of {RUNS} runs; output in {OUT.relative_to(ROOT)}/\n", flush=True)
    n = f"{PUPILS:,}"
    rows: list[Row] = []

    def out(name: str) -> Path:
        return OUT / name

    # summary against the floor, interleaved so both see the same machine
    floor_cmd = [sys.executable, str(HERE / "floor.py"), str(BIG)]
    clean_out = out("summary-clean.csv")
    summary_cmd = [*ATTENDANCE, "summary", str(BIG), "-f", "csv", "-q"]
    floor_runs, summary_runs = [], []
    for _ in range(RUNS):
        floor_runs.append(timed(floor_cmd, out("floor.csv")))
        summary_runs.append(timed(summary_cmd, clean_out))
    pick = lambda runs: next((r for r in runs if not r.ok), None) or Run(  # noqa: E731
        min(r.seconds for r in runs), max(r.mb for r in runs))
    floor, summary = pick(floor_runs), pick(summary_runs)
    rows.append(check("floor: hand-written Polars group-by", floor,
                      identical=same_counts_as_floor(out("floor.csv"), clean_out) if floor.ok and summary.ok else None,
                      note="the floor's columns (names and session counts) against summary's, sorted by pupil"))
    rows.append(check(f"summary, clean CSV ({n} pupils)", summary, base=floor, factor=1.5, base_name="floor",
                      mem=MB_1GB))

    # every variant of the same year: as fast as the clean file, and the same figures
    labels = {"quoted": "every field quoted", "empty-quoted": 'empty cells quoted ("")',
              "padded": "cells padded with spaces", "crlf": "CRLF line endings", "cp1252": "Windows-1252",
              "shuffled": "rows in random order", "half-terms": "six half-term files", "grid": "register grid"}
    compared = {"cp1252": "compared with the clean output with Ł written L, as the Windows-1252 file has it "
                       "(Windows-1252 has no Ł)",
             "grid": "every column but minutes_late (a register grid carries no minutes late: 0 for every pupil)"}
    for name, paths in files.items():
        label = f"summary, {labels[name]}"
        result = out(f"summary-{name}.csv")
        run = best([*ATTENDANCE, "summary", *map(str, paths), "-f", "csv", "-q"], result)
        identical = None
        if run.ok and summary.ok:
            if name == "cp1252":
                identical = same(label, variants.expected_cp1252(clean_out.read_bytes()), result, rows=PUPILS)
            elif name == "grid":
                identical = same(label, clean_out, result, rows=PUPILS, drop="minutes_late")
            else:
                identical = same(label, clean_out, result, rows=PUPILS)
        rows.append(check(label, run, base=summary, factor=1.25, base_name="clean", mem=MB_1GB,
                          identical=identical, note=compared.get(name, "")))

    # triggers on the CSV
    triggers_cmd = [*ATTENDANCE, "triggers", "--policy", "dfe-national", "-f", "csv", "-q", "--db", str(LEDGER)]
    triggers = best([*triggers_cmd, str(BIG)], out("triggers-csv.csv"), before=fresh(LEDGER))
    rows.append(check("triggers --policy dfe-national, CSV", triggers, base=summary, factor=1.3,
                      base_name="summary"))

    # the store: ingest once, then read it (the same output as from the CSV)
    ingest = best([*ATTENDANCE, "ingest", str(BIG), "-o", str(STORE)], out("ingest-report.txt"), before=fresh(STORE))
    wrote("ingest", ingest, [STORE] if STORE.exists() else [])
    rows.append(check(f"ingest -o {STORE.name}", ingest))
    store_summary = best([*ATTENDANCE, "summary", str(STORE), "-f", "csv", "-q"], out("summary-store.csv"))
    rows.append(check("summary, store", store_summary, base=summary, factor=0.15, base_name="CSV summary", mem=500,
                      identical=same("summary, store", clean_out, out("summary-store.csv"), rows=PUPILS)
                      if store_summary.ok and summary.ok else None))
    store_triggers = best([*triggers_cmd, str(STORE)], out("triggers-store.csv"), before=fresh(LEDGER))
    rows.append(check("triggers --policy dfe-national, store", store_triggers, base=triggers, factor=0.35,
                      base_name="CSV triggers", mem=500,
                      identical=same("triggers, store", out("triggers-csv.csv"), out("triggers-store.csv"))
                      if store_triggers.ok and triggers.ok else None))

    # the report, the digest and the letters on the year
    report_html = out(f"report-{PUPILS}.html")
    report = best([*ATTENDANCE, "report", str(BIG), "--out", str(report_html), "-q"], out("report-stdout.txt"),
                  before=fresh(report_html))
    wrote("report", report, [report_html] if report_html.exists() else [])
    rows.append(check(f"report, HTML, {n} pupils", report, base=summary, factor=1.5, base_name="summary", mem=MB_1GB))
    digest_dir = out("digest")
    digest = best([*ATTENDANCE, "digest", str(BIG), "--by", "form", "--out", str(digest_dir), "-q"],
                  out("digest-stdout.txt"), before=fresh(digest_dir))
    wrote("digest", digest, sorted(digest_dir.glob("digest-*.html")), least=min(40, PUPILS))  # 5 years x 8 forms
    rows.append(check(f"digest --by form, HTML, {n} pupils", digest, base=summary, factor=1.5, base_name="summary",
                      mem=MB_1GB))
    dry_run = out("letters-dry-run.csv")
    letters = best([*ATTENDANCE, "letters", str(BIG), "--policy", "dfe-national", "--dry-run", "--school", str(SCHOOL),
                    "--contacts", str(CONTACTS), "--date", "20/07/2026", "--out", str(out("letters")),
                    "--db", str(LEDGER), "-q"], dry_run, before=fresh(LEDGER))
    wrote("letters --dry-run (the letters listed on stdout)", letters,
          [dry_run] if dry_run.exists() and len(dry_run.read_bytes().splitlines()) > 1 else [])
    rows.append(check(f"letters --dry-run, dfe-national, {n} pupils", letters, base=triggers, factor=1.5,
                      base_name="triggers"))

    # the small targets
    help_run = best([*ATTENDANCE, "--help"], out("help.txt"), runs=max(RUNS, 5))
    rows.append(check("attendance --help", help_run, limit=0.3))
    year = sorted((ROOT / "sample_data").glob("secondary_arbor_2025-26_*.csv"))
    small = best([*ATTENDANCE, "summary", *map(str, year), "-f", "csv", "-q"], out("summary-1000.csv"),
                 runs=max(RUNS, 5))
    rows.append(check(f"summary, 1,000-pupil year ({len(year)} files)", small, limit=1.0))
    rows.append(_letters_row())
    secondary = sorted((ROOT / "sample_data").glob("secondary_arbor_*.csv"))
    report_small = best([*ATTENDANCE, "report", *map(str, secondary), "--out", str(out("report-1000.html")), "-q"],
                        out("report-1000-stdout.txt"))
    rows.append(check(f"report, 1,000 pupils, half term ({len(secondary)} files)", report_small, limit=5.0))

    # -- many schools (bench/trust.py): 100 schools of 600 pupils, one machine against a local Dask cluster --
    import trust as trust_bench  # bench/trust.py

    print("Trust: generating or checking the schools' exports ...", flush=True)
    rows += trust_bench.rows()
    DIFFERENCES.extend(trust_bench.b.DIFFERENCES)  # bench/trust.py's checks, made by its own copy of this module
    FAILURES.extend(trust_bench.b.FAILURES)

    notes = print_table(rows)
    legend = ["ratio: seconds over the base the target names (over the limit, for a target in seconds); "
              "result: met only if time and memory both are;",
              "identical: the CSV on stdout compared byte for byte with the clean CSV's (the store's and the "
              "variants' summary, the store's triggers with the CSV's)"]
    print("\n".join([""] + [f"[{i}] {note}" for i, note in enumerate(notes, 1)] + legend))
    if DIFFERENCES:
        print("\nOutput NOT identical:")
        for text in DIFFERENCES:
            print("  " + text)
    if FAILURES:
        print("\nFailed commands (end of stderr):")
        shown: set[str] = set()
        for text in FAILURES:
            command, _, tail = text.partition("\n")
            print("  " + (command + "\n    (the same error as above)" if tail and tail in shown else text))
            shown.add(tail)
    elapsed = time.perf_counter() - wall
    print(f"\nWall time of the bench: {elapsed:.0f} s")
    markdown = OUT / "bench.md"
    intro = (f"`make bench`, {n} pupils ({marks:,} marks, {BIG.stat().st_size / 1e9:.2f} GB), best of {RUNS} runs, "
             f"{dt.date.today():%d/%m/%Y}, {_commit()}, {os.cpu_count()} cores, Polars {pl.__version__}; "
             f"the bench took {elapsed:.0f} s.")
    footer = legend + ([f"\n{len(DIFFERENCES)} output(s) NOT identical, {len(FAILURES)} command(s) failed: "
                        "see the bench's output."] if DIFFERENCES or FAILURES else [])
    write_markdown(markdown, rows, intro, footer)
    print(f"The table as markdown: {markdown.relative_to(ROOT)}")
    return 1 if FAILURES else 0


def _commit() -> str:
    """The commit measured, and whether the working tree had changes on top of it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                           cwd=ROOT)
    if head.returncode != 0:
        return "no git commit"
    return f"commit {head.stdout.strip()}" + (" with uncommitted changes" if dirty.stdout.strip() else "")


def _letters_row() -> Row:
    """1,000 letters to PDF, one file each and the print file (bench/letters.py times that stage)."""
    name = "1,000 letters to PDF, one file each + print file"
    letter_runs = []
    for _ in range(RUNS):
        result = subprocess.run([sys.executable, str(HERE / "letters.py")], capture_output=True, text=True,
                                env={**os.environ, "ATTENDANCE_NO_PROGRESS": "1"})
        (OUT / "letters-1000.txt").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if line.strip()] or [f"exit {result.returncode}"]
            FAILURES.append("bench/letters.py\n  " + "\n  ".join(lines[-20:]))
            first = lines[-1] if lines[0].startswith("Traceback") else lines[0]
            return check(name, Run(error=first[:160]), limit=5.0)
        count, seconds, pages = result.stdout.split()[:3]
        letter_runs.append((float(seconds), int(count), int(pages)))
    seconds, count, pages = min(letter_runs)
    if count < 1_000:
        FAILURES.append(f"bench/letters.py: wrote {count:,} letters, not 1,000 (the sample has too few events)")
    return check(f"{count:,} letters to PDF, one file each + print file ({pages:,} pages)", Run(seconds, 0.0),
                 limit=5.0)


if __name__ == "__main__":
    sys.exit(main())
