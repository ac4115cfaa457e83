"""Small numbers suppressed in anything shared, as the DfE's statistics do it: one rule for every table
of groups and its total (`summary --by --suppress-below`, the report's breakdowns and its letters
table, the trust report).

- primary: a group of fewer than N pupils shows none of its figures; a count of pupils persistently
  (or severely) absent from 1 to N - 1 is hidden, with its percentage. The total row is shared as
  much as a group's: the same rule;
- secondary: the total is the sum of the groups, so a hidden count could be worked out by
  subtracting the shown ones from it. For every column of counts, each hidden cell must still be
  able to take more than one value given the shown cells, the total, that a group has at least one
  pupil and that a group's PA or SA pupils are at most its pupils (its sessions at most the total's):
  where one could not, another group is hidden (the one with the smallest shown count of that
  column: its whole row for pupils and sessions, its count for PA and SA pupils) until none can;
  if no shown cell is left to hide, the total's is hidden. A column whose total is 0 is left as it is:
  every group's value is then 0, as the shown total already says, so a hidden cell tells nothing more
  (a grid export has no minutes late: its total of 0 would otherwise hide every group).

A hidden figure is null in the tables (JSON, Parquet) and written `c` in CSV, Excel and on the
terminal, as the DfE's own tables write it (`HIDDEN`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

#: How a hidden figure is written where text can stand in a cell (CSV, Excel, the terminal).
HIDDEN = "c"
ROW = "pupils"  # hiding a group's pupils hides the whole group
#: The columns of counts that add up to the total, in the order they are checked: pupils, the
#: session counts (hidden only with their whole group), then PA and SA pupils.
SESSIONS = ("possible_sessions", "attended_sessions", "authorised_absences", "unauthorised_absences",
            "late_before_close", "late_after_close", "minutes_late")
COUNTS = ("pupils", "persistent_absence_pupils", "severe_absence_pupils")
#: Counts hidden cell by cell (primary: 1 to N - 1), with the figures derived from each.
SMALL = {"persistent_absence_pupils": ("persistent_absence_pupils", "persistent_absence_pct"),
         "severe_absence_pupils": ("severe_absence_pupils", "severe_absence_pct")}
#: The least value a cell of a listed group can hold (a group has a pupil, a pupil a possible session).
_LEAST = {"pupils": 1, "possible_sessions": 1}


def checked(columns: Sequence[str]) -> tuple[str, ...]:
    """The columns of counts among `columns`, in the order `suppress` checks them."""
    return tuple(c for c in ("pupils", *SESSIONS, *SMALL) if c in columns)


def suppress(rows: Sequence[dict[str, int]], total: dict[str, int], below: int,
             columns: Sequence[str] = COUNTS, total_shown: bool = False) -> tuple[list[set[str]], set[str]]:
    """The count columns hidden in each row (a group) and in the total. `rows` and `total` hold
    `columns` (pupils first); a row or a total with ROW hidden is hidden whole (every column).
    `total_shown`: the total is shown whatever it is (a report's headline): only groups are hidden."""
    columns = checked(columns)
    whole = set(columns)
    hidden: list[set[str]] = [set() for _ in rows]
    for i, row in enumerate(rows):
        if row["pupils"] < below:
            hidden[i] |= whole
        for column in SMALL:
            if column in columns and 0 < row[column] < below:
                hidden[i].add(column)
    total_hidden: set[str] = set() if total_shown else whole if total.get("pupils", 0) < below else {
        column for column in SMALL if column in columns and 0 < total[column] < below}
    changed = True
    while changed:
        changed = False
        for column in columns:
            if column in total_hidden or total[column] == 0 or not derivable(rows, total, hidden, column):
                continue
            shown = [i for i, row in enumerate(rows) if column not in hidden[i]]
            rest = total[column] - sum(rows[i][column] for i in shown)
            if shown:  # a shown count that is not 0 first, where what is hidden adds up to 0
                pick = min(shown, key=lambda i: (rest == 0 and rows[i][column] == 0, rows[i][column], i))
                hidden[pick] |= {column} if column in SMALL else whole
            elif total_shown:
                continue  # every group's cell is hidden already: nothing more to hide
            else:
                total_hidden |= {column} if column in SMALL else whole
            changed = True
    return hidden, total_hidden


def bounds(rows: Sequence[dict[str, int]], total: dict[str, int], hidden: list[set[str]], column: str
           ) -> dict[int, tuple[int, int]]:
    """The values each hidden cell of `column` could take, from the shown cells and the total: the
    hidden cells add up to what the shown ones leave of the total, each at least its least (a group
    has a pupil) and at most its group's pupils (PA and SA, if shown) or what is left."""
    cells = [i for i in range(len(rows)) if column in hidden[i]]
    rest = total[column] - sum(rows[i][column] for i in range(len(rows)) if column not in hidden[i])
    least = _LEAST.get(column, 0)
    upper = {i: rows[i]["pupils"] if column in SMALL and ROW not in hidden[i] else rest for i in cells}
    out = {}
    for i in cells:
        others_most = sum(upper[j] for j in cells if j != i)
        others_least = least * (len(cells) - 1)
        out[i] = (max(least, rest - others_most), min(upper[i], rest - others_least))
    return out


def derivable(rows: Sequence[dict[str, int]], total: dict[str, int], hidden: list[set[str]], column: str) -> bool:
    """Whether some hidden cell of `column` has only one value it could take."""
    return any(low >= high for low, high in bounds(rows, total, hidden, column).values())


def hidden_figures(counts: set[str]) -> set[str]:
    """Every figure hidden with these counts (a whole group: everything, "*")."""
    if ROW in counts:
        return {"*"}
    return {name for column in counts for name in SMALL.get(column, (column,))}


def suppress_table(table: pl.DataFrame, total: pl.DataFrame, keys: Sequence[str], below: int
                   ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """A table of groups (`statistics.GROUP_COLUMNS`) and its one-row total with the hidden figures
    made null; returns (table, its mask, total, its mask): a mask has a boolean column per figure,
    true where it is hidden."""
    import polars as pl

    columns = checked(table.columns)
    figures = [c for c in table.columns if c not in keys]
    counts = [{c: int(row[c] or 0) for c in columns} for row in table.iter_rows(named=True)]  # a few dozen groups
    hidden, total_hidden = suppress(counts, {c: int(total[c][0] or 0) for c in columns}, below, columns)

    def masked(frame: pl.DataFrame, per_row: list[set[str]]) -> tuple[pl.DataFrame, pl.DataFrame]:
        shown = [hidden_figures(h) for h in per_row]
        mask = pl.DataFrame({c: [("*" in s or c in s) for s in shown] for c in figures},
                            schema={c: pl.Boolean for c in figures})
        return frame.with_columns(pl.when(mask[c]).then(None).otherwise(pl.col(c)).alias(c) for c in figures), mask

    shown_table, table_mask = masked(table, hidden)
    shown_total, total_mask = masked(total, [total_hidden])
    return shown_table, table_mask, shown_total, total_mask


def as_text(frame: pl.DataFrame, mask: pl.DataFrame | None) -> pl.DataFrame:
    """`frame` with each hidden cell written HIDDEN (its column then text): for CSV."""
    import polars as pl

    if mask is None:
        return frame
    hidden = [c for c in mask.columns if c in frame.columns and mask[c].any()]
    return frame.with_columns(pl.when(mask[c]).then(pl.lit(HIDDEN)).otherwise(pl.col(c).cast(pl.String)).alias(c)
                              for c in hidden)
