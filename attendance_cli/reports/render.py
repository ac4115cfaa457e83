"""The report as a standalone HTML page (nothing fetched from the network) or a PDF (Typst), from the
same figures and the same template data: `templates/reports/report.html.j2` and `report.typ.j2`."""

from __future__ import annotations

from typing import Any

from attendance_cli.figures import points_between
from attendance_cli.formatting import cell, plural
from attendance_cli.reports.figures import BENCHMARK_SOURCE, Report
from attendance_cli.statistics.suppression import HIDDEN

NAMES = {"year_group": "Year group", "form": "Form", "sen": "Special educational needs", "fsm": "Free school meals",
         "pupil_premium": "Pupil premium", "gender": "Gender", "ethnicity": "Ethnicity", "eal": "English as an additional language"}


def _pct(value: float | None, measure: str) -> str:
    """Every percentage the report shows, by what it measures (`attendance_pct`, `overall_absence_pct`,
    `persistent_absence_pct`, ...), rounded as `attendance summary` rounds that column: attendance
    down, overall absence up, other rates to the nearest. One function for all, so one figure never
    shows two ways (16.11% absence in the headline, 16.10% in the patterns)."""
    return cell(measure, value)


def _runs(runs: dict[str, int] | list) -> str | None:
    """Runs of absence in words; "none" when no pupil has one: the longest run is then shorter than
    the length counted, and "0 pupils (the longest 2 days)" reads as if two days made a run."""
    if not runs:
        return None  # lesson registers: no school days to run over
    if not runs["pupils"]:
        return "none"
    return (f"{plural(runs['pupils'], 'pupil')} ({plural(runs['runs'], 'run')}; "
            f"the longest {plural(runs['longest'], 'day')})")


def charts(report: Report) -> dict[str, str]:
    """The four charts as SVG text."""
    from attendance_cli.reports import charts as draw

    weekly = report.weekly
    benchmark = 100.0 - report.benchmark["overall"]
    out = {"trend": draw.weekly_trend(weekly["week"].to_list(), weekly["attendance_pct"].to_list(), benchmark,
                                      f"National {report.phase} ({_pct(benchmark, 'attendance_pct')}%)")}
    labels = [[_pct(value, "attendance_pct") for value in row] for row in report.heatmap]
    out["heatmap"] = draw.heatmap(report.heatmap, labels, ["Mon", "Tue", "Wed", "Thu", "Fri"], ["AM", "PM"])
    reasons = report.reasons.head(12)
    out["reasons"] = draw.reasons([f"{r['code']}  {r['meaning'][:40]}" for r in reasons.iter_rows(named=True)],
                                  reasons["sessions"].to_list())
    out["lateness"] = draw.lateness(weekly["week"].to_list(), weekly["minutes_late"].to_list())
    return out


