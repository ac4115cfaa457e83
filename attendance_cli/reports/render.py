"""The report as a standalone HTML page (nothing fetched from the network) or a PDF (Typst), from the
same figures and the same template data: `templates/reports/report.html.j2` and `report.typ.j2`."""

from __future__ import annotations

from typing import Any

from attendance_cli.figures import points_between
from attendance_cli.formatting import cell, plural
from attendance_cli.reports.figures import Report
from attendance_cli.statistics.suppression import HIDDEN

NAMES = {"year_group": "Year group", "form": "Form", "sen": "Special educational needs", "fsm": "Free school meals",
         "pupil_premium": "Pupil premium", "gender": "Gender", "ethnicity": "Ethnicity", "eal": "English as an additional language"}

#: each chart's id (`chart-ID` in the HTML), visible title and caption: the same words in the HTML and the PDF
CHARTS = (
    ("trend", "Attendance by school week",
     "Each point is one school week's attendance; the dashed line is the national figure."),
    ("heatmap", "Attendance by day of the week and session",
     "Attendance in the morning (AM) and afternoon (PM) sessions of each weekday, over the window."),
    ("reasons", "Absence by reason", "Sessions missed, by absence code, the commonest first."),
    ("lateness", "Minutes lost to lateness by school week", "Lateness recorded in the registers, week by week."),
)


def chart_text(report) -> dict[str, dict[str, str]]:
    """Each chart's title and caption (CHARTS); exports without minutes late have their late marks
    counted instead, and the lateness chart says so."""
    text = {i: {"title": t, "caption": c} for i, t, c in CHARTS}
    if not lateness_in_minutes(report):
        text["lateness"] = {"title": "Late marks by school week",
                            "caption": "Late marks recorded in the registers, week by week (minutes late are not in "
                                       "these exports)."}
    return text


def _pct(value: float | None, measure: str) -> str:
    """Every percentage the report shows, by what it measures (`attendance_pct`, `overall_absence_pct`,
    `persistent_absence_pct`, ...), rounded as `attendance summary` rounds that column: attendance
    down, overall absence up, other rates to the nearest. One function for all, so one figure never
    shows two ways (16.11% absence in the headline, 16.10% in the patterns)."""
    return cell(measure, value)


def _runs(runs: dict[str, int] | list, count=lambda n: plural(n, "pupil")) -> str | None:
    """Runs of absence in words; "none" when no pupil has one: the longest run is then shorter than
    the length counted, and "0 pupils (the longest 2 days)" reads as if two days made a run."""
    if not runs:
        return None  # lesson registers: no school days to run over
    if not runs["pupils"]:
        return "none"
    return (f"{count(runs['pupils'])} ({plural(runs['runs'], 'run')}; "
            f"the longest {plural(runs['longest'], 'day')})")


def charts(report: Report) -> dict[str, str]:
    """The four charts as SVG text."""
    from attendance_cli.reports import charts as draw

    weekly = report.weekly
    overall = report.benchmark.get("overall")
    benchmark = 100.0 - overall if overall is not None else None
    who = "National" if not report.comparison or report.comparison["shipped"] else "Benchmark"
    out = {"trend": draw.weekly_trend(weekly["week"].to_list(), weekly["attendance_pct"].to_list(), benchmark,
                                      f"{who} {report.phase} ({_pct(benchmark, 'attendance_pct')}%)")}
    labels = [[_pct(value, "attendance_pct") for value in row] for row in report.heatmap]
    out["heatmap"] = draw.heatmap(report.heatmap, labels, ["Mon", "Tue", "Wed", "Thu", "Fri"], ["AM", "PM"])
    reasons = report.reasons.head(12)
    out["reasons"] = draw.reasons([f"{r['code']}  {r['meaning']}" for r in reasons.iter_rows(named=True)],
                                  reasons["sessions"].to_list())
    if lateness_in_minutes(report):
        out["lateness"] = draw.lateness(weekly["week"].to_list(), weekly["minutes_late"].to_list())
    else:  # a grid export has late marks but no minutes: count the marks, never show 0 minutes
        out["lateness"] = draw.lateness(weekly["week"].to_list(), weekly["lates"].to_list(), minutes=False)
    return out


