"""`make bench`: time and peak memory of the toolkit against its targets, measured in one run.

1. Generates (once, into bench/data/, not committed) a 60,000-pupil full-year Arbor export:
   380 sessions each, about 23 million marks, about 1.3 GB, with realistic codes.
2. Times `attendance summary` on it beside the floor (bench/floor.py, a minimal hand-written
   Polars group-by producing the same table without any checking), interleaved, best of three.
3. Times `attendance triggers --policy dfe-national` on the same file (target: at most 2x the summary).
4. Times `attendance --help`, and a summary of the 1,000-pupil secondary sample's full year.
5. Times 1,000 letters to PDF, one file each and the merged print file (bench/letters.py).
6. Times the half-termly report (HTML) for the 1,000-pupil sample and for the 60,000-pupil year.

Peak memory is the maximum resident set size of each process (GNU time's %M).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
BIG = DATA / "arbor_60000_pupils_2025-26.csv"
PUPILS = 60_000
RUNS = 3
ATTENDANCE = [sys.executable, "-m", "attendance_cli"]


def school_days() -> list[dt.date]:
    """190 school days of 2025/26: weekdays from 3 Sep 2025, skipping the usual holidays."""
    holidays = [(dt.date(2025, 10, 27), dt.date(2025, 10, 31)), (dt.date(2025, 12, 22), dt.date(2026, 1, 2)),
                (dt.date(2026, 2, 16), dt.date(2026, 2, 20)), (dt.date(2026, 3, 30), dt.date(2026, 4, 10)),
                (dt.date(2026, 5, 25), dt.date(2026, 5, 29))]
    days, day = [], dt.date(2025, 9, 3)
    while len(days) < 190:
        if day.weekday() < 5 and not any(a <= day <= b for a, b in holidays) and day != dt.date(2026, 5, 4):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def generate(path: Path, pupils: int = PUPILS, chunk: int = 5_000) -> None:
    """Write the big export in chunks of pupils (vectorised: marks come from hashes, not loops)."""
    days = school_days()
    sessions = pl.DataFrame({
        "Date": [d.strftime("%d/%m/%Y") for d in days for _ in (0, 1)],
        "Session": ["AM", "PM"] * len(days),
        "_slot": list(range(2 * len(days))),
    }).with_columns(pl.col("_slot").cast(pl.UInt64))
    closed = {2 * days.index(dt.date(2025, 11, 28)), 2 * days.index(dt.date(2025, 11, 28)) + 1}
    surnames = ["Smith", "Jones", "Khan", "O’Brien", "Nowak", "Patel", "Okafor", "Williams", "Brown", "Taylor"]
    forenames = ["Amy", "Zoë", "Łukasz", "Tom", "Aisha", "Oliver", "Mia", "Noah", "Isla", "Leo"]
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
                pl.col("_p").map_elements(lambda i: surnames[i % 10], return_dtype=pl.String).alias("Legal Surname"),
                pl.col("_p").map_elements(lambda i: forenames[(i // 10) % 10], return_dtype=pl.String).alias("Legal Forename"),
                ("Year " + (7 + pl.col("_p") % 5).cast(pl.String)).alias("Year Group"),
                ((7 + pl.col("_p") % 5).cast(pl.String) + pl.col("_p").mod(8).map_elements(
                    lambda i: "ABCDEFGH"[i], return_dtype=pl.String)).alias("Registration Form"),
                # a pupil's absence propensity: most near 1, a tail up to 6x
                (1 + 5 * ((pl.col("_p").hash(7) % 1000).cast(pl.Float64) / 1000) ** 6).alias("_risk"),
            ).join(sessions, how="cross")
            draw = (pl.struct("_p", "_slot").hash(11) % 1_000_000).cast(pl.Float64) / 1_000_000
            mark = pl.when(pl.col("_slot").is_in(list(closed))).then(pl.lit("#"))
            edge = 0.0
            for code, share in codes:
                low = edge
                edge += share
                mark = mark.when((draw >= pl.lit(low) * pl.col("_risk")) & (draw < pl.lit(edge) * pl.col("_risk"))).then(pl.lit(code))
            mark = mark.otherwise(pl.when(pl.col("Session") == "AM").then(pl.lit("/")).otherwise(pl.lit("\\")))
            block = block.with_columns(mark.alias("Mark")).with_columns(
                pl.when(pl.col("Mark") == "L").then(1 + (pl.struct("_p", "_slot").hash(3) % 25))
                .when(pl.col("Mark") == "U").then(30 + (pl.struct("_p", "_slot").hash(5) % 30))
                .cast(pl.String).alias("Minutes Late"))
            out = block.select("Student ID", "UPN", "Legal Surname", "Legal Forename", "Year Group",
                               "Registration Form", "Date", "Session", "Mark", "Minutes Late")
            out.write_csv(handle, include_header=start == 0)
    tmp.replace(path)


def timed(command: list[str]) -> tuple[float, float]:
    """(seconds, peak MB) of one run, output discarded."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    started = time.perf_counter()
    result = subprocess.run([gnu_time, "-f", "%M", *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "ATTENDANCE_NO_PROGRESS": "1"})
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stderr}")
    peak_kb = int(result.stderr.strip().splitlines()[-1])
    return elapsed, peak_kb / 1024


