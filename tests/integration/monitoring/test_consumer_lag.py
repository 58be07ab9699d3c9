"""A consumer group that makes no progress: its lag per partition is recorded exactly, and grows as messages arrive."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import pytest
from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from banking_cdc.monitoring.collectors import collect_consumer_lag
from banking_cdc.monitoring.config import MonitoringConfig, Threshold
from banking_cdc.monitoring.observe import observe
from banking_cdc.monitoring.store import MetricsStore
from tests.integration.monitoring.conftest import new_run_id, recorded

pytestmark = pytest.mark.integration

PARTITIONS = 3
CONFIG = MonitoringConfig(thresholds={"kafka.consumer_lag": Threshold(default=6)})


def bootstrap() -> str:
    return str(json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]["bootstrap.servers"])


@pytest.fixture
def topic(stack: dict[str, str]) -> Iterator[str]:
    name = f"monitoring-test.{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClientHook(kafka_config_id="kafka_default").get_conn
    admin.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=1)])[name].result()
    yield name
    admin.delete_topics([name])[name].result()


def produce(topic: str, per_partition: dict[int, int]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap()})
    for partition, count in per_partition.items():
        for i in range(count):
            producer.produce(topic, value=f"m{i}".encode(), partition=partition)
    assert producer.flush(30) == 0


def commit(topic: str, group: str, offsets: dict[int, int]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap(), "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


def observe_lag(store: MetricsStore, group: str, topic: str) -> dict[str, tuple[float | None, bool]]:
    run_id = new_run_id()
    samples = collect_consumer_lag([group], [topic], timeout=10)
    observe(samples, CONFIG, store=store, collector="kafka_lag", run_id=run_id)
    return {s: (row.value, row.breached) for s, row in recorded(store, run_id, "kafka.consumer_lag").items()}


def test_lag_of_a_paused_group_is_exact_per_partition_and_grows(store: MetricsStore, topic: str) -> None:
    group = f"monitoring-test-{uuid.uuid4().hex[:8]}"
    subject = f"{group}/{topic}"
    # nothing committed yet: the lag counts from the low watermark (0)
    produce(topic, {0: 5, 1: 3})
    assert observe_lag(store, group, topic) == {
        f"{subject}/0": (5.0, False), f"{subject}/1": (3.0, False), f"{subject}/2": (0.0, False),
    }  # fmt: skip

    # the group read some of it, then stopped (a paused stage): lag = high watermark - committed offset
    commit(topic, group, {0: 2, 1: 3})
    assert observe_lag(store, group, topic) == {
        f"{subject}/0": (3.0, False), f"{subject}/1": (0.0, False), f"{subject}/2": (0.0, False),
    }  # fmt: skip

    # more messages, no progress: the lag grows by exactly what arrived; above the threshold (6) it breaches
    produce(topic, {0: 4, 2: 7})
    assert observe_lag(store, group, topic) == {
        f"{subject}/0": (7.0, True), f"{subject}/1": (0.0, False), f"{subject}/2": (7.0, True),
    }  # fmt: skip


def test_missing_topic_and_unreachable_broker_are_recorded(
    store: MetricsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = f"monitoring-test-{uuid.uuid4().hex[:8]}"
    missing = f"monitoring-test.absent-{uuid.uuid4().hex[:8]}"
    run_id = new_run_id()
    observe(collect_consumer_lag([group], [missing], timeout=10), CONFIG, store=store, collector="t", run_id=run_id)
    row = recorded(store, run_id, "kafka.consumer_lag")[f"{group}/{missing}"]
    assert (row.value, row.status, row.breached) == (None, "MISSING", True)

    closed = {"conn_type": "kafka", "extra": {"bootstrap.servers": "127.0.0.1:9", "group.id": "x"}}
    monkeypatch.setenv("AIRFLOW_CONN_KAFKA_CLOSED", json.dumps(closed))
    run_id = new_run_id()
    samples = collect_consumer_lag([group], ["bank.public.accounts"], kafka_config_id="kafka_closed", timeout=2)
    observe(samples, CONFIG, store=store, collector="t", run_id=run_id)
    row = recorded(store, run_id, "kafka.consumer_lag")[f"{group}/bank.public.accounts"]
    assert (row.value, row.status, row.breached) == (None, "UNREACHABLE", True)
