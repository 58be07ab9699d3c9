"""HTML of the pipeline health page: a :class:`~banking_cdc.monitoring.health_report.HealthReport` drawn as inline SVG.

Server-side rendering with no JavaScript and no external asset (no CDN: a bank's Airflow often has no
internet access). Each chart is an ``<svg data-chart="<key>" data-points="<n>">`` holding one
``<polyline>`` and one ``<circle class="pt">`` per observation of each series, each circle with a
``<title>`` tooltip; the page reloads itself every minute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape

from banking_cdc.monitoring.health_report import (
    CONNECTOR_STATE,
    DBT_TEST,
    SLOT_WAL,
    TASK_STATE,
    Chart,
    FailingTask,
    HealthReport,
    LagGrouping,
    StatusRow,
)

#: windows offered as links (hours)
WINDOW_CHOICES: tuple[float, ...] = (1, 6, 24, 72, 168)
#: seconds between automatic reloads of the page
REFRESH_SECONDS = 60

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
FIXED_COLOURS = {"passed": "#2e7d32", "failed": "#c62828"}

WIDTH, HEIGHT = 560, 230
LEFT, RIGHT, TOP, BOTTOM = 64, 14, 12, 30

EMPTY_MESSAGE = "No observations yet — is cdc_monitoring running?"


def format_duration(seconds: float) -> str:
    """``42 s``, ``12.5 min``, ``3.2 h``, ``2.1 d``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def format_bytes(value: float) -> str:
    """``512 B``, ``1.5 MiB``, ``3.0 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_number(value: float) -> str:
    """Thousands separators, one decimal only when the value has a fraction."""
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 1000 else f"{value:,.1f}"


def format_value(value: float | None, unit: str) -> str:
    """A value in its unit, for tooltips, legends and the status table."""
    if value is None:
        return "n/a"
    if unit == "s":
        return format_duration(value)
    if unit == "bytes":
        return format_bytes(value)
    return f"{format_number(value)} {unit}".strip()


def format_axis(value: float, unit: str) -> str:
    """A tick label: durations and sizes in words, other units as bare numbers."""
    if unit == "s":
        for size, name in ((86400, "d"), (3600, "h"), (60, "min")):
            if value >= size and value % size == 0:
                return f"{value / size:g} {name}"
        return format_duration(value)
    if unit == "bytes":
        return format_bytes(value)
    return format_number(value)


def format_window(window: timedelta) -> str:
    """``45 min``, ``6 h``, ``3 d``."""
    hours = window.total_seconds() / 3600
    if hours < 1:
        return f"{hours * 60:.0f} min"
    if hours < 48 or hours % 24:
        return f"{hours:g} h"
    return f"{hours / 24:g} d"


def format_age(at: datetime, now: datetime) -> str:
    """``just now``, ``4 min ago``."""
    seconds = max((now - at).total_seconds(), 0)
    return "just now" if seconds < 5 else f"{format_duration(seconds)} ago"


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least ``value`` (1 for 0 or less)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


#: tick steps of a duration axis, seconds
_DURATION_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def axis_top(value: float, unit: str, ticks: int = 4) -> float:
    """
    Top of a y axis from 0 with ``ticks`` equal steps, each step a round number, covering ``value``.

    Durations step in round seconds, minutes or hours; other units in 1, 2, 2.5 or 5 times a power of
    ten, and whole numbers for counts of tasks.
    """
    step_needed = max(value, 0.0) / ticks
    if unit == "s":
        step = next((float(s) for s in _DURATION_STEPS if s >= step_needed), 86400 * math.ceil(step_needed / 86400))
    else:
        step = nice_ceiling(step_needed)
        if unit == "tasks":
            step = max(1.0, math.ceil(step))
    return step * ticks


_TIME_STEPS = tuple(timedelta(minutes=m) for m in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080))


def time_ticks(start: datetime, end: datetime, most: int = 6) -> list[datetime]:
    """Round tick times between ``start`` and ``end``, at most ``most`` intervals apart in all."""
    span = end - start
    step = next((s for s in _TIME_STEPS if span / s <= most), _TIME_STEPS[-1])
    seconds = step.total_seconds()
    first = math.ceil(start.timestamp() / seconds) * seconds
    ticks = []
    t = first
    while t <= end.timestamp():
        ticks.append(datetime.fromtimestamp(t, tz=start.tzinfo))
        t += seconds
    return ticks


def _colour(label: str, index: int) -> str:
    return FIXED_COLOURS.get(label, PALETTE[index % len(PALETTE)])


def render_chart_svg(chart: Chart, start: datetime, end: datetime) -> str:
    """
    One chart as an inline SVG line chart with a circle per observation.

    :param chart: The chart (its series must not all be empty).
    :param start: Left edge of the time axis.
    :param end: Right edge of the time axis.
    """
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = max((end - start).total_seconds(), 1.0)
    top = axis_top(max((p.value for s in chart.series for p in s.points), default=0.0) * 1.05, chart.unit)

    def x_of(at: datetime) -> float:
        return LEFT + plot_w * min(max((at - start).total_seconds() / span, 0.0), 1.0)

    def y_of(value: float) -> float:
        return TOP + plot_h * (1 - min(max(value / top, 0.0), 1.0))

    parts = [
        f'<svg class="chart-svg" data-chart="{escape(chart.key)}" data-points="{chart.point_count}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(chart.title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i in range(5):
        value = top * i / 4
        y = y_of(value)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        label = format_axis(value, chart.unit)
        parts.append(f'<text class="ytick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
    long_window = end - start > timedelta(days=1)
    for tick in time_ticks(start, end):
        x = x_of(tick)
        text = tick.strftime("%d %b %H:%M" if long_window else "%H:%M")
        parts.append(f'<line class="xtick" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 4}"/>')
        parts.append(f'<text class="xlabel" x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="middle">{text}</text>')
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>')
    for index, series in enumerate(chart.series):
        colour = _colour(series.label, index)
        coords = [(x_of(p.at), y_of(p.value), p) for p in series.points]
        parts.append(f'<g class="series" data-series="{escape(series.label)}" data-points="{len(coords)}">')
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in coords)
            parts.append(f'<polyline class="line" fill="none" stroke="{colour}" stroke-width="1.6" points="{path}"/>')
        for x, y, point in coords:
            tip = f"{series.label}: {format_value(point.value, chart.unit)} at {point.at:%Y-%m-%d %H:%M:%S} UTC"
            parts.append(
                f'<circle class="pt" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(tip)}</title></circle>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def render_chart(chart: Chart, start: datetime, end: datetime, window_text: str) -> str:
    """A chart section: heading, description, the SVG (or an empty note) and a legend with latest values."""
    head = (
        f'<section class="chart" data-chart="{escape(chart.key)}" data-points="{chart.point_count}">'
        f'<h2>{escape(chart.title)}</h2><p class="desc">{escape(chart.description)}</p>'
    )
    if chart.empty:
        note = f"No observations of <code>{escape(chart.metric)}</code> in the last {escape(window_text)}."
        return f'{head}<p class="empty">{note}</p></section>'
    legend = []
    for index, series in enumerate(chart.series):
        latest = series.latest
        value = format_value(latest.value, chart.unit) if latest else "n/a"
        legend.append(
            f'<li><span class="swatch" style="background:{_colour(series.label, index)}"></span>'
            f'{escape(series.label)} <span class="latest">{escape(value)}</span></li>'
        )
    return f'{head}{render_chart_svg(chart, start, end)}<ul class="legend">{"".join(legend)}</ul></section>'


_STATUS_UNITS = {SLOT_WAL: "bytes", DBT_TEST: ""}


def _status_value(row: StatusRow) -> str:
    if row.metric in (CONNECTOR_STATE, TASK_STATE):
        return "running" if row.value == 1 else ("not running" if row.value is not None else "n/a")
    return format_value(row.value, _STATUS_UNITS.get(row.metric, ""))


def render_status_table(rows: Sequence[StatusRow], now: datetime, caption: str) -> str:
    """The current-status table (latest observation per metric and subject)."""
    if not rows:
        return ""
    body = []
    for row in rows:
        threshold = "" if row.threshold is None else format_value(row.threshold, _STATUS_UNITS.get(row.metric, ""))
        verdict = '<span class="badge bad">breached</span>' if row.breached else '<span class="badge ok">ok</span>'
        body.append(
            f'<tr class="{"breached" if row.breached else "ok"}"><td><code>{escape(row.metric)}</code></td>'
            f"<td>{escape(row.subject)}</td><td>{escape(_status_value(row))}</td>"
            f"<td>{escape(row.status or '')}</td><td>{escape(threshold)}</td><td>{verdict}</td>"
            f'<td title="{row.observed_at:%Y-%m-%d %H:%M:%S} UTC">{escape(format_age(row.observed_at, now))}</td></tr>'
        )
    return (
        f'<table class="status"><caption>{escape(caption)}</caption><thead><tr><th>metric</th><th>subject</th>'
        "<th>value</th><th>status</th><th>threshold</th><th>verdict</th><th>observed</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _failure_table(css: str, caption: str, headers: Sequence[str], rows: Sequence[str]) -> str:
    """A table of failures (every row marked breached); empty when there is none."""
    if not rows:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return (
        f'<table class="status {css}"><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _when(at: datetime, now: datetime) -> str:
    return f'<td title="{at:%Y-%m-%d %H:%M:%S} UTC">{escape(format_age(at, now))}</td>'


def render_failing_tests(rows: Sequence[StatusRow], now: datetime) -> str:
    """The dbt test tasks whose latest result in the window is a failure."""
    body = [
        f'<tr class="breached"><td><code>{escape(row.subject)}</code></td><td>{escape(row.status or "failed")}</td>'
        f"<td>{escape(row.run_id or '')}</td>{_when(row.observed_at, now)}</tr>"
        for row in rows
    ]
    return _failure_table(
        "failing", "dbt test tasks failing in their latest run", ("test task", "state", "DAG run", "when"), body
    )


def render_failing_tasks(tasks: Sequence[FailingTask], now: datetime) -> str:
    """The stage, load and dbt tasks whose latest attempt failed: error line and since when."""
    body = [
        f'<tr class="breached"><td><code>{escape(task.task)}</code></td><td>{escape(task.error)}</td>'
        f"{_when(task.since, now)}<td>{task.failures}</td>{_when(task.last_failed_at, now)}"
        f"<td>{escape(task.run_id or '')}</td></tr>"
        for task in tasks
    ]
    return _failure_table(
        "failing-tasks",
        "Pipeline tasks failing (stage, load, dbt models, snapshots and tests)",
        ("task", "error", "failing since", "failed attempts", "last failure", "DAG run"),
        body,
    )


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:16px 20px;color:#1a202c;background:#fff}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:8px 24px;margin-bottom:12px}
h1{font-size:20px;margin:0}h2{font-size:15px;margin:0 0 2px}
.meta{color:#4a5568;font-size:13px}.nav a{margin-right:8px;font-size:13px;color:#2b6cb0}
.nav a.on{font-weight:700;color:#1a202c;text-decoration:none}
.banner{padding:10px 14px;border-radius:6px;margin:8px 0 14px;font-size:14px}
.banner.error{background:#fdecea;border:1px solid #c62828;color:#7f1d1d}
.banner.nodata{background:#fff8e1;border:1px solid #f9a825}
.grid-charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(580px,1fr));gap:16px}
.chart{border:1px solid #e2e8f0;border-radius:8px;padding:10px 12px}
.desc{color:#4a5568;font-size:12px;margin:0 0 6px}.empty{color:#718096;font-size:13px}
.chart-svg text{font-size:10px;fill:#4a5568}.chart-svg .grid{stroke:#edf2f7}
.chart-svg .axis,.chart-svg .xtick{stroke:#a0aec0}
.legend{list-style:none;padding:0;margin:6px 0 0;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
.latest{color:#4a5568}
table.status{border-collapse:collapse;font-size:13px;margin-top:18px;min-width:60%}
table.status caption{text-align:left;font-weight:600;padding:4px 0}
table.status th,table.status td{border-bottom:1px solid #e2e8f0;padding:4px 10px;text-align:left}
tr.breached td{background:#fdecea}
.badge{padding:1px 6px;border-radius:8px;font-size:11px}.badge.ok{background:#e6f4ea}
.badge.bad{background:#c62828;color:#fff}
"""


