"""Small numbers suppressed in anything shared, as the DfE's statistics do it: one rule for every table
of groups and its total (`summary --by --suppress-below`, the report's breakdowns and its letters
table, the trust report).

- primary: a group of fewer than N pupils shows none of its figures; a count of pupils persistently
  (or severely) absent from 1 to N - 1 is hidden, with its percentage. The total row is shared as
  much as a group's: the same rule;
- secondary: the total is the sum of the groups, so a hidden count could be worked out by
  subtracting the shown ones from it. For every column of counts, each hidden cell must still be
  able to take more than one value given the shown cells, the total, that a group has at least one
  pupil, that a group's PA or SA pupils are at most its pupils (its sessions at most the total's) and
  which cells are hidden for being small (each then from 1 to N - 1, as the output says):
  where one could not, another group is hidden (the one with the smallest shown count of that
  column: its whole row for pupils and sessions, its count for PA and SA pupils) until none can;
  if no shown cell is left to hide, the total's is hidden. (What no hiding can undo: where every cell
  of a column and its total are hidden, the reader still knows each small one is at least 1; N - 1
  groups with a small count in a small total are then 1 each.) A column whose total is 0 is left as it is:
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
    `total_shown`: the total is shown whatever it is (a report's headline): only groups are hidden.

    Pupils, PA and SA pupils are protected against the reader `suppress_nested` assumes (one who knows
    which cells are hidden for being small, so that each is from 1 to below - 1); the session counts,
    hidden only with their whole group, then as the module says."""
    columns = checked(columns)
    whole = set(columns)
    hidden: list[set[str]] = [set() for _ in rows]
    for i, row in enumerate(rows):
        if row["pupils"] < below:
            hidden[i] |= whole
        for column in SMALL:
            if column in columns and 0 < row[column] < below:
                hidden[i].add(column)
    if not total_shown and total.get("pupils", 0) < below:
        return hidden, whole  # the total is hidden whole: nothing can be worked out from it
    counts = [c for c in COUNTS if c in columns]
    def only(row: dict[str, int]) -> dict[str, int]:
        return {c: int(row[c]) if c in counts else 0 for c in COUNTS}

    counted, _, total_hidden = suppress_nested([only(r) for r in rows], [], [], only(total), below,
                                               total_small=not total_shown)
    for i, cells in enumerate(counted):
        hidden[i] |= whole if ROW in cells else cells & set(counts)
    total_hidden = set(total_hidden) & set(counts)
    if not total_shown and rows and all(ROW in cells for cells in counted):
        # every group hidden whole, the total's pupils shown: none of them may be fixed by it either
        # (two groups of 4 under 5 in a total of 8 are 4 each)
        most = [below - 1 if row["pupils"] < below else total["pupils"] for row in rows]
        rest = total["pupils"]
        if any(max(1, rest - (sum(most) - most[i])) >= min(most[i], rest - (len(rows) - 1))
               for i in range(len(rows))):
            total_hidden = set(whole)
    changed = True
    while changed:  # the session counts: a group's hidden with its whole row
        changed = False
        for column in columns:
            if column in COUNTS or column in total_hidden or total[column] == 0 \
                    or not derivable(rows, total, hidden, column):
                continue
            shown = [i for i, row in enumerate(rows) if column not in hidden[i]]
            rest = total[column] - sum(rows[i][column] for i in shown)
            if shown:  # a shown count that is not 0 first, where what is hidden adds up to 0
                hidden[min(shown, key=lambda i: (rest == 0 and rows[i][column] == 0, rows[i][column], i))] |= whole
            elif total_shown:
                continue  # every group's cell is hidden already: nothing more to hide
            else:
                total_hidden |= whole
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


# -- tables inside tables: a report's year groups and the forms inside them -------------------------------------

#: An upper bound standing for "no bound" (a hidden group's pupils can be any number).
_MANY = 10 ** 12


