"""Exclusive file locks: one recording run at a time per letters folder and per ledger.

`hold(path, wait, what)` takes an exclusive lock on the file `path` (created if need be), waiting
up to `wait` seconds for another process to let go, and raises `LedgerBusy` (exit 1) if it does
not. The operating system lets go of a lock when its process ends, however it ends (killed,
crashed), so a lock is never left behind: at most the lock file, which may stay on disk (the
ledger's does once there is a ledger; the letters folder's only if the run was killed) and is
harmless there. It
holds no personal data, only the process id and start time of the run that holds it, and its name
starts with a dot and ends in `.lock` (no staging folder, letter or manifest is named so), so it
is never taken for a letter. A run may remove a lock file it holds: one waiting for it then finds
the file gone and takes the lock on the new one (see `_same_file`).

`fcntl.flock` on Linux and macOS (on a network share, the share must support locks: NFS and SMB
mounts usually do), `msvcrt.locking` on Windows. No other dependency.

Where the locks are (see `letters_cmd` and `triggers_cmd`): a recording `attendance letters` run
holds `DIR/.attendance-letters.lock` (its --out folder) and `LEDGER.lock` beside the ledger file
from before it recovers interrupted runs until its files are moved and the run is marked done;
`attendance triggers --record` holds `LEDGER.lock`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

#: The lock file in a letters folder.
FOLDER_LOCK = ".attendance-letters.lock"
#: How often a waiting run tries the lock again, in seconds.
POLL = 0.05


def ledger_lock(ledger: Path) -> Path:
    """The lock file of a ledger: its name with `.lock`, beside it."""
    return ledger.with_name(ledger.name + ".lock")


def folder_lock(folder: Path) -> Path:
    return folder / FOLDER_LOCK


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _same_file(fd: int, path: Path) -> bool:
    """Whether `path` still names the file open as `fd`: a run that holds the lock may remove the
    file (and its folder) when it is done; a lock taken on the removed file would lock nothing."""
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


@contextlib.contextmanager
def hold(path: Path, wait: float, what: str, *, by: str = "letters run", make_folder: bool = False,
         remove_if: Callable[[], bool] | None = None, until: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` while the block runs.

    Waits up to `wait` seconds (trying every POLL seconds) for another process holding it, then
    raises LedgerBusy: "Another `by` is using `what` ...". `make_folder`: create the lock file's
    folder if it is not there (a letters folder a run is about to fill). `remove_if`: asked when the
    block is over, still holding the lock; if true, the lock file is removed (a folder the run
    created and left empty can then be removed too). `until`: a `time.monotonic()` deadline instead
    of `wait` from now (the message still says `wait`), for a second lock taken in the same wait."""
    from attendance_cli.ledger import LedgerBusy

    deadline = until if until is not None else time.monotonic() + max(0.0, wait)
    announced = False
    while True:
        if make_folder:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
        except PermissionError:
            if sys.platform != "win32":
                raise
            fd = None  # Windows: the file is being removed by the run that held it
        if fd is not None:
            if _try_lock(fd):
                if _same_file(fd, path):
                    break
                _unlock(fd)
            os.close(fd)
        if time.monotonic() >= deadline:
            raise LedgerBusy(
                f"Another {by} is using {what}; waited {wait:g} seconds for it to finish.",
                fix="Try again when it has finished, or give --wait SECONDS to wait longer.")
        if not announced:
            checkpoint("lock-busy")
            announced = True
        time.sleep(POLL)
    try:
        try:  # who holds it, for a person looking at the file: no personal data
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} since {dt.datetime.now():%Y-%m-%d %H:%M:%S}\n".encode("ascii"))
        except OSError:
            pass
        yield
    finally:
        remove = False
        with contextlib.suppress(Exception):
            remove = bool(remove_if and remove_if())
        if remove and sys.platform != "win32":
            with contextlib.suppress(OSError):
                path.unlink()  # while still locked: a run waiting on it sees it gone and tries again
        _unlock(fd)
        os.close(fd)
        if remove and sys.platform == "win32":  # pragma: no cover
            with contextlib.suppress(OSError):
                path.unlink()  # refused while another run has it open: then it stays


@contextlib.contextmanager
def run_locks(folder: Path | None, ledger: Path, wait: float) -> Iterator[None]:
    """The locks of a recording run: its letters folder (if it has one), then its ledger.

    Every run takes them in this order, so two runs never wait for each other in a circle. `wait`
    is shared: the whole wait is at most `wait` seconds. The folder's lock file is removed at the
    end (the ledger's stays beside the ledger, unless there is no ledger: a run that failed before
    recording leaves nothing), and a letters folder this run created is removed again if the run
    left it empty."""
    deadline = time.monotonic() + max(0.0, wait)
    with contextlib.ExitStack() as stack:
        if folder is not None:
            existed = folder.exists()
            stack.callback(_remove_empty, folder, existed)
            # removed when the run is over: the letters folder holds letters (a killed run leaves it: harmless)
            stack.enter_context(hold(folder_lock(folder), wait, f"the letters folder {folder}", make_folder=True,
                                     remove_if=lambda: True, until=deadline))
        lock = ledger_lock(ledger)
        if not lock.parent.is_dir():
            from attendance_cli.ledger import LedgerError

            raise LedgerError(f"Cannot open the trigger ledger {ledger}: there is no folder {lock.parent}.",
                              fix="Check the path given to --db (or the policy's ledger, or $ATTENDANCE_DB).")
        if folder is None or lock.resolve() != folder_lock(folder).resolve():
            # a run that never made the ledger (it failed before recording) takes its lock file away too
            stack.enter_context(hold(lock, wait, f"the ledger {ledger}", by="letters or triggers --record run",
                                     until=deadline, remove_if=lambda: not ledger.exists()))
        checkpoint("locked")
        yield


def _remove_empty(folder: Path, existed: bool) -> None:
    if not existed:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if empty: another run may have started filling it


# -- for the tests ------------------------------------------------------------------------------


def checkpoint(step: str) -> None:
    """A named step of a recording run, for the concurrency and fault tests (child processes).

    With ATTENDANCE_TEST_KILL_AT=STEP, the run ends at that step at once, as a kill would (exit 137).

    With ATTENDANCE_TEST_HOOKS=DIR, creates DIR/<step> when the run gets here (steps: lock-busy,
    locked; in letters: staged, recorded (inside the ledger transaction), moving; in triggers --record: committed). With ATTENDANCE_TEST_PAUSE_AT=STEP too, the run then waits
    at that step until the test removes DIR/<step> (at most 60 seconds): the test can start another
    run, or send Ctrl-C, at a known point. Nothing happens without these variables."""
    if os.environ.get("ATTENDANCE_TEST_KILL_AT") == step:  # the fault tests: the run stops here as a kill would
        os._exit(137)
    hooks = os.environ.get("ATTENDANCE_TEST_HOOKS")
    if not hooks:
        return
    marker = Path(hooks) / step
    marker.touch()
    if os.environ.get("ATTENDANCE_TEST_PAUSE_AT") == step:
        deadline = time.monotonic() + 60
        while marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
