"""Exports with a school column (a local authority's or a trust's one export of every school): split
into one school each, before anything is checked, so that the same pupil id at two schools is two
pupils and each school's calendar is inferred from its own marks.

Each school's rows are copied, byte for byte as decoded, into a file of its own in a private
temporary folder (removed when the run ends), under the export's own lines above and of the
header. Every data line goes to exactly one school; a line whose school cell is blank is refused,
naming the file and lines, unless the whole line is blank. The original line of every copied line
is kept, so an error in a school's rows names the export and the line the user can find.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from attendance_cli.errors import AttendanceError, InputError
from attendance_cli.trust.config import School, Trust

#: Headers of a school column (matched as export headers are: ignoring case, spaces, _, - and .).
SCHOOL_HEADERS = ("School", "School Name", "SchoolName", "Establishment", "Establishment Name", "DfE Number", "DfE No",
                  "DfE", "DfE Establishment Number", "LAESTAB", "LA Estab", "URN", "School URN")
_DFE = re.compile(r"^(\d{3})/?(\d{4})$")


def school_column(headers: list[str]) -> int | None:
    """The index of the school column, if the header has one (the first, in the order of SCHOOL_HEADERS)."""
    from attendance_cli.ingest.headers import normalise

    found = {normalise(h): i for i, h in reversed(list(enumerate(headers)))}
    for alias in SCHOOL_HEADERS:
        if normalise(alias) in found:
            return found[normalise(alias)]
    return None


def split_by_school(paths: list[Path], folder: Path, *, policy: str = "dfe-national", encoding: str | None = None,
                    name: str = "schools in the exports") -> Trust:
    """One school per value of the exports' school column, its rows written into `folder`."""
    import polars as pl

    from attendance_cli.ingest.encoding import open_text
    from attendance_cli.ingest.headers import detect_layout
    from attendance_cli.ingest.reader import check_export_file

    per_school: dict[str, list[tuple[Path, Path, tuple[int, ...]]]] = {}

    spelling: dict[str, str] = {}  # a school's key -> its first spelling
    for number, path in enumerate(paths):
        check_export_file(path)
        decoded = open_text(path, encoding)
        layout = detect_layout(decoded.head, {}, None, str(path))
        column = school_column(layout.headers)
        if column is None:
            raise InputError(f"{path}: no school column (one of: {', '.join(SCHOOL_HEADERS)}), so its rows cannot be "
                             "told apart by school.",
                             fix="Export with the school's name or DfE number in a column, or list the schools and "
                                 "their exports in a trust file: attendance trust summary trust.toml.")
        if layout.header_rows != 1:
            raise InputError(f"{path}: a register grid with two header rows cannot be split by its school column.",
                             fix="Export each school's grid on its own and list them in a trust file.")
        data_line = decoded.head_lines[layout.header_line] + 1  # 0-based: the first line after the header
        text = decoded.data.read_bytes() if isinstance(decoded.data, Path) else decoded.data
        # lines end at \n only (as the CSV reader ends rows), each keeping its own ending (\r\n stays)
        pieces = pl.Series("line", [text.decode("utf-8")]).str.split("\n").explode()
        lines = pl.select(pl.when(pl.int_range(pieces.len()) < pieces.len() - 1).then(pieces + "\n")
                          .otherwise(pieces).alias("line")).to_series()
        if lines[-1] == "":
            lines = lines.head(-1)
        head, body = lines.head(data_line), lines.slice(data_line)
        names = {f"_c{i}": pl.String for i in range(len(layout.headers))}
        cells = pl.scan_csv(text, has_header=False, skip_lines=data_line, separator=decoded.separator,
                            schema=names, truncate_ragged_lines=True, raise_if_empty=False, missing_columns="insert",
                            null_values=[""]).select(pl.col(f"_c{column}").alias("school")).collect()
        if cells.height != body.len():  # a blank line reads as no row: line them up by the lines that are not
            blank = body.str.strip_chars().str.len_chars() == 0
            if cells.height != int((~blank).sum()):
                raise InputError(f"{path}: its lines could not be matched one to one with its rows (a line break "
                                 "inside a cell?), so it cannot be split by school.",
                                 fix="Export each school on its own, or without line breaks in cells.")
            school = pl.Series("school", [None] * body.len(), dtype=pl.String).scatter(
                pl.arg_where(~blank, eager=True), cells["school"])
        else:
            school = cells["school"]
        frame = pl.DataFrame({"line": body, "school": school.str.strip_chars()}).with_row_index("row")
        frame = frame.with_columns((pl.col("row") + data_line + 1).alias("original"))
        blank_line = pl.col("line").str.strip_chars().str.len_chars() == 0
        missing = frame.filter((pl.col("school").is_null() | (pl.col("school") == "")) & ~blank_line)
        if missing.height:
            shown = ", ".join(str(n) for n in missing["original"].head(5).to_list())
            more = f" and {missing.height - 5:,} more" if missing.height > 5 else ""
            raise InputError(f"{path}, line{'s' if missing.height > 1 else ''} {shown}{more}: no school in the column "
                             f"{layout.headers[column]!r}, so the row belongs to no school.",
                             fix="Fill in the school on every row in the MIS and export again (every row is "
                                 "counted for one school: none is guessed).")
        # one school however its cell is written: a DfE number with or without its slash, a name in any
        # case or spacing (named by the first spelling met)
        frame = frame.with_columns(_normalised(pl.col("school")).alias("_same"))
        for value, rows in frame.filter(~blank_line).group_by("_same", maintain_order=True):
            key = str(value[0])
            spelling.setdefault(key, rows["school"][0])
            target = folder / f"school-{_index(per_school, key)}-file-{number}.csv"
            content = head.str.join("")[0] + rows["line"].str.join("")[0]
            if not content.endswith("\n"):
                content += "\n"
            target.write_text(content, encoding="utf-8")
            originals = tuple(range(1, data_line + 1)) + tuple(rows["original"].to_list())
            per_school.setdefault(key, []).append((target, path, originals))
    if not per_school:
        raise InputError(f"{', '.join(str(p) for p in paths)}: no rows, so no school.",
                         fix="Export the registers again: the files hold no data rows.")
    schools = [_school(spelling[key], files) for key, files in per_school.items()]
    schools.sort(key=lambda s: (s.name.casefold(), s.dfe_number))
    return Trust(name, None, tuple(schools), policy)