def blocks(links: Sequence[tuple[int, int]], outer: int, inner: int) -> tuple[list[int], list[int]]:
    """The block of each outer group (a year group) and each inner group (a form): groups joined by a
    pupil in both (`links`: pairs of outer and inner index) are in one block. A form inside one year
    group is in that year group's block; forms spanning several year groups (vertical tutoring) join
    those year groups and all their forms into one block, whose total is both the sum of its year groups
    and the sum of its forms: the cross-tabulation (how many of a form are in each year group) is never
    shown, so it is not taken as known."""
    parent = list(range(outer + inner))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for year, form in links:
        parent[root(outer + form)] = root(year)
    roots = [root(i) for i in range(outer + inner)]
    number = {r: n for n, r in enumerate(dict.fromkeys(roots))}
    return [number[r] for r in roots[:outer]], [number[r] for r in roots[outer:]]


def _add(ranges: Sequence[tuple[int, int]]) -> tuple[int, int]:
    return sum(r[0] for r in ranges), min(_MANY, sum(r[1] for r in ranges))


def _meet(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return max(a[0], b[0]), min(a[1], b[1])


class _Tree:
    """One column of counts over the total (node 0), its groups and (for two tables) the blocks joining
    them: each node is the sum of each of its sets of children. `own[n]`: the values node n can take on
    its own (one value where shown). `ranges()` gives the values each node can take given every other:
    sums of integer ranges are integer ranges, and given a node's value its sets of children are
    independent, so working up the tree then down it is exact."""

    def __init__(self, own: list[tuple[int, int]], children: dict[int, list[list[int]]]) -> None:
        self.own, self.children = own, children
        self.parent = {c: (n, k) for n, sets in children.items() for k, members in enumerate(sets) for c in members}

    def ranges(self) -> list[tuple[int, int]]:
        up = list(self.own)

        def climb(n: int) -> None:
            for members in self.children.get(n, []):
                for c in members:
                    climb(c)
                up[n] = _meet(up[n], _add([up[c] for c in members]))

        climb(0)
        down = list(up)

        def descend(n: int) -> None:
            for members in self.children.get(n, []):
                for c in members:
                    others = _add([up[s] for s in members if s != c])
                    down[c] = _meet(up[c], (down[n][0] - others[1], down[n][1] - others[0]))
                    descend(c)

        descend(0)
        return down


def _nearness(tree: _Tree, target: int):
    """How near each node is to `target`: a cell of the same sum first, then by steps through the tree
    (its year group, its year group's forms or the other year groups, ...)."""
    def path(n: int) -> list[int]:
        out = [n]
        while out[-1] in tree.parent:
            out.append(tree.parent[out[-1]][0])
        return out

    mine = path(target)
    same = tree.parent.get(target)

    def near(n: int) -> int:
        if tree.parent.get(n) == same:
            return 0
        theirs = path(n)
        common = next(m for m in theirs if m in mine)
        return theirs.index(common) + mine.index(common)

    return near


def suppress_nested(outer: Sequence[dict[str, int]], inner: Sequence[dict[str, int]],
                    links: Sequence[tuple[int, int]], total: dict[str, int], below: int,
                    total_small: bool = False, total_hidden: Sequence[str] = ()
                    ) -> tuple[list[set[str]], list[set[str]], set[str]]:
    """The COUNTS hidden in each group of two tables shown together with their total: `outer` (year
    groups) and `inner` (forms), each adding up to the total, each form inside the year groups `links`
    joins it to (blocks). The total's pupils are shown; its PA and SA counts are shown too, unless
    `total_small` (a report for governors): a count from 1 to below - 1 is then hidden (primary), and a
    count hidden to protect a group; `total_hidden`: the total's counts hidden already (by another table
    of the same total), which no cell may give away either. One table alone: `inner` empty.

    Primary suppression as `suppress`; then, column by column, no hidden cell may be worked out from
    every shown cell of both tables and the total, where the reader is taken to know which cells are
    hidden for being small (a small count is from 1 to below - 1, a small group has 1 to below - 1
    pupils) and that a group's PA or SA pupils are at most its pupils: while one could be, another
    cell is hidden, the first of: a shown cell of the same sum (the smallest), then any other shown cell
    whose hiding lets it take two values, then the total's (where it may be hidden)."""
    n_outer, n_inner = len(outer), len(inner)
    rows = [*outer, *inner]
    hidden: list[set[str]] = [set() for _ in rows]
    small: list[set[str]] = [set() for _ in rows]  # hidden for being small: the reader knows their range
    for i, row in enumerate(rows):
        if row["pupils"] < below:
            hidden[i] |= set(COUNTS)
            small[i].add(ROW)
        for column in SMALL:
            if 0 < row[column] < below:
                hidden[i].add(column)
                small[i].add(column)
    total_hidden = {c for c in SMALL if total_small and 0 < total[c] < below} | set(total_hidden)
    outer_block, inner_block = blocks(links, n_outer, n_inner) if n_inner else (list(range(n_outer)), [])
    # nodes: 0 the total, 1.. the groups (outer then inner), then one per block of more than one outer group
    children: dict[int, list[list[int]]] = {0: []}
    top: list[int] = []
    extra = 1 + len(rows)
    for block in dict.fromkeys(outer_block + inner_block):
        years = [1 + i for i in range(n_outer) if outer_block[i] == block]
        forms = [1 + n_outer + i for i in range(n_inner) if inner_block[i] == block]
        if len(years) == 1:
            top.append(years[0])
            if forms:
                children[years[0]] = [forms]
        else:  # a block of several year groups (or of forms alone): a node of its own, never shown
            top.append(extra)
            children[extra] = [s for s in (years, forms) if s]
            extra += 1
    children[0] = [top]
    pupils_most = [_MANY] * len(rows)

    for column in COUNTS:
        if total[column] == 0:
            continue  # every group's is 0, as the shown total says

        def own(i: int) -> tuple[int, int]:
            if column not in hidden[i]:
                return rows[i][column], rows[i][column]
            if column == ROW:
                return (1, below - 1) if ROW in small[i] else (1, _MANY)
            most = rows[i]["pupils"] if ROW not in hidden[i] else pupils_most[i]
            return (1, min(below - 1, most)) if column in small[i] else (0, most)

        def tree() -> _Tree:
            shown_total = column not in total_hidden
            value = total[column]
            first = (value, value) if shown_total else (1, below - 1) if column in SMALL and 0 < value < below \
                else (0, total["pupils"])
            return _Tree([first, *[own(i) for i in range(len(rows))], *[(0, _MANY)] * (extra - 1 - len(rows))],
                         children)

        while True:
            current = tree()
            ranges = current.ranges()
            fixed = [n for n in range(1 + len(rows)) if (column in hidden[n - 1] if n else column in total_hidden)
                     and ranges[n][0] >= ranges[n][1]]
            if not fixed:
                break
            target = fixed[0]
            shown = [i for i in range(len(rows)) if column not in hidden[i]]
            if not shown:
                if column in SMALL and column not in total_hidden and total_small:
                    total_hidden.add(column)
                    continue
                break  # nothing left to hide: the total is shown (a staff report)
            rest = ranges[target][0]
            near = _nearness(current, target)
            order = sorted(shown, key=lambda i: (near(1 + i), rest == 0 and rows[i][column] == 0, rows[i][column], i))

            def widens(i: int) -> bool:
                hidden[i].add(column)
                try:
                    low, high = tree().ranges()[target]
                finally:
                    hidden[i].discard(column)
                return low < high

            pick = next((i for i in order if widens(i)), order[0])  # else the nearest: more will follow
            hidden[pick] |= {column} if column in SMALL else set(COUNTS)
        if column == ROW:
            final = tree().ranges()
            pupils_most = [final[1 + i][1] for i in range(len(rows))]
    return hidden[:n_outer], hidden[n_outer:], total_hidden
