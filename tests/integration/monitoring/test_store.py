"""The metrics table on the native stack's PostgreSQL (database banking_ops, connection bcdc_metrics)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from banking_cdc.monitoring.store import MetricSample, MetricsStore


@pytest.fixture
def store(stack: dict[str, str]) -> MetricsStore:
    store = MetricsStore()
    store.ensure_schema()
    store.ensure_schema()  # idempotent
    return store


def test_record_and_read_back_in_time_order(store: MetricsStore) -> None:
    metric = f"test.metric_{uuid.uuid4().hex[:8]}"
    t0 = datetime.now(UTC) - timedelta(minutes=2)
    store.record([MetricSample(metric, "b", 2.0, status="RUNNING")], observed_at=t0 + timedelta(minutes=1))
    store.record([MetricSample(metric, "a", 1.0, threshold=0.5, breached=True)], observed_at=t0, run_id="run-1")
    rows = store.read([metric])
    assert [(r.subject, r.value, r.status, r.breached, r.run_id) for r in rows] == [
        ("a", 1.0, None, True, "run-1"),
        ("b", 2.0, "RUNNING", False, None),
    ]
    assert rows[0].observed_at == t0
    assert [r.subject for r in store.read([metric], subject="b")] == ["b"]
    assert [r.subject for r in store.read([metric], since=t0 + timedelta(seconds=30))] == ["b"]


def test_recording_the_same_observation_again_replaces_it(store: MetricsStore) -> None:
    metric = f"test.metric_{uuid.uuid4().hex[:8]}"
    when = datetime.now(UTC)
    store.record([MetricSample(metric, "s", 1.0)], observed_at=when)
    store.record([MetricSample(metric, "s", 3.0, breached=True)], observed_at=when)  # a retried task
    rows = store.read([metric])
    assert [(r.value, r.breached) for r in rows] == [(3.0, True)]


def test_prune_deletes_only_old_observations(store: MetricsStore) -> None:
    metric = f"test.metric_{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    store.record([MetricSample(metric, "old", 1.0)], observed_at=now - timedelta(days=40))
    store.record([MetricSample(metric, "new", 1.0)], observed_at=now)
    assert store.prune(timedelta(days=30)) >= 1
    assert [r.subject for r in store.read([metric])] == ["new"]


def test_record_on_a_fresh_database_creates_the_table(stack: dict[str, str]) -> None:
    """The dbt test listener may write before cdc_monitoring ever ran: the first write creates the table."""
    store = MetricsStore()
    store.ensure_schema()
    conn = store._connect()
    try:
        with conn.cursor() as cur:
            cur.execute("DROP TABLE bcdc_ops.pipeline_metrics")
        conn.commit()
    finally:
        conn.close()
    metric = f"test.metric_{uuid.uuid4().hex[:8]}"
    written = store.record(MetricSample(metric, f"s{n}", float(n)) for n in (1, 2))  # a generator: read once
    assert written == 2
    assert [(r.subject, r.value) for r in store.read([metric])] == [("s1", 1.0), ("s2", 2.0)]
