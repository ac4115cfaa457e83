"""The report's charts as SVG text (matplotlib, imported only when a report is made).

Every chart is self-contained SVG (text as paths, so no font is fetched), carries a <title> for
screen readers, and is byte-for-byte the same for the same figures (fixed hash salt, no date).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

BLUE, GREY, RED, AMBER = "#1f5fa8", "#8a8a8a", "#b3261e", "#c77c02"


def warm_up() -> None:
    """Import matplotlib in the background (half a second of Python) while the figures are worked
    out (Polars, which lets the interpreter go): the charts then start at once. Drawing imports it
    anyway; if this has not finished, the import waits for it."""
    import threading

    threading.Thread(target=_pyplot, name="import matplotlib", daemon=True).start()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({
        "svg.hashsalt": "attendance", "svg.fonttype": "path", "font.family": "DejaVu Sans", "font.size": 9,
        "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 100,
    })
    import matplotlib.pyplot as plt

    return plt


def _svg(figure, title: str) -> str:
    plt = _pyplot()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Title": title})
    plt.close(figure)
    text = buffer.getvalue()
    # drop the XML prolog and DOCTYPE: the SVG is placed inside an HTML page
    start = text.index("<svg")
    svg = text[start:]
    return svg.replace(">", f' role="img" aria-label="{_attr(title)}"><title>{_text(title)}</title>', 1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def weekly_trend(weeks: Sequence[dt.date], attendance: Sequence[float | None], benchmark: float | None,
                 benchmark_label: str) -> str:
    """Attendance % per school week, with the national figure as a dashed line."""
    return _svg(weekly_trend_figure(weeks, attendance, benchmark, benchmark_label), "Attendance by school week")


def weekly_trend_figure(weeks: Sequence[dt.date], attendance: Sequence[float | None], benchmark: float | None,
                        benchmark_label: str):
    """The weekly trend as a matplotlib figure (`weekly_trend` makes it SVG): a point on each school
    week's Monday (`weeks`), dated as the lateness chart's are, never overlapping."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7.0, 2.6))
    axes.plot(list(weeks), [a if a is not None else float("nan") for a in attendance], color=BLUE, marker="o",
              markersize=3, linewidth=1.5, label="This school")
    if benchmark is not None:
        axes.axhline(benchmark, color=GREY, linestyle="--", linewidth=1, label=benchmark_label)
    values = [a for a in attendance if a is not None] + ([benchmark] if benchmark is not None else [])
    low = min(values, default=90.0)
    axes.set_ylim(max(0.0, min(90.0, low - 2)), 100.5)
    axes.set_ylabel("Attendance %")
    axes.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, frameon=False, fontsize=8)
    _week_axis(figure, axes, weeks)
    return figure


#: The heat map's fixed scale: 90% (the persistent-absence line) in the middle, red at 80% and below,
#: green at 100%. Fixed, so the same attendance is the same colour in every report (scaled from the
#: data's own lowest cell, every school's worst session looked red).
HEAT_RANGE = (80.0, 100.0)


