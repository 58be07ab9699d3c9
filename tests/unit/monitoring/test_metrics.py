"""Breach rules, state encodings and the verdict of a monitoring run."""

from __future__ import annotations

import pytest

from banking_cdc.monitoring.metrics import describe, evaluate, state_value, verdict
from banking_cdc.monitoring.store import MetricSample


@pytest.mark.parametrize("state", ["PAUSED", "STOPPED", "FAILED", "UNASSIGNED", "MISSING", "UNREACHABLE"])
def test_connector_states_encode_running_as_one(state: str) -> None:
    assert state_value("RUNNING") == 1.0
    assert state_value(state) == 0.0


@pytest.mark.parametrize(
    ("sample", "threshold", "breached"),
    [
        (MetricSample("kafka.consumer_lag", "g/t/0", 10.0), 10, False),  # at the threshold: not above
        (MetricSample("kafka.consumer_lag", "g/t/0", 11.0), 10, True),
        (MetricSample("kafka.consumer_lag", "g/t/0", 1e9), None, False),  # no threshold: recorded only
        (MetricSample("connect.connector_state", "c", 0.0, status="PAUSED"), 1, True),  # below breaches
        (MetricSample("connect.connector_state", "c", 1.0, status="RUNNING"), 1, False),
        (MetricSample("postgres.slot_active", "s", 0.0), 1, True),
        (MetricSample("postgres.slot_retained_wal_bytes", "s", 5.0, status="reserved"), 100, False),
        (MetricSample("postgres.slot_retained_wal_bytes", "s", 5.0, status="unreserved"), 100, True),
        (MetricSample("postgres.slot_retained_wal_bytes", "s", None, status="lost"), None, True),
        (MetricSample("gold.freshness_seconds", "m", None, status="MISSING"), None, True),
        (MetricSample("gold.freshness_seconds", "m", None, status="EMPTY"), 60, False),
        (MetricSample("landing.unloaded_files", "t", None, status="UNREACHABLE"), 5, True),
        (MetricSample("bronze.load_rows_per_s", "t", 2.0), 5, True),  # a minimum throughput
    ],
)
def test_evaluate(sample: MetricSample, threshold: float | None, breached: bool) -> None:
    result = evaluate(sample, threshold)
    assert (result.threshold, result.breached) == (threshold, breached)
    assert (result.metric, result.subject, result.value, result.status) == (
        sample.metric, sample.subject, sample.value, sample.status,
    )  # fmt: skip


def test_describe_names_metric_subject_value_and_limit() -> None:
    assert describe(evaluate(MetricSample("kafka.consumer_lag", "g/t/0", 70000.0), 50000)) == (
        "kafka.consumer_lag g/t/0 = 70000 (> threshold 50000)"
    )
    assert describe(evaluate(MetricSample("connect.task_state", "c/0", 0.0, status="FAILED"), 1)) == (
        "connect.task_state c/0 = 0 [FAILED] (< threshold 1)"
    )
    assert describe(MetricSample("connect.connector_state", "c", 0.0, status="UNREACHABLE", breached=True)) == (
        "connect.connector_state c: UNREACHABLE"
    )


def test_verdict_lists_breaches_and_collectors_that_recorded_nothing() -> None:
    assert verdict({"kafka_lag": {"breaches": []}, "connector_state": {"breaches": []}}) == []
    assert verdict({"kafka_lag": {"breaches": ["a", "b"]}, "warehouse": None, "connector_state": {"breaches": []}}) == [
        "a", "b", "collector warehouse recorded nothing (the task failed; see its log)",
    ]  # fmt: skip
