"""Errors the toolkit raises on purpose.

Every error a user can cause (a bad export, a bad code table, a bad option) is an
`AttendanceError` with a message that says what was found, what was expected and how to fix
it. The command line prints it as one `Error: ...` block on stderr and exits with the error's
exit code; nothing else in the package decides exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Exit codes, documented in the README. Cron jobs act on these.
EXIT_OK = 0
EXIT_DATA_ERROR = 1  # an export, code table or calendar file could not be used; nothing written
EXIT_USAGE = 2  # bad option or argument (Click's own code for usage errors)
EXIT_REJECTS = 3  # --lenient run finished, but some rows were set aside in the rejects file


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
