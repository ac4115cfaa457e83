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


def _shown(row: dict[str, Any], column: str, below: int) -> str:
    hidden = row["hidden"]
    if "*" in hidden or column in hidden:
        return f"fewer than {below}" if column in ("pupils", "persistent_absence_pupils", "severe_absence_pupils") \
            and _small(row, column, below) else "suppressed"
    value = row.get(column)
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return cell(column, value)


def _small(row: dict[str, Any], column: str, below: int) -> bool:
    value = row.get(column)
    return value is not None and 0 < value < below


def context(report: TrustReport) -> dict[str, Any]:
    below = report.suppress_below
    rows = [{"school": r["school"], "dfe_number": r["dfe_number"], "phase": r["phase"], "window": r["window"],
             "cells": [_shown(r, c, below) for c, _ in COLUMNS], "hidden": bool(r["hidden"])} for r in report.rows]
    total = report.total
    national = [{"school": s.school, "phase": s.phase,
                 "attendance": cell("attendance_pct", 100 - s.benchmark["overall"]),
                 "pa": cell("persistent_absence_pct", s.benchmark["pa"])} for s in report.schools]
    return {"title": report.title, "below": below, "headings": [h for _, h in COLUMNS], "rows": rows,
            "total": {"window": total["window"], "cells": [_shown(total, c, below) for c, _ in COLUMNS]},
            "national": national, "method": report.method}


def to_html(report: TrustReport) -> str:
    from attendance_cli.reports.render import environment

    return environment("html").get_template("trust.html.j2").render(context(report))
