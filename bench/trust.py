"""The trust measure of `make bench`: 100 synthetic schools of 600 pupils (60,000 pupils, a full year
each), `attendance trust summary` on this machine (one school after another, and the default pool
of one worker process per CPU) against the same schools on a local Dask cluster (one worker process
per CPU), whose output must be byte for byte the one-machine output.

Generated once into bench/data/trust-SCHOOLSxPUPILS/ (not committed): each school an Arbor export
from bench.generate with a salt of its own (the same pupil ids at every school, as real schools'
ids collide, with other marks), and trust.toml listing them.

Run alone: `python bench/trust.py` (BENCH_TRUST_SCHOOLS, BENCH_TRUST_PUPILS, BENCH_RUNS). Peak memory
is the command's own process (GNU time): the pool's and the cluster's workers are not counted.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench as b  # noqa: E402  (bench/bench.py)

SCHOOLS = int(os.environ.get("BENCH_TRUST_SCHOOLS", "100"))
SIZE = int(os.environ.get("BENCH_TRUST_PUPILS", "600"))
FOLDER = b.DATA / f"trust-{SCHOOLS}x{SIZE}"
TRUST = FOLDER / "trust.toml"


def ensure() -> Path:
    """The schools' exports and the trust file (generated once)."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    made = 0
    for number in range(SCHOOLS):
        path = FOLDER / f"school-{number:03d}.csv"
        if not path.exists():
            b.generate(path, SIZE, salt=1000 + number)
            made += 1
    if made:
        print(f"  generated {made} school exports in {FOLDER.relative_to(b.ROOT)} in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    lines = ['name = "Bench Learning Trust"\n']
    for number in range(SCHOOLS):
        lines.append(f'[[school]]\nname = "School {number:03d}"\ndfe_number = "{900 + number // 1000}/{4000 + number % 1000:04d}"\n'
                     f'phase = "secondary"\nexports = "school-{number:03d}.csv"\n')
    TRUST.write_text("\n".join(lines), encoding="utf-8")
    return TRUST


def rows() -> list[b.Row]:
    """The measure's rows: sequential, the process pool, and the local Dask cluster."""
    from dask.distributed import LocalCluster

    trust = ensure()
    pupils = f"{SCHOOLS * SIZE:,}"
    command = [*b.ATTENDANCE, "trust", "summary", str(trust), "-f", "csv", "-q"]
    one = b.OUT / "trust-jobs-1.csv"
    pool = b.OUT / "trust-pool.csv"
    dask = b.OUT / "trust-dask.csv"
    cpus = os.cpu_count() or 1
    sequential = b.best([*command, "--jobs", "1"], one)
    pooled = b.best(command, pool)
    out = [b.check(f"trust summary, {SCHOOLS} schools ({pupils} pupils), one after another", sequential),
           b.check(f"trust summary, {SCHOOLS} schools, process pool ({cpus} workers)", pooled, base=sequential,
                   factor=1.0, base_name="one after another",
                   identical=b.same("trust, process pool", one, pool, rows=SCHOOLS + 1)
                   if pooled.ok and sequential.ok else None)]
    with LocalCluster(n_workers=cpus, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = b.best([*command, "--scheduler", cluster.scheduler_address], dask)
    # no target: on one machine a local cluster can only add its scheduling and the sending of results
    # to the pool's time; what it is for is many machines. The row says how much it adds.
    ratio = (f"; {on_dask.seconds / pooled.seconds:.2f}x the process pool on this machine"
             if on_dask.ok and pooled.ok and pooled.seconds > 0 else "")
    out.append(b.check(f"trust summary, {SCHOOLS} schools, local Dask cluster ({cpus} workers)", on_dask,
                       identical=b.same("trust, Dask", one, dask, rows=SCHOOLS + 1)
                       if on_dask.ok and sequential.ok else None,
                       note="the trust summary's CSV (a row per school and the trust's) against the one-machine run"
                            + ratio))
    return out


def main() -> int:
    b.DATA.mkdir(exist_ok=True)
    b.OUT.mkdir(exist_ok=True)
    measured = rows()
    notes = b.print_table(measured)
    print("\n".join(f"[{i}] {note}" for i, note in enumerate(notes, 1)))
    for text in b.DIFFERENCES + b.FAILURES:
        print(text)
    return 1 if b.FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