def lateness_in_minutes(report: Report) -> bool:
    """The exports give minutes late (some late mark has minutes), or there are no late marks at all."""
    weekly = report.weekly
    return bool(weekly["minutes_late"].sum()) or not bool(weekly["lates"].sum())


def _national(choice, measure: str) -> str:
    return _pct(choice.value, measure) + "%" if choice is not None and choice.value is not None else ""


def _comparison_text(report: Report) -> str:
    """Which figure each measure is compared with, and why that one (reports.benchmarks)."""
    from attendance_cli.reports.benchmarks import MEASURE_NAMES

    comparison = report.comparison
    if comparison is None:
        return ""
    uses: dict = {}
    missing: dict[str, list[str]] = {}  # why -> the measures not compared for that reason
    choices = [(m, c, "") for m, c in comparison["window"].items()]
    if comparison["ytd"]:
        choices += [(m, c, " to date") for m, c in comparison["ytd"]["choices"].items()]
    for measure, choice, suffix in choices:
        name = MEASURE_NAMES[measure] + (" over the school year" + suffix if suffix else "")
        if choice.row is None:
            missing.setdefault(choice.why, []).append(name)
            continue
        uses.setdefault((choice.row.line, choice.why), (choice.row, []))[1].append(name)
    shipped = comparison["shipped"]
    parts = []
    for (_, why), (row, names) in uses.items():
        parts.append(f"{_join(names)[0].upper() + _join(names)[1:]}: {row.describe(shipped)}; {why}.")
    text = ("National figures compared with" if shipped else f"Figures compared with, from {comparison['file']}") + \
        f" (phase {comparison['phase']}). " + " ".join(parts)
    if missing:
        text += " Not compared: " + "; ".join(f"{_join(names)}: {why}" for why, names in missing.items()) + "."
    if comparison.get("ytd_missing"):
        text += (f" The exports begin on {comparison['ytd_missing']:%d/%m/%Y}, after the school year began: the school "
                 "year to date is not shown.")
    if comparison["cohort"]:
        text += (" Like with like: this report counts the DfE cohort, pupils of compulsory school age, as the national "
                 "statistics do." if shipped else
                 " This report counts the DfE cohort, pupils of compulsory school age: the benchmark file's note column "
                 "says which pupils its figures cover.")
    elif shipped:
        text += (" National figures cover pupils of compulsory school age (Year 1 to Year 11); this report counts every "
                 "pupil ('attendance report --cohort dfe' compares like with like).")
    else:
        text += (" This report counts every pupil; the benchmark file's note column says which pupils its figures "
                 "cover ('attendance report --cohort dfe' counts only pupils of compulsory school age, as national "
                 "statistics do).")
    return text


def _span(low: int, high: int) -> str:
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"


def _days_counted(row: dict[str, Any], letters: dict[str, Any]) -> str:
    """"20 school days before, 6 after (the registers end 20/11/2026)": the periods actually counted."""
    text = f"{_span(*row['days_before'])} school days before, {_span(*row['days_after'])} after"
    if row["cut_short"] and letters.get("registers_end"):
        text += f" (the registers end {letters['registers_end']:%d/%m/%Y})"
    return text


