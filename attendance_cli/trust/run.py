"""Running the same per-school function for every school: in this process, in a pool of worker
processes (the default, one per CPU), or on a Dask distributed cluster (`--scheduler ADDRESS`).

The function is a module-level function of `attendance_cli.jobs.trust`, given one school's task (plain
data) and returning plain data (Polars frames, dataclasses): the same in every place it runs, so
the results are the same whichever runs them and in whatever order they finish (they are returned
in the order of the tasks). A worker that fails with a user's error (a bad export) returns it as
a `Failed` value rather than raising it, so that every school's problem is reported together and
the message survives the trip between processes whole.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from attendance_cli.errors import AttendanceError, UsageError

T = TypeVar("T")


@dataclass(frozen=True)
class Failed:
    """A school whose run stopped with a user's error: the school, the message and its exit code."""

    school: str
    dfe_number: str
    message: str
    exit_code: int


class SchoolsFailed(AttendanceError):
    """One or more schools could not be run; nothing was written."""

    def __init__(self, failed: list[Failed]) -> None:
        lines = [f"{len(failed)} of the schools could not be run; nothing was written." if len(failed) > 1 else
                 "A school could not be run; nothing was written."]
        for f in failed:
            label = f"{f.school} ({f.dfe_number})" if f.dfe_number and f.dfe_number != f.school else f.school
            lines.append(f"  - {label}: " + f.message.replace("\n", "\n    "))
        super().__init__("\n".join(lines))
        self.failed = failed
        self.exit_code = max(f.exit_code for f in failed)


def guarded(fn: Callable[[Any], T], task: Any) -> T | Failed:
    """Run `fn(task)` for one school, a user's error returned as `Failed`."""
    from attendance_cli.trust.split import original_error

    school = task.school
    try:
        return fn(task)
    except AttendanceError as error:
        error = original_error(error, school)
        text = error.describe()
        if any(option in text for option in _SINGLE_SCHOOL):
            text += ("\n  (Those options are a single school's: in a trust, correct the school's exports, or run "
                     "the school on its own with them: attendance summary ITS-EXPORTS ...)")
        return Failed(school.name, school.dfe_number, text, error.exit_code)


#: Options a school's own run has for reading its exports, which `attendance trust` does not.
_SINGLE_SCHOOL = ("--lenient", "--duplicates", "--map", "--source", "--encoding", "--blank-means")


def _set_threads(threads: int) -> None:
    """In each worker process, before Polars is imported: its share of the machine's cores."""
    os.environ.setdefault("POLARS_MAX_THREADS", str(threads))


def run_schools(fn: Callable[[Any], T], tasks: Sequence[Any], *, jobs: int | None = None,
                scheduler: str | None = None) -> list[T]:
    """`fn(task)` for every task, in the tasks' order; raises SchoolsFailed naming every school that
    failed. `jobs`: worker processes on this machine (default: one per CPU; 1 runs in this process);
    `scheduler`: the address of a Dask distributed scheduler to run them on instead."""
    from functools import partial

    work = partial(guarded, fn)
    if scheduler is not None:
        results = _on_dask(work, tasks, scheduler)
    else:
        workers = min(jobs or os.cpu_count() or 1, len(tasks))
        if workers <= 1:
            results = [work(task) for task in tasks]
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawned, not forked: Polars' threads do not survive a fork
            threads = max(1, (os.cpu_count() or 1) // workers)
            with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_set_threads, initargs=(threads,)) as pool:
                results = list(pool.map(work, tasks))
    failed = [r for r in results if isinstance(r, Failed)]
    if failed:
        raise SchoolsFailed(failed)
    return results  # type: ignore[return-value]


def _on_dask(work: Callable[[Any], Any], tasks: Sequence[Any], scheduler: str) -> list[Any]:
    try:
        from dask.distributed import Client
    except ImportError:
        raise UsageError("--scheduler runs the schools on a Dask cluster, but Dask is not installed.",
                         fix="Install the extra: pip install 'attendance-cli[dask]' (on every machine of the cluster "
                             "too), or leave --scheduler out to run the schools on this machine.") from None
    try:
        import re

        if not re.fullmatch(r"(tcp|tls|ucx|inproc)://[^\s/:]+:\d{1,5}|[^\s/:]+:\d{1,5}", scheduler):
            raise UsageError(f"--scheduler {scheduler!r} is not a scheduler's address.",
                             fix="Give it as tcp://HOST:PORT (a Dask scheduler listens on port 8786 unless told "
                                 "otherwise), or leave --scheduler out to run on this machine.")
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as error:
        raise UsageError(f"--scheduler {scheduler}: no Dask scheduler could be reached there ({error}).",
                         fix="Check the address (tcp://HOST:8786) and that the scheduler is running, or leave "
                             "--scheduler out to run on this machine.") from None
    with client:
        futures = client.map(work, list(tasks), pure=False)
        return client.gather(futures)
