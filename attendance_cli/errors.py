"""Errors the toolkit raises on purpose.

Every error a user can cause (a bad export, a bad code table, a bad option) is an
`AttendanceError` with a message that says what was found, what was expected and how to fix
it. The command line prints it as one `Error: ...` block on stderr and exits with the error's
exit code; nothing else in the package decides exit codes.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

#: Exit codes, documented in the README. Cron jobs act on these.
EXIT_OK = 0
EXIT_DATA_ERROR = 1  # an export, code table or calendar file could not be used; nothing written
EXIT_USAGE = 2  # bad option or argument, or a missing file (Click's own code for usage errors)
EXIT_REJECTS = 3  # --lenient run finished, but some rows were set aside in the rejects file
EXIT_NOT_SENT = 4  # --send finished, but some messages failed or their outcome is unknown
EXIT_INTERRUPTED = 130  # stopped with Ctrl-C (128 + SIGINT, as shells report it)


class AttendanceError(Exception):
    """Base class for every error the toolkit reports to the user."""

    exit_code = EXIT_DATA_ERROR

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def describe(self) -> str:
        """The full text shown to the user."""
        return self.message if not self.fix else f"{self.message}\n  Fix: {self.fix}"


class ConfigError(AttendanceError):
    """A code table, calendar or settings file is not usable."""


class UsageError(AttendanceError):
    """Options that cannot work together, or a value the option does not accept."""

    exit_code = EXIT_USAGE


class MissingFileError(UsageError):
    """A file or folder the run was told to use is not there. A usage error (exit 2), as Click
    makes a missing export or --calendar: a cron job can tell a wrong path (2) from a file that is
    there but cannot be used (1)."""


class FileSystemError(AttendanceError):
    """The operating system refused a file: a full disk, no permission, a file where a folder
    should be. Exit 1, as for any file that cannot be used; outputs are written whole or not at
    all, so nothing half-written is left behind."""

    @classmethod
    def from_os_error(cls, error: OSError, path: str | os.PathLike[str] | None = None,
                      action: str | None = None) -> FileSystemError:
        """`cannot write PATH: No space left on device`. `path`: the file being written, for errors
        that name none (a full disk is reported by write(), which names no file); `action`: "read"
        or "write" when the caller knows which."""
        target = _shown(path if path is not None else error.filename)
        verb = action or _action(error, target)
        what = f" {target}" if target is not None else " a file"
        return cls(f"cannot {verb}{what}: {_reason(error, target)}", fix=_FIXES.get(error.errno or 0))


#: Errors that only writing can cause.
_WRITING = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.ENOTDIR}
_FIXES = {
    errno.ENOSPC: "Free some space on that disk (or write somewhere else), then run again.",
    errno.EDQUOT: "Free some space in your disk quota (or write somewhere else), then run again.",
    errno.EROFS: "That disk is read-only: write somewhere else.",
    errno.EACCES: "Check the permissions of the file and its folder, or use another path.",
    errno.EPERM: "Check the permissions of the file and its folder, or use another path.",
    errno.ENOTDIR: "Choose a path whose folders are folders, or move the file away.",
}
#: Work files and folders a run writes before moving its results into place (outputs.atomic_write's
#: `.NAME.xxxx.part`, the `.attendance-...` staging folders): the user never named them.
_WORK_NAME = re.compile(r"^\.(attendance-.+|.+\.part)$")


def _shown(path: str | bytes | os.PathLike[str] | int | None) -> Path | None:
    """The path to name in a message: a work file or folder is shown as the folder it is in, the
    one the user chose."""
    if path is None or isinstance(path, int):  # an error on a file descriptor names no path
        return None
    shown = Path(os.fsdecode(path))
    for index, part in enumerate(shown.parts):
        if _WORK_NAME.match(part):
            return Path(*shown.parts[:index]) if index else Path(".")
    return shown


def _action(error: OSError, target: Path | None) -> str:
    """Read or write, when the caller did not say: some errors only come from writing; a path that
    is there but cannot be read was being read; a refusal on anything else was a write (inputs are
    checked before a run starts, outputs are created as it goes)."""
    if error.errno in _WRITING:
        return "write"
    if target is not None and target.exists() and not os.access(target, os.R_OK):
        return "read"
    return "write" if isinstance(error, PermissionError) else "use"


def _reason(error: OSError, target: Path | None) -> str:
    """The system's reason; for "Not a directory", which file stands where a folder should be."""
    if error.errno == errno.ENOTDIR and target is not None:
        blocker = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            return f"{blocker} is a file, not a folder"
    return error.strerror or str(error) or type(error).__name__


@dataclass
class Problem:
    """One kind of problem in an export, possibly on many rows.

    Problems of the same kind with the same value are grouped so that 3,000 rows with an
    unknown code are one line of output, not 3,000.
    """

    file: str
    reason: str
    lines: list[int] = field(default_factory=list)
    column: str | None = None
    value: str | None = None
    expected: str | None = None
    fix: str | None = None
    count: int = 1

    def describe(self, max_lines: int = 5) -> str:
        where = self.file
        if self.lines:
            shown = ", ".join(str(n) for n in self.lines[:max_lines])
            more = f" and {self.count - max_lines:,} more" if self.count > max_lines else ""
            label = "line" if self.count == 1 else "lines"
            where += f", {label} {shown}{more}"
        parts = [f"{where}: {self.reason}"]
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        if self.value is not None:
            parts.append(f"value {self.value!r}")
        text = "; ".join(parts)
        if self.expected:
            text += f"\n    Expected: {self.expected}"
        if self.fix:
            text += f"\n    Fix: {self.fix}"
        return text


class InputError(AttendanceError):
    """An export cannot be read as it stands. Carries every problem found, grouped."""

    def __init__(self, message: str, problems: list[Problem] | None = None, fix: str | None = None):
        super().__init__(message, fix)
        self.problems = problems or []

    def describe(self, max_problems: int = 20) -> str:
        lines = [self.message]
        for problem in self.problems[:max_problems]:
            lines.append("  - " + problem.describe().replace("\n", "\n    "))
        if len(self.problems) > max_problems:
            lines.append(f"  ... and {len(self.problems) - max_problems} more kinds of problem")
        if self.fix:
            lines.append(f"  Fix: {self.fix}")
        return "\n".join(lines)
