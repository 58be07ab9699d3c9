"""Aggregation of metric rows into the health page's series and tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from banking_cdc.monitoring.health_report import (
    CONNECTOR_STATE,
    CONSUMER_LAG,
    DBT_TEST,
    FRESHNESS,
    PAGE_METRICS,
    SLOT_WAL,
    THROUGHPUT,
    MetricsUnavailableError,
    build_report,
    data_test_chart,
    failing_tests,
    lag_chart,
    load_report,
    split_lag_subject,
    status_table,
)
from banking_cdc.monitoring.store import MetricRow
from tests.plugins.health_fixture import GOLD_MODELS, PARTITIONS, TEST_TASKS, TOPICS, rows

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def row(metric: str, subject: str, value: float | None, minutes_ago: float, **kw: object) -> MetricRow:
    fields: dict[str, object] = {"status": None, "threshold": None, "breached": False, "run_id": None, **kw}
    return MetricRow(metric, subject, value, observed_at=NOW - timedelta(minutes=minutes_ago), **fields)  # type: ignore[arg-type]


def test_split_lag_subject_from_the_right() -> None:
    assert split_lag_subject("banking-cdc/bank.public.accounts/2") == ("banking-cdc", "bank.public.accounts", "2")
    assert split_lag_subject("team/a/group/topic/0") == ("team/a/group", "topic", "0")
    assert split_lag_subject("topic-only") is None
    assert split_lag_subject("group/topic/x") is None


def test_report_of_the_fixture_has_a_point_per_observation_and_series() -> None:
    steps = 6
    report = build_report(rows(NOW - timedelta(hours=2), steps, timedelta(minutes=15)), timedelta(hours=3), NOW)
    assert [c.key for c in report.charts] == ["freshness", "lag", "throughput", "tests"]
    assert [s.label for s in report.chart("freshness").series] == sorted(GOLD_MODELS)
    assert report.chart("freshness").point_count == len(GOLD_MODELS) * steps
    assert [s.label for s in report.chart("lag").series] == sorted(TOPICS)
    assert report.chart("lag").point_count == len(TOPICS) * steps
    assert report.chart("throughput").point_count == len(TOPICS) * steps
    assert [s.label for s in report.chart("tests").series] == ["passed", "failed"]
    assert report.chart("tests").point_count == 2 * steps
    assert report.observations > 0 and report.last_observed_at == NOW - timedelta(hours=2) + 5 * timedelta(minutes=15)
    assert report.start == NOW - timedelta(hours=3)


def test_lag_is_summed_per_topic_at_each_time() -> None:
    data = [
        row(CONSUMER_LAG, f"g/{topic}/{p}", 10.0 * (p + 1), minutes)
        for minutes in (10, 5)
        for topic in TOPICS
        for p in range(PARTITIONS)
    ]
    chart = lag_chart(data)
    assert {s.label: [p.value for p in s.points] for s in chart.series} == {t: [60.0, 60.0] for t in TOPICS}
    per_partition = lag_chart(data, by="partition")
    assert len(per_partition.series) == len(TOPICS) * PARTITIONS
    assert per_partition.series[0].label == f"{sorted(TOPICS)[0]}/0"


def test_lag_labels_name_the_group_only_when_there_are_several() -> None:
    data = [row(CONSUMER_LAG, "g1/t/0", 1, 1), row(CONSUMER_LAG, "g2/t/0", 2, 1), row(CONSUMER_LAG, "odd", 3, 1)]
    assert [s.label for s in lag_chart(data).series] == ["g1/t", "g2/t", "odd"]


def test_values_without_a_number_are_not_drawn() -> None:
    chart = build_report([row(FRESHNESS, "dim_accounts", None, 1)], timedelta(hours=1), NOW).chart("freshness")
    assert chart.empty


def test_data_tests_count_the_latest_attempt_of_each_task_per_run() -> None:
    data = [
        row(DBT_TEST, "a.test", 0, 30, status="up_for_retry", run_id="r1"),
        row(DBT_TEST, "a.test", 1, 29, status="success", run_id="r1"),  # retried and passed
        row(DBT_TEST, "b.test", 0, 28, status="failed", run_id="r1"),
        row(DBT_TEST, "a.test", 1, 10, status="success", run_id="r2"),
        row(DBT_TEST, "b.test", 1, 9, status="success", run_id="r2"),
    ]
    chart = data_test_chart(data)
    passed, failed = chart.series
    assert [p.value for p in passed.points] == [1, 2]
    assert [p.value for p in failed.points] == [1, 0]
    assert passed.points[0].at == NOW - timedelta(minutes=28)  # the run's last result
    assert [r.subject for r in failing_tests(data)] == []  # b.test passed in the latest run
    assert [r.subject for r in failing_tests(data[:3])] == ["b.test"]


def test_test_results_without_a_run_id_are_grouped_by_time() -> None:
    data = [row(DBT_TEST, "a.test", 1, 5), row(DBT_TEST, "b.test", 0, 5), row(DBT_TEST, "a.test", 1, 1)]
    passed, failed = data_test_chart(data).series
    assert [p.value for p in passed.points] == [1, 1] and [p.value for p in failed.points] == [1, 0]


def test_status_table_holds_the_latest_state_and_any_breach() -> None:
    data = [
        row(SLOT_WAL, "slot", 100, 10, status="reserved"),
        row(SLOT_WAL, "slot", 200, 5, status="extended", breached=True),
        row(CONNECTOR_STATE, "banking-source", 1, 5, status="RUNNING"),
        row(FRESHNESS, "dim_accounts", 5000, 5, threshold=900, breached=True),
        row(FRESHNESS, "dim_customers", 10, 5, threshold=900),
        row(THROUGHPUT, "t", 10, 5),
        row(DBT_TEST, "a.test", 0, 5, breached=True),
    ]
    table = status_table(data)
    assert [(r.metric, r.subject) for r in table] == [
        (SLOT_WAL, "slot"),
        (CONNECTOR_STATE, "banking-source"),
        (FRESHNESS, "dim_accounts"),
    ]
    assert table[0].value == 200 and table[0].status == "extended" and table[0].breached


def test_empty_window() -> None:
    report = build_report([], timedelta(hours=6), NOW)
    assert report.empty and all(c.empty for c in report.charts) and report.last_observed_at is None


class FakeStore:
    conn_id = "bcdc_metrics_fake"

    def __init__(self, result: list[MetricRow] | Exception) -> None:
        self.result = result
        self.calls: list[dict[str, object]] = []

    def read(self, **kwargs: object) -> list[MetricRow]:
        self.calls.append(kwargs)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_load_report_reads_the_page_metrics_of_the_window() -> None:
    store = FakeStore([row(FRESHNESS, "dim_accounts", 5, 5), row(FRESHNESS, "dim_accounts", 5, -5)])
    report = load_report(timedelta(hours=2), store, NOW)  # type: ignore[arg-type]
    assert store.calls == [{"metrics": PAGE_METRICS, "since": NOW - timedelta(hours=2)}]
    assert report.chart("freshness").point_count == 1  # a row from after `now` is left out


def test_load_report_names_the_connection_when_the_database_fails() -> None:
    store = FakeStore(ConnectionError("connection refused\nIs the server running?"))
    with pytest.raises(MetricsUnavailableError, match=r"'bcdc_metrics_fake': ConnectionError: connection refused$"):
        load_report(timedelta(hours=1), store, NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize("window", [timedelta(0), timedelta(days=32)])
def test_load_report_refuses_bad_windows(window: timedelta) -> None:
    with pytest.raises(ValueError, match="window"):
        load_report(window, FakeStore([]), NOW)  # type: ignore[arg-type]


def test_fixture_test_tasks_are_cosmos_test_ids() -> None:
    assert all(t.endswith((".test", "_test")) for t in TEST_TASKS)


def test_failing_tasks_show_their_error_and_since_when_they_fail() -> None:
    from banking_cdc.monitoring.health_report import failing_tasks
    from banking_cdc.monitoring.store import MetricRow
    from banking_cdc.settings import TASK_FAILING

    t0 = datetime(2026, 12, 5, 10, tzinfo=UTC)

    def row(subject: str, minutes: int, value: float, status: str) -> MetricRow:
        return MetricRow(TASK_FAILING, subject, value, status, None, False, t0 + timedelta(minutes=minutes), "r")

    rows = [
        row("banking_dbt_transform/stg_transactions.run", 0, 1, "old failure"),
        row("banking_dbt_transform/stg_transactions.run", 5, 0, "recovered"),
        row("banking_dbt_transform/stg_transactions.run", 10, 1, "Binder Error: a"),
        row("banking_dbt_transform/stg_transactions.run", 12, 1, "Binder Error: b"),
        row("cdc_load_bronze/load_bronze", 3, 1, "gone"),
        row("cdc_load_bronze/load_bronze", 4, 0, "recovered"),
    ]
    (failing,) = failing_tasks(rows)
    assert failing.task == "banking_dbt_transform/stg_transactions.run"
    assert failing.error == "Binder Error: b" and failing.failures == 2
    assert failing.since == t0 + timedelta(minutes=10) and failing.last_failed_at == t0 + timedelta(minutes=12)