def _hours_text(hours: float) -> str:
    return format_window(timedelta(hours=hours))


def render_page(
    report: HealthReport | None,
    hours: float,
    lag_by: LagGrouping = "topic",
    error: str | None = None,
    now: datetime | None = None,
) -> str:
    """
    The whole page.

    :param report: The report to draw, or ``None`` when the metrics table could not be read.
    :param hours: The window in hours (selected in the window links).
    :param lag_by: Consumer lag grouping (``topic`` or ``partition``), kept in the links.
    :param error: Message shown instead of the charts when the metrics table could not be read.
    :param now: Time shown as generation time when there is no report.
    """
    window_links = " ".join(
        f'<a class="{"on" if math.isclose(h, hours) else ""}" href="?hours={h:g}&amp;lag={lag_by}">'
        f"{escape(_hours_text(h))}</a>"
        for h in WINDOW_CHOICES
    )
    other = "partition" if lag_by == "topic" else "topic"
    lag_link = f'<a href="?hours={hours:g}&amp;lag={other}">lag per {other}</a>'
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Pipeline health · banking-cdc</title><style>{STYLE}</style></head><body>",
        "<header><h1>Pipeline health</h1>",
        f'<span class="nav">window: {window_links} · {lag_link}</span></header>',
    ]
    if error is not None or report is None:
        when = f"{now:%Y-%m-%d %H:%M:%S} UTC" if now else ""
        parts.append(
            f'<div class="banner error" role="alert"><strong>The metrics database is unreachable.</strong> '
            f"{escape(error or 'no report')}<br>Check the Airflow connection and that the database is up; "
            f"the page retries every {REFRESH_SECONDS} s. {escape(when)}</div>"
        )
        parts.append("</body></html>")
        return "".join(parts)
    window_text = format_window(report.window)
    newest = f"newest {format_age(report.last_observed_at, report.generated_at)}" if report.last_observed_at else "none"
    parts.append(
        f'<p class="meta">last {escape(window_text)} up to {report.generated_at:%Y-%m-%d %H:%M:%S} UTC · '
        f"{report.observations} observations ({escape(newest)}) · times in UTC · reloads every {REFRESH_SECONDS} s</p>"
    )
    if report.empty:
        parts.append(
            f'<div class="banner nodata" role="status"><strong>{escape(EMPTY_MESSAGE)}</strong> '
            f"The metrics table holds no observation in the last {escape(window_text)}; "
            "trigger the monitoring DAG or widen the window.</div>"
        )
    parts.append('<div class="grid-charts">')
    parts.extend(render_chart(chart, report.start, report.generated_at, window_text) for chart in report.charts)
    parts.append("</div>")
    parts.append(render_status_table(report.status, report.generated_at, "Current status (latest observation)"))
    parts.append(render_failing_tasks(report.failing_tasks, report.generated_at))
    parts.append(render_failing_tests(report.failing_tests, report.generated_at))
    parts.append("</body></html>")
    return "".join(parts)