def _letters_note(report: Report) -> str:
    """What the letters table counts, the letters it leaves out, or why there is no table."""
    letters = report.letters or {}
    if not letters.get("policy"):
        return ("Letters are shown with --policy and the ledger its letters are recorded in (--db): this report was "
                "made without a policy.")
    weeks = plural(letters.get("weeks", 4), "week")
    text = ""
    if report.interventions:
        text = (f"Letters sent in this window. Before: the school days in the {weeks} up to the day before each letter; "
                f"after: the school days from the letter's day, {weeks} or to the end of the registers. Letters about "
                "punctuality are measured by the late rate (late marks per 100 possible sessions), the others by "
                "attendance (change in points). Pupils get a letter because their attendance or punctuality was poor, "
                "and such figures tend to improve anyway (regression to the mean): a change after a letter is not all "
                "the letter's effect.")
    else:
        text = "No letters recorded in the ledger for this policy in this window (or none with marks on both sides of the letter)."
    left = letters.get("left_out") or {}
    if left:
        end = letters.get("registers_end")
        counts = [plural(n, "letter") + f" ({name})" for name, n in left.items()]
        text += (f" Left out: {_join(counts)}, with fewer than "
                 f"{plural(letters['min_days_after'], 'school day')} of registers after them"
                 + (f" (the registers end {end:%d/%m/%Y})." if end else "."))
    return text


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def context(report: Report, school: dict[str, Any] | None, anonymous: bool) -> dict[str, Any]:
    """What the templates show: figures already formatted, so HTML and PDF agree to the digit. `anonymous`
    (governors): no count of 1 to N - 1 pupils anywhere (N: --suppress-below), nor a percentage of one."""
    from attendance_cli.reports.figures import hide

    h = report.headline
    below = report.suppress_below
    headline_hidden = hide(report, anonymous)

    def count(n: int, word: str = "pupil") -> str:
        return f"fewer than {plural(below, word)}" if anonymous and 0 < n < below else plural(n, word)

    def share(pct: float | None, n: int | None, measure: str, hidden: bool = False) -> str:
        """A percentage of pupils and their count, both hidden where the count is (or is small)."""
        n = n or 0
        if hidden or (anonymous and 0 < n < below):
            return f"{HIDDEN} ({count(n)})" if 0 < n < below else f"{HIDDEN} (hidden, as a group's could be worked out from it)"
        return f"{_pct(pct, measure)}% ({plural(n, 'pupil')})"
    comparison = report.comparison or {"window": {}, "ytd": None}
    bench = comparison["window"]
    last = report.last_year
    ytd = comparison["ytd"]

    def previous(measure: str, pupils: str | None = None) -> str:
        """Last year's figure, shown as this window's is (with its pupils for PA and SA, a small count
        hidden in the governors' report as this year's is)."""
        if not last or last.get(measure) is None:
            return ""
        if pupils:
            return share(last[measure], last.get(pupils), measure)
        return _pct(last[measure], measure) + "%"

    overall = bench.get("overall")
    attendance_national = (_pct(100 - overall.value, "attendance_pct") + "%"
                           if overall is not None and overall.value is not None else "")
    headline = [
        ("Attendance", _pct(h.get("attendance_pct"), "attendance_pct") + "%", attendance_national,
         previous("attendance_pct")),
        ("Overall absence", _pct(h.get("overall_absence_pct"), "overall_absence_pct") + "%",
         _national(overall, "overall_absence_pct"), previous("overall_absence_pct")),
        ("Authorised absence", _pct(h.get("authorised_absence_pct"), "authorised_absence_pct") + "%",
         _national(bench.get("authorised"), "authorised_absence_pct"), previous("authorised_absence_pct")),
        ("Unauthorised absence", _pct(h.get("unauthorised_absence_pct"), "unauthorised_absence_pct") + "%",
         _national(bench.get("unauthorised"), "unauthorised_absence_pct"), previous("unauthorised_absence_pct")),
        ("Persistent absence (10% or more missed)" + (", this window" if ytd else ""),
         share(h.get("persistent_absence_pct"), h.get("persistent_absence_pupils"), "persistent_absence_pct",
               "persistent_absence_pupils" in headline_hidden),
         _national(bench.get("pa"), "persistent_absence_pct"),
         previous("persistent_absence_pct", "persistent_absence_pupils")),
    ]
    if ytd:
        headline.append((
            "Persistent absence, school year to date",
            share(ytd["persistent_absence_pct"], ytd["persistent_absence_pupils"], "persistent_absence_pct"),
            _national(ytd["choices"]["pa"], "persistent_absence_pct"), ""))
    headline.append((
        "Severe absence (50% or more missed)" + (", this window" if ytd else ""),
        share(h.get("severe_absence_pct"), h.get("severe_absence_pupils"), "severe_absence_pct",
              "severe_absence_pupils" in headline_hidden),
        _national(bench.get("sa"), "severe_absence_pct"), previous("severe_absence_pct", "severe_absence_pupils")))
    if ytd:
        headline.append((
            "Severe absence, school year to date",
            share(ytd["severe_absence_pct"], ytd["severe_absence_pupils"], "severe_absence_pct"),
            _national(ytd["choices"]["sa"], "severe_absence_pct"), ""))
    def lost(figures: dict[str, Any] | None) -> str:
        if not figures:
            return ""
        if report.method["unit"] == "sessions":
            return f"{figures.get('days_missed', 0) or 0:,.1f}"
        return f"{(figures.get('authorised_absences', 0) or 0) + (figures.get('unauthorised_absences', 0) or 0):,}"

    headline.append((
        "Days lost to absence" if report.method["unit"] == "sessions" else "Lessons missed", lost(h), "", lost(last)))
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
        "holidays": f"{plural(p['holiday_sessions'], 'session')}, {count(p['holiday_pupils'])}",
        "runs": _runs(p["runs"], count), "run_days": plural(p["runs"]["days"], "school day") if p["runs"] else "",
        "at_risk_within": plural(p["at_risk_within"], "session"),
        "new_pa_count": count(len(p["new_pa"])), "new_sa_count": count(len(p["new_sa"])),
        "at_risk_count": count(len(p["at_risk"])),
        "new_pa": [] if anonymous else listing(p["new_pa"]), "new_sa": [] if anonymous else listing(p["new_sa"]),
        "at_risk": [] if anonymous else listing(p["at_risk"]),
    }
    interventions = []
    for i in report.interventions:
        measure = "late marks per 100 sessions" if i["measure"] == "late rate" else "attendance %"
        days = _days_counted(i, report.letters or {})
        if i["pupils"] < report.suppress_below:  # a letter sent to few pupils: their figures are not shown
            interventions.append({"letter": i["name"], "pupils": f"fewer than {report.suppress_below:,}",
                                  "measure": measure, "before": HIDDEN, "after": HIDDEN, "change": HIDDEN,
                                  "days": days})
            continue
        before, after = ((f"{i['before']:.2f}", f"{i['after']:.2f}") if i["measure"] == "late rate"
                         else (_pct(i["before"], "attendance_pct"), _pct(i["after"], "attendance_pct")))
        interventions.append({"letter": i["name"], "pupils": f"{i['pupils']:,}", "measure": measure,
                              "before": before, "after": after, "change": points_between(before, after), "days": days})
    reasons = [{"code": r["code"], "meaning": r["meaning"], "category": r["category"], "sessions": f"{r['sessions']:,}"}
               for r in report.reasons.iter_rows(named=True)]
    m = report.method
    return {
        "title": report.title, "school_name": (school or {}).get("name", ""), "window": report.window.describe(), "phase": report.phase,
        "headline": headline, "pupils": plural(h.get("pupils", 0) or 0, "pupil"), "benchmark_source": _comparison_text(report),
        "benchmark_heading": ("National" if not report.comparison or report.comparison["shipped"] else "Benchmark"),
        "last_year": ({"window": f"{last['start']:%d/%m/%Y} to {last['end']:%d/%m/%Y}"} if last else None),
        "chart_text": chart_text(report),
        "breakdowns": breakdowns, "patterns": patterns, "interventions": interventions, "reasons": reasons,
        "letters_note": _letters_note(report), "suppress_below": report.suppress_below, "anonymous": anonymous,
        "breakdowns_note": (f"fewer than {plural(report.suppress_below, 'pupil')} (and any group from which one "
                            f"could be worked out with the whole school's figures or another table: forms with their "
                            f"year group's; PA and SA % of 1 to {report.suppress_below - 1} pupils, and any from "
                            f"which one could be worked out, read {HIDDEN})"),
        "method": {**m, "first": f"{m['first']:%d/%m/%Y}" if m["first"] else "", "last": f"{m['last']:%d/%m/%Y}" if m["last"] else "",
                   "unmarked": f"{m['unmarked']:,}"},
    }


