"""The report as a standalone HTML page (nothing fetched from the network) or a PDF (Typst), from the
same figures and the same template data: `templates/reports/report.html.j2` and `report.typ.j2`."""

from __future__ import annotations

from typing import Any

from attendance_cli.formatting import percentage, plural
from attendance_cli.reports.figures import BENCHMARK_SOURCE, Report

NAMES = {"year_group": "Year group", "form": "Form", "sen": "Special educational needs", "fsm": "Free school meals",
         "pupil_premium": "Pupil premium", "gender": "Gender", "ethnicity": "Ethnicity", "eal": "English as an additional language"}


def _pct(value: float | None, direction: str = "nearest") -> str:
    return "" if value is None else percentage(value, direction)


def charts(report: Report) -> dict[str, str]:
    """The four charts as SVG text."""
    from attendance_cli.reports import charts as draw

    weekly = report.weekly
    benchmark = 100.0 - report.benchmark["overall"]
    out = {"trend": draw.weekly_trend(weekly["week"].to_list(), weekly["attendance_pct"].to_list(), benchmark,
                                      f"National {report.phase} ({benchmark:.2f}%)")}
    out["heatmap"] = draw.heatmap(report.heatmap, ["Mon", "Tue", "Wed", "Thu", "Fri"], ["AM", "PM"])
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
        ("Attendance", _pct(h.get("attendance_pct"), "down") + "%", f"{100 - bench['overall']:.2f}%",
         _pct(last["attendance_pct"], "down") + "%" if last else ""),
        ("Overall absence", _pct(h.get("overall_absence_pct"), "up") + "%", f"{bench['overall']:.2f}%",
         _pct(last["overall_absence_pct"], "up") + "%" if last else ""),
        ("Authorised absence", _pct(h.get("authorised_absence_pct")) + "%", f"{bench['authorised']:.2f}%", ""),
        ("Unauthorised absence", _pct(h.get("unauthorised_absence_pct")) + "%", f"{bench['unauthorised']:.2f}%", ""),
        ("Persistent absence (10% or more missed)",
         f"{_pct(h.get('persistent_absence_pct'))}% ({plural(h.get('persistent_absence_pupils', 0) or 0, 'pupil')})",
         f"{bench['pa']:.2f}%", _pct(last["persistent_absence_pct"]) + "%" if last else ""),
        ("Severe absence (50% or more missed)",
         f"{_pct(h.get('severe_absence_pct'))}% ({plural(h.get('severe_absence_pupils', 0) or 0, 'pupil')})", "", ""),
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
                               "pupils": f"fewer than {report.suppress_below}"})
            else:
                shown.append({"group": str(row["group"]), "suppressed": False, "pupils": f"{row['pupils']:,}",
                               "attendance": _pct(row["attendance_pct"], "down"),
                               "absence": _pct(row["overall_absence_pct"], "up"),
                               "unauthorised": _pct(row["unauthorised_absence_pct"]),
                               "pa": _pct(row["persistent_absence_pct"]), "sa": _pct(row["severe_absence_pct"])})
        breakdowns.append({"name": NAMES.get(column, column.replace("_", " ").capitalize()), "rows": shown})
    p = report.patterns

    def listing(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
        return [{"pupil_id": r["pupil_id"], "name": " ".join(x for x in (r.get("forename"), r.get("surname")) if x),
                 "form": r.get("form") or "", "attendance": _pct(r["attendance_pct"], "down")} for r in rows]

    patterns = {
        "edge_days": p["edge_days"], "edge": _pct(p["edge_absence_pct"]), "other": _pct(p["other_absence_pct"]),
        "holiday_sessions": f"{p['holiday_sessions']:,}", "holiday_pupils": f"{p['holiday_pupils']:,}",
        "runs": p["runs"], "at_risk_within": p["at_risk_within"],
        "new_pa_count": len(p["new_pa"]), "new_sa_count": len(p["new_sa"]), "at_risk_count": len(p["at_risk"]),
        "new_pa": [] if anonymous else listing(p["new_pa"]), "new_sa": [] if anonymous else listing(p["new_sa"]),
        "at_risk": [] if anonymous else listing(p["at_risk"]),
    }
    interventions = [{"letter": i["letter"], "pupils": f"{i['pupils']:,}", "before": _pct(i["before"], "down"),
                      "after": _pct(i["after"], "down"), "change": f"{i['change']:+.2f}"} for i in report.interventions]
    reasons = [{"code": r["code"], "meaning": r["meaning"], "category": r["category"], "sessions": f"{r['sessions']:,}"}
               for r in report.reasons.iter_rows(named=True)]
    m = report.method
    return {
        "title": report.title, "school_name": (school or {}).get("name", ""), "window": report.window.describe(), "phase": report.phase,
        "headline": headline, "pupils": f"{h.get('pupils', 0):,}", "benchmark_source": BENCHMARK_SOURCE,
        "last_year": ({"window": f"{last['start']:%d/%m/%Y} to {last['end']:%d/%m/%Y}"} if last else None),
        "breakdowns": breakdowns, "patterns": patterns, "interventions": interventions, "reasons": reasons,
        "suppress_below": report.suppress_below, "anonymous": anonymous,
        "method": {**m, "first": f"{m['first']:%d/%m/%Y}" if m["first"] else "", "last": f"{m['last']:%d/%m/%Y}" if m["last"] else "",
                   "unmarked": f"{m['unmarked']:,}"},
    }


def _env(kind: str):
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from attendance_cli.letters.templates import FILTERS, _escaper
    from attendance_cli.resources import templates_folder

    env = ImmutableSandboxedEnvironment(loader=FileSystemLoader(str(templates_folder() / "reports")),
                                        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                        autoescape=kind == "html", finalize=None if kind == "html" else _escaper("typ"))
    env.filters.update(FILTERS)
    return env


def to_html(data: dict[str, Any], svgs: dict[str, str]) -> str:
    from markupsafe import Markup

    return _env("html").get_template("report.html.j2").render(data, charts={k: Markup(v) for k, v in svgs.items()})


def to_pdf(data: dict[str, Any], svgs: dict[str, str], when) -> bytes:
    from attendance_cli.errors import ConfigError
    from attendance_cli.letters.markup import typst_string
    from attendance_cli.letters.pdf import compile_one
    from attendance_cli.letters.templates import Safe

    source = _env("typ").get_template("report.typ.j2").render(
        data, charts={k: Safe(f"image(bytes({typst_string(v)}), format: \"svg\", width: 100%)") for k, v in svgs.items()})
    pdf, message = compile_one((source, True, when.isoformat()))
    if message or pdf is None:
        raise ConfigError(f"The report template report.typ.j2 does not compile: {message}.")
    return pdf