def best(command: list[str], runs: int = RUNS) -> tuple[float, float]:
    results = [timed(command) for _ in range(runs)]
    return min(r[0] for r in results), max(r[1] for r in results)


def main() -> None:
    DATA.mkdir(exist_ok=True)
    if not BIG.exists():
        print(f"Generating {BIG.relative_to(ROOT)} ({PUPILS:,} pupils, a full year) ...", flush=True)
        started = time.perf_counter()
        generate(BIG)
        print(f"  {BIG.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - started:.0f} s", flush=True)
    marks = 380 * PUPILS
    print(f"Input: {BIG.relative_to(ROOT)}, {BIG.stat().st_size / 1e9:.2f} GB, {marks:,} marks; best of {RUNS} runs\n")

    floor_cmd = [sys.executable, str(HERE / "floor.py"), str(BIG)]
    summary_cmd = [*ATTENDANCE, "summary", str(BIG), "-f", "csv", "-q"]
    floor_runs, summary_runs = [], []
    for _ in range(RUNS):  # interleaved, so both see the same machine
        floor_runs.append(timed(floor_cmd))
        summary_runs.append(timed(summary_cmd))
    floor_s, floor_mb = min(r[0] for r in floor_runs), max(r[1] for r in floor_runs)
    summary_s, summary_mb = min(r[0] for r in summary_runs), max(r[1] for r in summary_runs)

    # the weekly triggers on the same year (no ledger: every event is new)
    triggers_s, triggers_mb = best([*ATTENDANCE, "triggers", str(BIG), "--policy", "dfe-national", "-f", "csv", "-q",
                                    "--db", str(DATA / "bench-ledger.sqlite")], runs=RUNS)
    help_s, _ = best([*ATTENDANCE, "--help"], runs=5)
    year = sorted((ROOT / "sample_data").glob("secondary_arbor_2025-26_*.csv"))
    small_s, small_mb = best([*ATTENDANCE, "summary", *map(str, year), "-f", "csv", "-q"], runs=5)

    # 1,000 letters to PDF, one file each and the print file (bench/letters.py times that stage)
    letter_runs = []
    for _ in range(RUNS):
        out = subprocess.run([sys.executable, str(HERE / "letters.py")], capture_output=True, text=True,
                             env={**os.environ, "ATTENDANCE_NO_PROGRESS": "1"})
        if out.returncode != 0:
            raise SystemExit(f"failed: bench/letters.py\n{out.stderr}")
        count, seconds, pages = out.stdout.split()[:3]
        letter_runs.append((float(seconds), int(count), int(pages)))
    letters_s, letters_n, letters_pages = min(letter_runs)

    # the half-termly report: the 1,000-pupil sample (both years) and the 60,000-pupil year
    secondary = sorted((ROOT / "sample_data").glob("secondary_arbor_*.csv"))
    report_small_s, report_small_mb = best([*ATTENDANCE, "report", *map(str, secondary), "--out",
                                            str(DATA / "report-1000.html"), "-q"], runs=RUNS)
    report_big_s, report_big_mb = timed([*ATTENDANCE, "report", str(BIG), "--out", str(DATA / "report-60000.html"), "-q"])

    ratio = summary_s / floor_s
    rows = [
        ("floor: hand-written Polars group-by", f"{floor_s:.2f} s", f"{floor_mb:.0f} MB", "", ""),
        ("attendance summary (60,000 pupils)", f"{summary_s:.2f} s", f"{summary_mb:.0f} MB",
         "<= 1.3x floor, < 1024 MB", _ok(ratio <= 1.3 and summary_mb < 1024)),
        ("  ratio to the floor", f"{ratio:.2f}x", "", "<= 1.30x", _ok(ratio <= 1.3)),
        ("attendance triggers --policy dfe-national", f"{triggers_s:.2f} s", f"{triggers_mb:.0f} MB",
         "<= 2x summary", _ok(triggers_s <= 2 * summary_s)),
        ("  ratio to summary", f"{triggers_s / summary_s:.2f}x", "", "<= 2.00x", _ok(triggers_s <= 2 * summary_s)),
        ("attendance --help", f"{help_s:.2f} s", "", "< 0.3 s", _ok(help_s < 0.3)),
        (f"summary, 1,000-pupil year ({len(year)} files)", f"{small_s:.2f} s", f"{small_mb:.0f} MB", "< 1 s",
         _ok(small_s < 1.0)),
        (f"{letters_n:,} letters to PDF, one file each + print file ({letters_pages:,} pages)", f"{letters_s:.2f} s", "",
         "< 5 s", _ok(letters_s < 5.0)),
        (f"report, 1,000 pupils, half term ({len(secondary)} files)", f"{report_small_s:.2f} s", f"{report_small_mb:.0f} MB",
         "< 5 s", _ok(report_small_s < 5.0)),
        ("report, 60,000 pupils, half term", f"{report_big_s:.2f} s", f"{report_big_mb:.0f} MB", "< 60 s",
         _ok(report_big_s < 60.0)),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths)))


def _ok(passed: bool) -> str:
    return "ok" if passed else "MISSED"


if __name__ == "__main__":
    main()