def _normalised(cell: pl.Expr) -> pl.Expr:
    """A school cell as the key of its school: a DfE number's seven digits, else the name in lower case
    with single spaces."""
    digits = cell.str.replace_all(r"[\s/]", "")
    return (pl.when(digits.str.contains(r"^\d{7}$")).then(digits)
            .otherwise(cell.str.replace_all(r"\s+", " ").str.to_lowercase()))


def _index(per_school: dict, key: str) -> int:
    return list(per_school).index(key) if key in per_school else len(per_school)


def _school(value: str, files: list[tuple[Path, Path, tuple[int, ...]]]) -> School:
    """A school known by its name, or by its DfE number (then named by it)."""
    match = _DFE.match(value)
    dfe = f"{match.group(1)}/{match.group(2)}" if match else ""
    return School(value, dfe, "", tuple(f for f, _, _ in files), lines=tuple(files))


def original_error(error: AttendanceError, school: School) -> AttendanceError:
    """An error in a split school's rows, naming the original export and its lines (not the
    temporary file's), and the school."""
    if not school.lines:
        return error
    by_path = {str(split): (original, lines) for split, original, lines in school.lines}

    def mend(text: str) -> str:
        for split, (original, _) in by_path.items():
            text = text.replace(split, f"{original} (school {school.name})")
        return text

    if isinstance(error, InputError):
        for problem in error.problems:
            if problem.file in by_path:
                original, lines = by_path[problem.file]
                problem.lines = [lines[n - 1] if 0 < n <= len(lines) else n for n in problem.lines]
                problem.file = f"{original} (school {school.name})"
            problem.reason = mend(problem.reason)
    error.message = mend(error.message)
    if error.fix:
        error.fix = mend(error.fix)
    return error