def context(report: Report, school: dict[str, Any] | None, anonymous: bool) -> dict[str, Any]:
    """What the templates show: figures already formatted, so HTML and PDF agree to the digit."""
    h = report.headline
    bench = report.benchmark
    last = report.last_year
    headline = [
        ("Attendance", _pct(h.get("attendance_pct"), "attendance_pct") + "%",
         _pct(100 - bench["overall"], "attendance_pct") + "%",
         _pct(last["attendance_pct"], "attendance_pct") + "%" if last else ""),
        ("Overall absence", _pct(h.get("overall_absence_pct"), "overall_absence_pct") + "%",
         _pct(bench["overall"], "overall_absence_pct") + "%",
         _pct(last["overall_absence_pct"], "overall_absence_pct") + "%" if last else ""),
        ("Authorised absence", _pct(h.get("authorised_absence_pct"), "authorised_absence_pct") + "%",
         _pct(bench["authorised"], "authorised_absence_pct") + "%", ""),
        ("Unauthorised absence", _pct(h.get("unauthorised_absence_pct"), "unauthorised_absence_pct") + "%",
         _pct(bench["unauthorised"], "unauthorised_absence_pct") + "%", ""),
        ("Persistent absence (10% or more missed)",
         f"{_pct(h.get('persistent_absence_pct'), 'persistent_absence_pct')}% "
         f"({plural(h.get('persistent_absence_pupils', 0) or 0, 'pupil')})",
         _pct(bench["pa"], "persistent_absence_pct") + "%",
         _pct(last["persistent_absence_pct"], "persistent_absence_pct") + "%" if last else ""),
        ("Severe absence (50% or more missed)",
         f"{_pct(h.get('severe_absence_pct'), 'severe_absence_pct')}% "
         f"({plural(h.get('severe_absence_pupils', 0) or 0, 'pupil')})", "", ""),
        ("Days lost to absence" if report.method["unit"] == "sessions" else "Lessons missed",
         f"{h.get('days_missed', 0) or 0:,.1f}" if report.method["unit"] == "sessions"
         else f"{(h.get('authorised_absences', 0) or 0) + (h.get('unauthorised_absences', 0) or 0):,}", "", ""),
    ]
    breakdowns = []
    for column, rows in report.breakdowns:
        shown = []
        for row in rows:
            if row["suppressed"]:
                shown.append({"group": str(row["group"]), "suppressed": True,
                               "pupils": f"fewer than {plural(report.suppress_below, 'pupil')}" if row["small"]
                               else "hidden, as a smaller group could be worked out from it"})
            else:
                shown.append({"group": str(row["group"]), "suppressed": False, "pupils": f"{row['pupils']:,}",
                               **{key: HIDDEN if column in row["hidden"] else _pct(row[column], column)
                                  for key, column in (
                                   ("attendance", "attendance_pct"), ("absence", "overall_absence_pct"),
                                   ("unauthorised", "unauthorised_absence_pct"), ("pa", "persistent_absence_pct"),
                                   ("sa", "severe_absence_pct"))}})
        breakdowns.append({"name": NAMES.get(column, column.replace("_", " ").capitalize()), "rows": shown})
    p = report.patterns

    def listing(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
        return [{"pupil_id": r["pupil_id"], "name": " ".join(x for x in (r.get("forename"), r.get("surname")) if x),
                 "form": r.get("form") or "", "attendance": _pct(r["attendance_pct"], "attendance_pct")} for r in rows]

    # counts in words ("1 pupil", "2 pupils"), the same in the HTML and the PDF
    patterns = {
        "edge_days": plural(p["edge_days"], "school day"), "edge": _pct(p["edge_absence_pct"], "overall_absence_pct"),
        "other": _pct(p["other_absence_pct"], "overall_absence_pct"),
        "holidays": f"{plural(p['holiday_sessions'], 'session')}, {plural(p['holiday_pupils'], 'pupil')}",
        "runs": _runs(p["runs"]), "run_days": plural(p["runs"]["days"], "school day") if p["runs"] else "",
        "at_risk_within": plural(p["at_risk_within"], "session"),
        "new_pa_count": plural(len(p["new_pa"]), "pupil"), "new_sa_count": plural(len(p["new_sa"]), "pupil"),
        "at_risk_count": plural(len(p["at_risk"]), "pupil"),
        "new_pa": [] if anonymous else listing(p["new_pa"]), "new_sa": [] if anonymous else listing(p["new_sa"]),
        "at_risk": [] if anonymous else listing(p["at_risk"]),
    }
    interventions = []
    for i in report.interventions:
        if i["pupils"] < report.suppress_below:  # a letter sent to few pupils: their attendance is not shown
            interventions.append({"letter": i["letter"], "pupils": f"fewer than {report.suppress_below:,}",
                                  "before": HIDDEN, "after": HIDDEN, "change": HIDDEN})
            continue
        before, after = _pct(i["before"], "attendance_pct"), _pct(i["after"], "attendance_pct")
        interventions.append({"letter": i["letter"], "pupils": f"{i['pupils']:,}", "before": before, "after": after,
                              "change": points_between(before, after)})
    reasons = [{"code": r["code"], "meaning": r["meaning"], "category": r["category"], "sessions": f"{r['sessions']:,}"}
               for r in report.reasons.iter_rows(named=True)]
    m = report.method
    return {
        "title": report.title, "school_name": (school or {}).get("name", ""), "window": report.window.describe(), "phase": report.phase,
        "headline": headline, "pupils": plural(h.get("pupils", 0) or 0, "pupil"), "benchmark_source": BENCHMARK_SOURCE,
        "last_year": ({"window": f"{last['start']:%d/%m/%Y} to {last['end']:%d/%m/%Y}"} if last else None),
        "breakdowns": breakdowns, "patterns": patterns, "interventions": interventions, "reasons": reasons,
        "suppress_below": report.suppress_below, "anonymous": anonymous,
        "breakdowns_note": (f"fewer than {plural(report.suppress_below, 'pupil')} (and any group from which one "
                            f"could be worked out with the whole school's figures; PA and SA % of 1 to "
                            f"{report.suppress_below - 1} pupils read {HIDDEN})"),
        "method": {**m, "first": f"{m['first']:%d/%m/%Y}" if m["first"] else "", "last": f"{m['last']:%d/%m/%Y}" if m["last"] else "",
                   "unmarked": f"{m['unmarked']:,}"},
    }


def environment(kind: str):
    """The environment for the reports' templates (templates/reports/): "html" pages, autoescaped,
    or "typ" Typst sources (slips, the report's and the digests' PDFs)."""
    from attendance_cli.resources import templates_folder
    from attendance_cli.templating import environment as make

    return make([templates_folder() / "reports"], kind, autoescape=kind == "html", keep_trailing_newline=False)


def to_html(data: dict[str, Any], svgs: dict[str, str]) -> str:
    from markupsafe import Markup

    return environment("html").get_template("report.html.j2").render(data, charts={k: Markup(v) for k, v in svgs.items()})


def to_pdf(data: dict[str, Any], svgs: dict[str, str], when) -> bytes:
    from attendance_cli.errors import ConfigError
    from attendance_cli.letters.markup import typst_string
    from attendance_cli.letters.pdf import compile_one
    from attendance_cli.templating import Safe

    source = environment("typ").get_template("report.typ.j2").render(
        data, charts={k: Safe(f"image(bytes({typst_string(v)}), format: \"svg\", width: 100%)") for k, v in svgs.items()})
    pdf, message = compile_one((source, True, when.isoformat()))
    if message or pdf is None:
        raise ConfigError(f"The report template report.typ.j2 does not compile: {message}.")
    return pdf
