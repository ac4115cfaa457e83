"""Report furniture: the lines around the data in an export (titles, totals, legends, blank rows).

One rule for every layout, as a Polars expression over a row's text cells.
"""

from __future__ import annotations

import polars as pl

from attendance_cli.ingest.headers import FURNITURE_WORDS, normalise


def _normalised(text: pl.Expr) -> pl.Expr:
    """`headers.normalise` as an expression."""
    return text.str.replace_all(r"[\s_\-.\x{feff}]+", "").str.to_lowercase()


def furniture_kind(cells: list[str], headers: list[str], id_cell: str | None,
                   date_missing: pl.Expr = pl.lit(True)) -> pl.Expr:
    """Why a row is report furniture, or null if it is data.

    `cells`: the row's text columns in file order; `id_cell`: the pupil identifier column;
    `date_missing`: true where the row has no usable date (totals and legends never do).
    - blank row: every cell empty;
    - repeated header: two or more cells equal to header names;
    - report text: the first filled cell starts like a title, total, key or "printed" line and
      the identifier cell is empty or holds that same text;
    - note line: a single filled cell that is not an identifier.
    """
    stripped = [pl.col(c).str.strip_chars().replace("", None) for c in cells]
    filled = pl.sum_horizontal([s.is_not_null().cast(pl.UInt16) for s in stripped])
    first = pl.coalesce(stripped)
    header_cells = [normalise(h) for h in headers if h.strip()]
    header_hits = pl.sum_horizontal([_normalised(s).is_in(header_cells).fill_null(False).cast(pl.UInt16)
                                     for s in stripped])
    id_text = pl.col(id_cell).str.strip_chars().replace("", None) if id_cell else pl.lit(None, dtype=pl.String)
    return (
        pl.when(filled == 0).then(pl.lit("blank row"))
        .when(header_hits >= 2).then(pl.lit("repeated header"))
        .when(first.str.contains("(?i)" + FURNITURE_WORDS.pattern) & date_missing
              & (id_text.is_null() | (id_text == first)))
        .then(pl.lit("report text"))
        .when((filled == 1) & date_missing & id_text.is_null()).then(pl.lit("note line"))
    )


def furniture_rows(table: pl.DataFrame, cells: list[str], headers: list[str], id_cell: str) -> pl.DataFrame:
    """`row, kind` of the report furniture among a table's rows: `furniture_kind` of each row, worked
    out only for the rows that can be furniture (a grid has hundreds of cells a row, and tens of
    thousands of rows: every cell normalised and compared with the headers costs seconds).

    A row can be furniture only if its identifier is blank (a blank row, a note line, or report text
    away from the identifier), its identifier reads as report text (report text is its first filled
    cell, which is the identifier when that is filled), or two of its cells are header names; a
    cell is a header name when its column's value is one, and a column holds few values (marks),
    so each column's values are compared once, not each cell."""
    header_cells = [normalise(h) for h in headers if h.strip()]

    def header_names(values: pl.Series) -> pl.Series:
        return values.filter(_normalised(values.str.strip_chars().replace("", None)).is_in(header_cells).fill_null(False))

    hits = []
    schema = table.schema
    named_categories: dict[str, bool] = {}  # (the mark cells share their categories: looked at once)
    for cell in cells:
        dtype = schema[cell]
        if dtype == pl.Categorical:
            key = repr(dtype.categories)
            if key not in named_categories:
                named_categories[key] = bool(header_names(dtype.categories.to_series()).len())
            if not named_categories[key]:
                continue  # mark cells read as categories, none of which is a header name
        values = table.get_column(cell).drop_nulls().unique().cast(pl.String)
        named = header_names(values)
        if named.len():
            hits.append(pl.col(cell).is_in(named.implode()).cast(pl.UInt16))
    id_text = pl.col(id_cell).str.strip_chars().replace("", None)
    maybe = (id_text.is_null() | id_text.str.contains("(?i)" + FURNITURE_WORDS.pattern)
             | (pl.sum_horizontal(hits) >= 2 if len(hits) >= 2 else pl.lit(False)))
    return (table.filter(maybe).with_columns(pl.col(cells).cast(pl.String))
            .select("row", furniture_kind(cells, headers, id_cell).alias("kind"))
            .filter(pl.col("kind").is_not_null()))


def first_text(cells: list[str]) -> pl.Expr:
    """The first filled cell of a row."""
    return pl.coalesce([pl.col(c).str.strip_chars().replace("", None) for c in cells])
