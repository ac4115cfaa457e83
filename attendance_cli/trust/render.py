"""The trust report as one standalone HTML page (templates/reports/trust.html.j2): the schools side
by side, the trust's row, suppressed figures shown as such, and the method."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attendance_cli.formatting import cell

if TYPE_CHECKING:
    from attendance_cli.jobs.trust import TrustReport

#: The columns of the side-by-side table: (figure, heading).
COLUMNS = (("pupils", "Pupils"), ("possible_sessions", "Possible sessions"), ("attendance_pct", "Attendance %"),
           ("overall_absence_pct", "Absence %"), ("authorised_absence_pct", "Authorised %"),
           ("unauthorised_absence_pct", "Unauthorised %"), ("persistent_absence_pupils", "PA pupils"),
           ("persistent_absence_pct", "PA %"), ("severe_absence_pupils", "SA pupils"), ("severe_absence_pct", "SA %"))


def _shown(row: dict[str, Any], column: str) -> str:
    """A figure as the report shows it. Every hidden figure reads the same, "suppressed": saying
    "fewer than 5" for a small count would tell a reader it is at least 1, and with the trust total
    that can give away a hidden figure beside it."""
    hidden = row["hidden"]
    if "*" in hidden or column in hidden:
        return "suppressed"
    value = row.get(column)
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return cell(column, value)


def context(report: TrustReport) -> dict[str, Any]:
    below = report.suppress_below
    rows = [{"school": r["school"], "dfe_number": r["dfe_number"], "phase": r["phase"], "window": r["window"],
             "cells": [_shown(r, c) for c, _ in COLUMNS], "hidden": bool(r["hidden"])} for r in report.rows]
    total = report.total
    national = [{"school": s.school, "phase": s.phase,
                 "attendance": cell("attendance_pct", 100 - s.benchmark["overall"]),
                 "pa": cell("persistent_absence_pct", s.benchmark["pa"])} for s in report.schools]
    note = (f"{len(rows)} school{'' if len(rows) == 1 else 's'} · small numbers suppressed: a school of fewer than "
            f"{below} pupils, a count of pupils from 1 to {below - 1}, and any figure from which one of those could "
            "be worked out with the trust's total, all read \"suppressed\"")
    return {"title": report.title, "below": below, "summary_note": note, "headings": [h for _, h in COLUMNS], "rows": rows,
            "total": {"window": total["window"], "cells": [_shown(total, c) for c, _ in COLUMNS]},
            "national": national, "method": report.method}


def to_html(report: TrustReport) -> str:
    from attendance_cli.reports.render import environment

    return environment("html").get_template("trust.html.j2").render(context(report))


def to_pdf(report: TrustReport, when) -> bytes:
    """The same page as a PDF (Typst, as the school's own report)."""
    from attendance_cli.errors import ConfigError
    from attendance_cli.letters.pdf import compile_one
    from attendance_cli.reports.render import environment

    source = environment("typ").get_template("trust.typ.j2").render(context(report))
    pdf, message = compile_one((source, True, when.isoformat()))
    if message or pdf is None:
        raise ConfigError(f"The report template trust.typ.j2 does not compile: {message}.")
    return pdf
