"""Kafka of the native stack: manual offset commits and resume from the committed offset."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook
from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook
from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook
from confluent_kafka import Consumer, TopicPartition

pytestmark = pytest.mark.integration


@pytest.fixture
def topic(stack: dict[str, str]) -> Iterator[str]:
    name = f"smoke.{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClientHook(kafka_config_id="kafka_default")
    admin.create_topic(topics=[(name, 1, 1)])
    try:
        yield name
    finally:
        admin.delete_topic(topics=[name])


def test_broker_metadata_lists_the_broker(stack: dict[str, str]) -> None:
    metadata = KafkaAdminClientHook(kafka_config_id="kafka_default").get_conn.list_topics(timeout=10)
    assert len(metadata.brokers) == 1
    assert metadata.cluster_id


def test_consumer_group_commits_manually_and_resumes_after_committed_offset(topic: str) -> None:
    producer = KafkaProducerHook(kafka_config_id="kafka_default").get_producer()
    for i in range(10):
        producer.produce(topic, key=f"k{i}".encode(), value=f"event-{i}".encode())
    assert producer.flush(10) == 0

    group = f"smoke-group-{uuid.uuid4().hex[:8]}"
    overrides = {"group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"}

    def read(n: int) -> tuple[list[tuple[int, bytes]], Consumer]:
        # the connection's client settings, with a fresh group for this test
        extra = KafkaConsumerHook.get_connection("kafka_default").extra_dejson
        consumer = Consumer({**extra, **overrides})
        consumer.subscribe([topic])
        got: list[tuple[int, bytes]] = []
        while len(got) < n:
            batch = consumer.consume(num_messages=n - len(got), timeout=10)
            assert batch, f"no message from {topic} within 10 s (got {len(got)} of {n})"
            for message in batch:
                assert message.error() is None, message.error()
                got.append((message.offset(), message.value()))
        return got, consumer

    # the connection itself must not auto-commit: the pipeline commits only after data is safe
    assert KafkaConsumerHook.get_connection("kafka_default").extra_dejson["enable.auto.commit"] is False

    first, consumer = read(4)
    assert [offset for offset, _ in first] == [0, 1, 2, 3]
    consumer.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
    consumer.close()

    # messages consumed but never committed are delivered again to the next member of the group
    second, consumer = read(6)
    committed = consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    consumer.close()
    assert committed == 4
    assert [offset for offset, _ in second] == [4, 5, 6, 7, 8, 9]
    assert [value for _, value in second] == [f"event-{i}".encode() for i in range(4, 10)]
