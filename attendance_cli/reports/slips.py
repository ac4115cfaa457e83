"""The half-termly pupil attendance report for families: one slip per pupil, in form order.

Per pupil, over a window (the school year to date unless another is chosen): attendance %, days
missed, times late, and the band the school's policy puts that attendance in (the bands cover
0-100% with no gaps; `figures.band_of`), with its explanation, and the school's own paragraph.
The figures are `summary`'s for the same window. One merged PDF to print; one PDF per pupil on
request (each typeset as a document of its own, tagged).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from attendance_cli.errors import ConfigError
from attendance_cli.figures import absences_of, band_of, pct_down
from attendance_cli.calendar import Window
from attendance_cli.reports.figures import require_possible
from attendance_cli.rules import Policy
from attendance_cli.statistics import natural_order, pupil_statistics

if TYPE_CHECKING:
    from attendance_cli.dataset import Dataset


def slips(data: Dataset, window: Window, policy: Policy, forms: Sequence[str] = (), years: Sequence[str] = ()
          ) -> tuple[list[dict[str, Any]], tuple[dt.date | None, dt.date | None]]:
    """One slip's figures per pupil with sessions in the window, in form, surname, forename order (only
    the pupils of `forms` and `years`, when given), and the first and last dates the window covers."""
    from attendance_cli.calendar import window_stamp

    if not policy.bands:
        raise ConfigError(f"The {policy.name!r} policy has no attendance bands, so slips cannot say which band a pupil is in.",
                          fix="Use a policy with [[bands]] (e.g. primary-academy), or add bands to yours: "
                              "attendance policy show primary-academy.")
    tally = data.tally(window, attributes=["surname", "forename", "year_group", "form"])
    stamp = window_stamp(window, tally.report)
    stats = pupil_statistics(tally)
    require_possible(stats, window)  # no slips at all is a mistaken window, not a run with nothing to print
    for column, wanted, option in (("form", forms, "--form"), ("year_group", years, "--year")):
        if wanted:
            stats = _only(stats, column, wanted, option)
    stats = stats.sort(natural_order("year_group"), "form", "surname", "forename", "pupil_id", nulls_last=True)
    lessons = data.lessons
    out = []
    for row in stats.iter_rows(named=True):  # one per pupil: a slip each
        band = band_of(row["attended_sessions"], row["possible_sessions"], policy.bands)
        if band is None:  # the lowest band starts from 0 (the policy is checked): never, but never a wrong band
            raise ConfigError(f"The {policy.name!r} policy's bands do not cover pupil {row['pupil_id']}'s attendance "
                              f"({pct_down(row['attended_sessions'], row['possible_sessions'])}%).",
                              fix="Start the lowest band from 0: attendance policy check FILE.")
        out.append({
            "pupil_id": row["pupil_id"], "name": " ".join(p for p in (row["forename"], row["surname"]) if p) or row["pupil_id"],
            "year_group": row["year_group"] or "", "form": row["form"] or "",
            "attendance": pct_down(row["attended_sessions"], row["possible_sessions"]),
            "days_missed": None if lessons else row["days_missed"],
            "missed": absences_of(row["authorised_absences"], row["unauthorised_absences"]),
            "lates": (row["late_before_close"] or 0) + (row["late_after_close"] or 0),
            "band": band.name, "explanation": band.explanation,
        })
    return out, (stamp["window_start"], stamp["window_end"])


def _only(stats: pl.DataFrame, column: str, wanted: Sequence[str], option: str) -> pl.DataFrame:
    """The pupils whose `column` is one of `wanted` (compared without case or surrounding spaces). A value
    no pupil has is an error naming those there are: a mistyped form prints nothing otherwise."""
    from attendance_cli.errors import UsageError

    key = pl.col(column).str.strip_chars().str.to_lowercase()
    asked = {w.strip().lower(): w for w in wanted}
    present = set(stats.select(key.unique().drop_nulls()).to_series().to_list())
    missing = [given for folded, given in asked.items() if folded not in present]
    if missing:
        known = stats.select(pl.col(column).unique().drop_nulls().sort()).to_series().to_list()
        what = "form" if column == "form" else "year group"
        raise UsageError(f"{option} {', '.join(missing)}: no pupil in the window is in that {what}.",
                         fix=f"The {what}s in the data: {', '.join(known) or 'none'}.")
    return stats.filter(key.is_in(list(asked)))


def slips_pdf(rows: list[dict[str, Any]], school: dict[str, Any] | None, dates: tuple[dt.date | None, dt.date | None],
              when: dt.date, bands: list[tuple[str, str]], text: str = "", duplex: bool = True
              ) -> tuple[list[bytes], bytes]:
    """Per-pupil PDFs (each tagged) and the merged one (each slip on a sheet of its own when
    `duplex`). `dates`: the window's first and last days, printed on every slip; `text`: the
    school's own paragraph (`slip_document`)."""
    from attendance_cli.formatting import plural
    from attendance_cli.letters.markup import to_typst
    from attendance_cli.letters.pdf import typeset
    from attendance_cli.reports.render import environment
    from attendance_cli.templating import Safe

    env = environment("typ")
    name = (school or {}).get("name", "")
    template = env.get_template("slip.typ.j2")
    own = Safe(to_typst(slip_document(text))) if text.strip() else None
    preambles = [env.get_template("slip-preamble.typ.j2").render(school_name=name, title=f"Attendance report: {row['name']}")
                 for row in rows]
    pages = [template.render(slip=row, school_name=name, start=dates[0], end=dates[1], date=when, bands=bands,
                             text=own, missed=plural(row["missed"] or 0, "lesson"), lates=plural(row["lates"], "time"))
             for row in rows]
    pdfs, whole, message = typeset(preambles, pages, when, duplex)
    if message or whole is None:
        raise ConfigError(f"The slip template slip.typ.j2 does not compile: {message}.")
    return pdfs, whole


def slip_document(text: str, source: str = "the slip text"):
    """The school's own paragraph for the slips, in the letters' small format: paragraphs split by
    blank lines, `- ` bullets and `**bold**`; every other character prints as written (it becomes a
    Typst string literal, so # $ * _ < > @ are text, never markup)."""
    from attendance_cli.letters import markup

    try:
        blocks = markup.parse(text)
    except markup.MarkupError as error:
        raise ConfigError(f"{source}, line {error.line}: {error}.", fix="Close every ** you open, or leave it out.") from error
    directive = next((block.kind for block in blocks if block.kind not in ("paragraph", "bullets")), None)
    if directive:
        raise ConfigError(f"{source}: ::{directive} is for letters; a slip prints its own figures.",
                          fix=f"Take the ::{directive} line out of {source}.")
    return markup.Document(blocks)


def slip_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"pupil_id": pl.String, "name": pl.String, "year_group": pl.String, "form": pl.String,
                                      "attendance": pl.String, "days_missed": pl.Float64, "missed": pl.Int64,
                                      "lates": pl.Int64, "band": pl.String, "explanation": pl.String}, orient="row")