def environment(kind: str):
    """The environment for the reports' templates (templates/reports/): "html" pages, autoescaped,
    or "typ" Typst sources (slips, the report's and the digests' PDFs)."""
    from attendance_cli.resources import templates_folder
    from attendance_cli.templating import environment as make

    return make([templates_folder() / "reports"], kind, autoescape=kind == "html", keep_trailing_newline=False)


#: What Jinja's autoescape (markupsafe) writes for each character it escapes.
_HTML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&#39;", '"': "&#34;"}


def digest_rows(rows) -> str:
    """A digest's table rows for `digest.html.j2` (reports.digest.COLUMNS in, `<tr>...</tr>` lines out):
    made as one text column in Polars, not by the template's loop, which took seconds for 60,000
    pupils. Each value is escaped as autoescape does, a missing value is "None" as Jinja prints it,
    and a week's missing figure (or empty attendance %) is "–"."""
    import polars as pl

    def text(column: str) -> pl.Expr:
        return (pl.col(column).cast(pl.String).str.replace_many(list(_HTML_ESCAPES), list(_HTML_ESCAPES.values()))
                .fill_null("None"))

    def or_dash(column: str, shown: pl.Expr) -> pl.Expr:
        return pl.when(shown).then(text(column)).otherwise(pl.lit("–"))

    week_pct = pl.col("week_attendance_pct").cast(pl.String)
    cells = [text("pupil_id"), pl.concat_str(text("forename"), pl.lit(" "), text("surname")),
             *[or_dash(c, pl.col(c).is_not_null()) for c in ("week_possible", "week_absences", "week_lates")],
             or_dash("week_attendance_pct", week_pct.is_not_null() & (week_pct != "")),
             text("unmarked_this_week"), text("ytd_attendance_pct"),
             or_dash("ytd_days_missed", pl.col("ytd_days_missed").is_not_null()),
             text("week_absence_reasons"), text("new_triggers")]
    action = pl.col("needs_action").fill_null(False)
    start = (pl.when(action).then(pl.lit('<tr class="action"><td>▶<span class="note"> needs action</span></td><td>'))
             .otherwise(pl.lit("<tr><td></td><td>")))
    line = pl.concat_str(start, pl.concat_str(cells, separator="</td><td>"), pl.lit("</td></tr>\n"))
    return rows.select(line.str.join("")).item() if rows.height else ""


def to_html(data: dict[str, Any], svgs: dict[str, str]) -> str:
    from markupsafe import Markup

    return environment("html").get_template("report.html.j2").render(data, charts={k: Markup(v) for k, v in svgs.items()})


def to_pdf(data: dict[str, Any], svgs: dict[str, str], when) -> bytes:
    from attendance_cli.errors import ConfigError
    from attendance_cli.letters.markup import typst_string
    from attendance_cli.letters.pdf import compile_one
    from attendance_cli.templating import Safe

    titles = {i: t for i, t, _ in CHARTS}
    source = environment("typ").get_template("report.typ.j2").render(
        data, charts={k: Safe(f"image(bytes({typst_string(v)}), format: \"svg\", width: 100%, alt: {typst_string(titles.get(k, k))})")
                      for k, v in svgs.items()})
    pdf, message = compile_one((source, True, when.isoformat()))
    if message or pdf is None:
        raise ConfigError(f"The report template report.typ.j2 does not compile: {message}.")
    return pdf
