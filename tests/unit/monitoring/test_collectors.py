"""Collector arithmetic with fake clients: lag per partition, connector states, rows/s, freshness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from banking_cdc.monitoring.collectors import (
    collect_bronze_throughput,
    collect_gold_freshness,
    connector_samples,
    consumer_lag_samples,
)
from banking_cdc.monitoring.metrics import GOLD_MODELS


class FakeConsumer:
    """Cluster metadata, committed offsets and watermarks of one topic."""

    def __init__(self, committed: dict[int, int], watermarks: dict[int, tuple[int, int]], fail: bool = False) -> None:
        self._committed, self._watermarks, self._fail = committed, watermarks, fail

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        if self._fail:
            raise KafkaException("broker transport failure")
        partitions = {p: object() for p in self._watermarks}
        return SimpleNamespace(topics={"t": SimpleNamespace(error=None, partitions=partitions)})

    def committed(self, partitions: list[TopicPartition], timeout: float = -1) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self._committed.get(tp.partition, -1001)) for tp in partitions]

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float = -1, cached: bool = False) -> Any:
        return self._watermarks[partition.partition]


def test_lag_is_high_watermark_minus_committed_or_low_watermark() -> None:
    consumer = FakeConsumer(
        committed={0: 40, 2: 3},  # partition 1: no commit; partition 2: committed below retention's low watermark
        watermarks={0: (0, 100), 1: (25, 30), 2: (10, 12), 3: (7, 7)},
    )
    samples = consumer_lag_samples(consumer, "g", ["t"], timeout=1)
    assert {s.subject: s.value for s in samples} == {"g/t/0": 60.0, "g/t/1": 5.0, "g/t/2": 2.0, "g/t/3": 0.0}
    assert {s.metric for s in samples} == {"kafka.consumer_lag"}


def test_lag_of_an_unreachable_broker_and_a_missing_topic() -> None:
    (sample,) = consumer_lag_samples(FakeConsumer({}, {}, fail=True), "g", ["t"], timeout=1)
    assert (sample.subject, sample.value, sample.status) == ("g/t", None, "UNREACHABLE")
    (sample,) = consumer_lag_samples(FakeConsumer({}, {0: (0, 1)}), "g", ["other"], timeout=1)
    assert (sample.subject, sample.value, sample.status) == ("g/other", None, "MISSING")


def test_connector_samples_encode_connector_and_tasks() -> None:
    status = {
        "connector": {"state": "RUNNING"},
        "tasks": [{"id": 1, "state": "FAILED", "trace": "boom"}, {"id": 0, "state": "RUNNING"}],
    }
    assert [(s.metric, s.subject, s.value, s.status) for s in connector_samples("src", status)] == [
        ("connect.connector_state", "src", 1.0, "RUNNING"),
        ("connect.task_state", "src/0", 1.0, "RUNNING"),
        ("connect.task_state", "src/1", 0.0, "FAILED"),
    ]
    assert [(s.value, s.status) for s in connector_samples("src", None)] == [(0.0, "MISSING")]
    stopped = connector_samples("src", {"connector": {"state": "STOPPED"}, "tasks": []})
    assert [(s.metric, s.value, s.status) for s in stopped] == [("connect.connector_state", 0.0, "STOPPED")]


def test_throughput_is_rows_since_the_previous_observation_per_second() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    calls: list[list[Any]] = []

    def query(sql: str, params: Any) -> list[tuple[Any, ...]]:
        calls.append(list(params))
        return [("accounts", 120), ("transactions", 900)]

    tables = {"accounts": "bank.public.accounts", "transactions": "bank.public.transactions", "customers": "c"}
    previous = {
        "bank.public.accounts": now - timedelta(seconds=60),
        "bank.public.transactions": now - timedelta(days=1),
    }
    samples = collect_bronze_throughput(tables, query, previous, now=now, max_window=timedelta(seconds=300))
    assert {s.subject: s.value for s in samples} == {
        "bank.public.accounts": 2.0,  # 120 rows in the 60 s since the previous observation
        "bank.public.transactions": 3.0,  # a gap longer than the window: 900 rows / 300 s
        "c": 0.0,
    }
    assert calls[0] == [(now - timedelta(seconds=60)).timestamp(), now.timestamp()]
    assert calls[1] == [(now - timedelta(seconds=300)).timestamp(), now.timestamp()]


def test_freshness_is_now_minus_newest_built_at() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    newest_ms = int((now - timedelta(seconds=90)).timestamp() * 1000)

    def query(sql: str, params: Any) -> list[tuple[Any, ...]]:
        if "dim_customers" in sql:
            raise RuntimeError("Catalog Error: Table with name dim_customers does not exist!")
        if "dim_accounts" in sql:
            return [(None,)]
        if "fct_daily_activity" in sql:
            raise RuntimeError("IO Error: could not read")
        return [(newest_ms,)]

    samples = {s.subject: (s.value, s.status) for s in collect_gold_freshness(query, now=now)}
    assert samples == {
        "dim_customers": (None, "MISSING"),
        "dim_accounts": (None, "EMPTY"),
        "fct_transactions": (90.0, None),
        "fct_daily_account_balances": (90.0, None),
        "fct_daily_activity": (None, "UNREACHABLE"),
    }
    assert set(samples) == set(GOLD_MODELS)


def test_snowflake_freshness_sql_reads_the_gold_schema() -> None:
    seen: list[str] = []

    def query(sql: str, params: Any) -> list[tuple[Any, ...]]:
        seen.append(sql)
        return [(0,)]

    collect_gold_freshness(query, backend="snowflake", models=["fct_transactions"])
    assert seen == ["SELECT DATE_PART(EPOCH_MILLISECOND, MAX(_BUILT_AT)) FROM GOLD.FCT_TRANSACTIONS"]