def relative_luminance(rgb: Sequence[float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour (channels 0 to 1)."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: Sequence[float], b: Sequence[float]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours."""
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def label_colour(background: Sequence[float]) -> str:
    """Black or white, whichever reads better on the background (both are checked: the better is
    at least 4.58:1 on any colour)."""
    return "#000000" if contrast(background, (0, 0, 0)) >= contrast(background, (1, 1, 1)) else "#ffffff"


def heatmap(values: Sequence[Sequence[float | None]], labels: Sequence[Sequence[str]], days: Sequence[str],
            sessions: Sequence[str]) -> str:
    """Attendance % by day of the week (rows) and session (columns), on the fixed scale HEAT_RANGE.
    `labels`: each cell's figure as the report prints percentages (rounded down), so the chart never
    shows a figure the tables do not; each in black or white, whichever contrasts more with its cell."""
    plt = _pyplot()
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    figure, axes = plt.subplots(figsize=(3.6, 2.6))
    grid = [[v if v is not None else float("nan") for v in row] for row in values]
    cmap, norm = colormaps["RdYlGn"], Normalize(*HEAT_RANGE, clip=True)
    image = axes.imshow(grid, cmap=cmap, norm=norm, aspect="auto")
    axes.set_xticks(range(len(sessions)), list(sessions))
    axes.set_yticks(range(len(days)), list(days))
    for y, (row, texts) in enumerate(zip(values, labels)):
        for x, (value, text) in enumerate(zip(row, texts)):
            if value is not None:
                axes.text(x, y, text, ha="center", va="center", fontsize=8, color=label_colour(cmap(norm(value))))
    bar = figure.colorbar(image, ax=axes, fraction=0.05, extend="min")
    bar.set_label("Attendance % (80 or below: darkest red)", fontsize=7)
    axes.spines[:].set_visible(False)
    return _svg(figure, "Attendance by day of the week and session")


def reasons(labels: Sequence[str], sessions: Sequence[int]) -> str:
    """Absence sessions by reason code, largest first (horizontal bars). Each label is shown whole,
    wrapped onto a second line (or more) when long, never cut off."""
    import textwrap

    plt = _pyplot()
    wrapped = [textwrap.fill(label, 40) for label in labels]
    lines = sum(label.count("\n") + 1 for label in wrapped)
    height = max(1.6, 0.16 * lines + 0.14 * len(labels) + 0.6)
    figure, axes = plt.subplots(figsize=(7.0, height))
    positions = list(range(len(labels)))[::-1]
    axes.barh(positions, list(sessions), color=BLUE)
    axes.set_yticks(positions, wrapped)
    axes.set_ylim(-0.6, len(labels) - 0.4)
    axes.set_xlabel("Sessions")
    for y, value in zip(positions, sessions):
        axes.text(value, y, f" {value:,}", va="center", fontsize=8)
    return _svg(figure, "Absence by reason")


def lateness(weeks: Sequence[dt.date], values: Sequence[int], minutes: bool = True) -> str:
    """Minutes lost to lateness per school week; `minutes=False`: late marks per week (exports with
    no minutes, where a count of minutes would read 0 in weeks with many lates)."""
    figure = lateness_figure(weeks, values, minutes)
    return _svg(figure, "Minutes lost to lateness by school week" if minutes
                else "Late marks by school week")


#: Space between two date labels on the lateness chart, in points.
LABEL_GAP = 4.0


def lateness_figure(weeks: Sequence[dt.date], values: Sequence[int], minutes: bool = True):
    """The lateness chart as a matplotlib figure (`lateness` makes it SVG): a bar on each school
    week's Monday (`weeks`), dated as `_week_axis` says."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7.0, 2.4))
    axes.bar(list(weeks), list(values), width=4, color=AMBER)
    axes.set_ylabel("Minutes late" if minutes else "Late marks")
    _week_axis(figure, axes, weeks)
    return figure


def _week_axis(figure, axes, weeks: Sequence[dt.date]) -> None:
    """The x axis of a chart by school week: a tick at each week's Monday (`weeks`), dated labels on
    the first week and every so many after it, as few weeks apart as the labels' drawn widths allow,
    so no two labels ever overlap (a half term: every week; a school year: every few)."""
    import matplotlib.dates as mdates
    from matplotlib.ticker import FixedLocator, NullFormatter

    mondays = [mdates.date2num(week) for week in weeks]
    if mondays:
        axes.set_xlim(mondays[0] - 4, mondays[-1] + 4)
    axes.xaxis.set_minor_locator(FixedLocator(mondays))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    step = 1
    while True:
        axes.xaxis.set_major_locator(FixedLocator(mondays[::step]))
        labels = axes.get_xticklabels()
        for label in labels:
            label.set_rotation(30)
            label.set_horizontalalignment("right")
        if step >= len(mondays) or not _overlapping(figure, axes):
            return
        step += 1


def _overlapping(figure, axes) -> bool:
    """Whether any two of the x axis's labels, as drawn, come closer than LABEL_GAP (their boxes)."""
    renderer = figure.canvas.get_renderer()
    axes.xaxis.get_tightbbox(renderer)  # lays out the ticks and their labels
    gap = LABEL_GAP * figure.dpi / 72
    boxes = sorted((label.get_window_extent(renderer) for label in axes.get_xticklabels() if label.get_text()),
                   key=lambda box: box.x0)
    return any(right.x0 - left.x1 < gap for left, right in zip(boxes, boxes[1:]))
