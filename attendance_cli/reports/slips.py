"""The half-termly pupil attendance report for families: one slip per pupil, in form order.

Per pupil: attendance % this school year to date, days missed, times late, and the band the
school's policy puts that attendance in (the bands cover 0-100% with no gaps; `figures.band_of`),
with its explanation. One merged PDF to print; one PDF per pupil on request (split at each slip's bookmark).
"""

from __future__ import annotations

import datetime as dt
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


def slips(data: Dataset, window: Window, policy: Policy) -> list[dict[str, Any]]:
    """One slip's figures per pupil with sessions in the window, in form, surname, forename order."""
    if not policy.bands:
        raise ConfigError(f"The {policy.name!r} policy has no attendance bands, so slips cannot say which band a pupil is in.",
                          fix="Use a policy with [[bands]] (e.g. primary-academy), or add bands to yours: "
                              "attendance policy show primary-academy.")
    stats = pupil_statistics(data.tally(window, attributes=["surname", "forename", "year_group", "form"]))
    require_possible(stats, window)  # no slips at all is a mistaken window, not a run with nothing to print
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
    return out


def slips_pdf(rows: list[dict[str, Any]], school: dict[str, Any] | None, window: Window, when: dt.date,
              bands: list[tuple[str, str]]) -> tuple[list[bytes], bytes]:
    """Per-pupil PDFs and the merged one, typeset together (split at each slip's bookmark)."""
    from attendance_cli.letters.pdf import typeset
    from attendance_cli.reports.render import environment

    env = environment("typ")
    preamble = env.get_template("slip-preamble.typ.j2").render(school_name=(school or {}).get("name", ""))
    template = env.get_template("slip.typ.j2")
    pages = [template.render(slip=row, school_name=(school or {}).get("name", ""), window=window.describe(), date=when,
                             bands=bands) for row in rows]
    pdfs, whole, message = typeset(preamble, pages, [f"Attendance report: {row['name']}" for row in rows], when)
    if message or whole is None:
        raise ConfigError(f"The slip template slip.typ.j2 does not compile: {message}.")
    return pdfs, whole


def slip_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"pupil_id": pl.String, "name": pl.String, "year_group": pl.String, "form": pl.String,
                                      "attendance": pl.String, "days_missed": pl.Float64, "missed": pl.Int64,
                                      "lates": pl.Int64, "band": pl.String, "explanation": pl.String}, orient="row")
