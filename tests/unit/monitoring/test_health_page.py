"""Server-side HTML/SVG of the health page: a circle per observation, empty and error states, escaping."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from banking_cdc.monitoring.health_page import (
    EMPTY_MESSAGE,
    axis_top,
    format_axis,
    format_bytes,
    format_duration,
    format_value,
    render_page,
    time_ticks,
)
from banking_cdc.monitoring.health_report import CONNECTOR_STATE, DBT_TEST, FRESHNESS, build_report
from banking_cdc.monitoring.store import MetricRow
from tests.plugins.health_fixture import rows

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def svg_of(page: str, key: str) -> str:
    match = re.search(rf'<svg class="chart-svg" data-chart="{key}".*?</svg>', page, re.S)
    assert match, f"no svg for {key}"
    return match[0]


def test_each_chart_draws_a_circle_per_point() -> None:
    report = build_report(rows(NOW - timedelta(hours=2), 6, timedelta(minutes=20)), timedelta(hours=3), NOW)
    page = render_page(report, 3)
    for chart in report.charts:
        svg = svg_of(page, chart.key)
        assert svg.count('<circle class="pt"') == chart.point_count > 0
        assert f'data-points="{chart.point_count}"' in svg
        assert svg.count("<polyline") == len(chart.series)
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert EMPTY_MESSAGE not in page
    assert "assert_no_orphan_transactions_test" in page  # failing in the latest run (odd step)


def test_points_stay_inside_the_plot() -> None:
    report = build_report(rows(NOW - timedelta(hours=2), 5, timedelta(minutes=20)), timedelta(hours=3), NOW)
    page = render_page(report, 3)
    for cx, cy in re.findall(r'<circle class="pt" cx="([\d.]+)" cy="([\d.]+)"', page):
        assert 64 <= float(cx) <= 546 and 12 <= float(cy) <= 200


def test_empty_window_says_so() -> None:
    page = render_page(build_report([], timedelta(hours=6), NOW), 6)
    assert EMPTY_MESSAGE in page
    assert page.count("No observations of") == 4 and "<svg" not in page


def test_error_page_shows_the_message_and_no_charts() -> None:
    page = render_page(None, 6, error="cannot read ... through the Airflow connection 'bcdc_metrics': boom", now=NOW)
    assert "The metrics database is unreachable." in page and "&#x27;bcdc_metrics&#x27;" in page
    assert "<svg" not in page and "Traceback" not in page


def test_labels_and_statuses_are_escaped() -> None:
    data = [
        MetricRow(FRESHNESS, "<script>x</script>", 1.0, None, None, False, NOW, None),
        MetricRow(CONNECTOR_STATE, "c", 0.0, "<b>FAILED</b>", None, True, NOW, None),
        MetricRow(DBT_TEST, "t<i>.test", 0.0, "failed", None, False, NOW, "run<1>"),
    ]
    page = render_page(build_report(data, timedelta(hours=1), NOW), 1)
    assert "<script>x" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<b>FAILED" not in page and "not running" in page and "run&lt;1&gt;" in page


def test_window_links_keep_the_lag_grouping() -> None:
    page = render_page(build_report([], timedelta(hours=24), NOW), 24, lag_by="partition")
    assert 'class="on" href="?hours=24&amp;lag=partition"' in page and 'href="?hours=24&amp;lag=topic"' in page


@pytest.mark.parametrize(
    ("value", "unit", "top"),
    [(0, "s", 4), (200, "s", 240), (3700, "s", 7200), (3.15, "tasks", 4), (1921, "messages", 2000), (0.3, "x", 0.4)],
)
def test_axis_top_has_round_steps(value: float, unit: str, top: float) -> None:
    assert axis_top(value, unit) == pytest.approx(top)


def test_formats() -> None:
    assert [format_duration(s) for s in (42, 750, 7200, 3 * 86400)] == ["42 s", "12.5 min", "2.0 h", "3.0 d"]
    assert format_bytes(3 * 2**20) == "3.0 MiB" and format_bytes(12) == "12 B"
    assert format_axis(120, "s") == "2 min" and format_axis(7200, "s") == "2 h" and format_axis(45, "s") == "45 s"
    assert format_value(1234.0, "rows/s") == "1,234 rows/s" and format_value(None, "s") == "n/a"


def test_time_ticks_are_round_and_inside() -> None:
    ticks = time_ticks(NOW - timedelta(hours=6), NOW)
    assert ticks[0] >= NOW - timedelta(hours=6) and ticks[-1] <= NOW and 3 <= len(ticks) <= 7
    assert all(t.minute == 0 for t in ticks)


def test_failing_tasks_and_rejects_are_shown_with_error_and_since_when() -> None:
    from banking_cdc.settings import REJECTED_KEYS, REJECTED_VALUES, TASK_FAILING

    since = NOW - timedelta(minutes=30)
    data = [
        MetricRow(TASK_FAILING, "banking_dbt_transform/stg_x.run", 1.0, "Runtime Error in model <stg_x>", None,
                  False, since, "r1"),
        MetricRow(TASK_FAILING, "banking_dbt_transform/stg_x.run", 1.0, "Catalog Error: Table stg_y does not exist",
                  None, False, NOW - timedelta(minutes=1), "r2"),
        MetricRow(REJECTED_VALUES, "stg_transactions", 3.0, "amount: more decimal places than numeric(18,2) holds (3)",
                  None, False, NOW, None),
        MetricRow(REJECTED_KEYS, "stg_transactions", 1.0, None, None, False, NOW, None),
    ]  # fmt: skip
    page = render_page(build_report(data, timedelta(hours=1), NOW), 1)
    table = re.search(r'<table class="status failing-tasks">.*?</table>', page, re.S)
    assert table, "no failing-tasks table"
    assert "banking_dbt_transform/stg_x.run" in table[0] and "Catalog Error: Table stg_y does not exist" in table[0]
    assert f'title="{since:%Y-%m-%d %H:%M:%S} UTC">30.0 min ago</td><td>2</td>' in table[0]  # since, attempts
    assert "<stg_x>" not in page
    assert "silver.rejected_values" in page and "more decimal places than numeric(18,2) holds (3)" in page
    assert "silver.rejected_keys" in page
