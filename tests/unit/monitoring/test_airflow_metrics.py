"""Every observation is emitted as Airflow gauges: a tagged name and a per-subject name."""

from __future__ import annotations

from typing import Any

import pytest

from banking_cdc.monitoring.airflow_metrics import emit, gauge_names, subject_path
from banking_cdc.monitoring.store import MetricSample


class FakeStats:
    def __init__(self) -> None:
        self.gauges: list[tuple[str, float, dict[str, Any] | None]] = []

    def gauge(self, stat: str, value: float, *, tags: dict[str, Any] | None = None) -> None:
        self.gauges.append((stat, value, tags))


@pytest.mark.parametrize(
    ("subject", "path"),
    [
        ("bcdc-stage/bank.public.accounts/0", "bcdc-stage.bank__public__accounts.0"),
        ("banking-source/0", "banking-source.0"),
        ("bcdc_slot", "bcdc_slot"),
        ("odd name:1", "odd_name_1"),
    ],
)
def test_subject_path(subject: str, path: str) -> None:
    assert subject_path(subject) == path


def test_emit_sends_two_gauges_per_valued_sample_and_the_breach_count() -> None:
    stats = FakeStats()
    samples = [
        MetricSample("kafka.consumer_lag", "bcdc-stage/bank.public.accounts/0", 7.0, threshold=5, breached=True),
        MetricSample("connect.connector_state", "banking-source", 1.0, status="RUNNING"),
        MetricSample("postgres.slot_retained_wal_bytes", "bcdc_slot", None, status="UNREACHABLE", breached=True),
    ]
    sent = emit(samples, collector="kafka_lag", stats=stats)
    assert stats.gauges == [
        ("bcdc.kafka.consumer_lag", 7.0, {"subject": "bcdc-stage/bank.public.accounts/0"}),
        ("bcdc.kafka.consumer_lag.bcdc-stage.bank__public__accounts.0", 7.0, None),
        ("bcdc.connect.connector_state", 1.0, {"subject": "banking-source"}),
        ("bcdc.connect.connector_state.banking-source", 1.0, None),
        ("bcdc.monitoring.breaches", 2, {"collector": "kafka_lag"}),
        ("bcdc.monitoring.breaches.kafka_lag", 2, None),
    ]
    assert sent == 6


def test_names_pass_airflow_stat_name_validation() -> None:
    from airflow.sdk._shared.observability.metrics.validators import stat_name_default_handler, stat_name_otel_handler

    sample = MetricSample("kafka.consumer_lag", "bcdc-stage/bank.public.transactions/5", 1.0)
    for name in gauge_names(sample):
        assert stat_name_default_handler(f"airflow.{name}") == f"airflow.{name}"
        assert stat_name_otel_handler("airflow", name) == f"airflow.{name}"


def test_emit_uses_airflow_stats_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.observability import stats as airflow_stats

    fake = FakeStats()
    monkeypatch.setattr(airflow_stats, "gauge", fake.gauge)
    emit([MetricSample("postgres.slot_active", "bcdc_slot", 1.0)], collector="replication_slot")
    assert ("bcdc.postgres.slot_active.bcdc_slot", 1.0, None) in fake.gauges
