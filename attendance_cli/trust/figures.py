"""The trust's own figures: schools side by side, the trust-wide row from summed sessions, and
small numbers suppressed in anything shared.

Suppression, for a table of schools and its trust total:

- primary: a school (or the trust) of fewer than N pupils shows none of its figures; a count of
  pupils persistently (or severely) absent from 1 to N - 1 is hidden, with its percentage, in a
  school's row and in the trust's;
- secondary: the trust total is the sum of the schools, so a hidden count could be worked out by
  subtracting the shown ones from it. For every column of counts, each hidden cell must still be
  able to take more than one value given the shown cells, the total, and that a school's PA or SA
  pupils are at most its pupils: where one could not, the smallest shown count of that column is
  hidden too (a school hidden whole hides all its counts), until none can; if no shown count is
  left to hide, the trust's total of that column is hidden.
"""

from __future__ import annotations

from collections.abc import Sequence

#: The columns of counts that add up to the trust's total, in the order they are checked.
COUNTS = ("pupils", "persistent_absence_pupils", "severe_absence_pupils")
#: The figures hidden with each count (derived from it, or, for a whole school, everything).
WITH = {"persistent_absence_pupils": ("persistent_absence_pupils", "persistent_absence_pct"),
        "severe_absence_pupils": ("severe_absence_pupils", "severe_absence_pct")}
ROW = "pupils"  # hiding a school's pupils hides the whole school


def suppress(rows: Sequence[dict[str, int]], total: dict[str, int], below: int) -> tuple[list[set[str]], set[str]]:
    """The count columns hidden in each row (a school) and in the total. `rows` and `total` hold at
    least COUNTS. A row with ROW hidden is hidden whole."""
    hidden: list[set[str]] = [set() for _ in rows]
    for i, row in enumerate(rows):
        if row["pupils"] < below:
            hidden[i] |= set(COUNTS)
        for column in COUNTS[1:]:
            if 0 < row[column] < below:
                hidden[i].add(column)
    # the trust's own row is shared as much as a school's: the same primary rule
    total_hidden: set[str] = set(COUNTS) if total.get("pupils", 0) < below else {
        column for column in COUNTS[1:] if 0 < total[column] < below}
    changed = True
    while changed:
        changed = False
        for column in COUNTS:
            if column in total_hidden:
                continue
            if not derivable(rows, total, hidden, column):
                continue
            shown = [i for i, row in enumerate(rows) if column not in hidden[i]]
            if shown:
                pick = min(shown, key=lambda i: (rows[i][column], i))
                hidden[pick] |= set(COUNTS) if column == ROW else {column}
            else:
                total_hidden.add(column)
            changed = True
    return hidden, total_hidden


def bounds(rows: Sequence[dict[str, int]], total: dict[str, int], hidden: list[set[str]], column: str
           ) -> dict[int, tuple[int, int]]:
    """The values each hidden cell of `column` could take, from the shown cells and the total: the
    hidden cells add up to what the shown ones leave of the total, each from 0 up to its school's
    pupils (if shown)."""
    cells = [i for i in range(len(rows)) if column in hidden[i]]
    rest = total[column] - sum(rows[i][column] for i in range(len(rows)) if column not in hidden[i])
    upper = {i: rows[i]["pupils"] if column != ROW and ROW not in hidden[i] else rest for i in cells}
    out = {}
    for i in cells:
        others = sum(upper[j] for j in cells if j != i)
        out[i] = (max(0, rest - others), min(upper[i], rest))
    return out


def derivable(rows: Sequence[dict[str, int]], total: dict[str, int], hidden: list[set[str]], column: str) -> bool:
    """Whether some hidden cell of `column` has only one value it could take."""
    return any(low >= high for low, high in bounds(rows, total, hidden, column).values())


def hidden_figures(counts: set[str]) -> set[str]:
    """Every figure hidden with these counts (a whole school: everything)."""
    if ROW in counts:
        return {"*"}
    return {name for column in counts for name in WITH.get(column, (column,))}
