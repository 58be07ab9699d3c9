"""KafkaBacklogTrigger against the native stack's Kafka: backlog from committed offsets and watermarks."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook
from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook
from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook
from confluent_kafka import OFFSET_INVALID, Consumer, TopicPartition
from confluent_kafka.admin import NewTopic

from banking_cdc.triggers.kafka import KafkaBacklogTrigger

pytestmark = pytest.mark.integration

PARTITIONS = 3
MESSAGES = 30


def first_payload(trigger: KafkaBacklogTrigger, timeout: float = 30.0) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        events = trigger.run()
        try:
            event = await asyncio.wait_for(anext(events), timeout)
        finally:
            await events.aclose()
            await trigger.cleanup()
        return event.payload

    return asyncio.run(main())


def group_consumer(group: str) -> Consumer:
    """A plain consumer of ``group`` with the connection's client settings (never subscribed)."""
    extra = KafkaConsumerHook.get_connection("kafka_default").extra_dejson
    return Consumer({**extra, "group.id": group, "enable.auto.commit": False})


@pytest.fixture
def scratch_topic(stack: dict[str, str]) -> Iterator[str]:
    """A 3-partition topic holding 10 messages in each partition; deleted afterwards."""
    name = f"bcdc-test.backlog.{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClientHook(kafka_config_id="kafka_default").get_conn
    for future in admin.create_topics(
        [NewTopic(name, num_partitions=PARTITIONS, replication_factor=1)], request_timeout=30
    ).values():
        future.result()
    try:
        deadline = time.monotonic() + 30
        while True:
            topic = admin.list_topics(timeout=10).topics.get(name)
            if topic is not None and len(topic.partitions) == PARTITIONS:
                if all(p.leader >= 0 for p in topic.partitions.values()):
                    break
            assert time.monotonic() < deadline, f"topic {name} has no leader for all partitions after 30 s"
            time.sleep(0.2)
        producer = KafkaProducerHook(kafka_config_id="kafka_default").get_producer()
        for i in range(MESSAGES):
            producer.produce(name, key=f"k{i}".encode(), value=b"{}", partition=i % PARTITIONS)
        assert producer.flush(30) == 0
        yield name
    finally:
        for future in admin.delete_topics([name], operation_timeout=30).values():
            future.result()


def test_trigger_fires_with_the_whole_backlog_of_a_new_group_and_commits_nothing(scratch_topic: str) -> None:
    group = f"bcdc-test-{uuid.uuid4().hex[:8]}"
    trigger = KafkaBacklogTrigger(topics=[scratch_topic], group_id=group, min_messages=MESSAGES, poll_interval=0.2)

    payload = first_payload(trigger)

    assert payload["status"] == "ready"
    assert payload["reason"] == "min_messages"
    assert payload["pending"] == MESSAGES
    assert payload["offsets"] == {scratch_topic: {str(p): [0, MESSAGES // PARTITIONS] for p in range(PARTITIONS)}}
    assert sum(high - start for start, high in payload["offsets"][scratch_topic].values()) == MESSAGES

    # the trigger only read metadata: the group still has no committed offset
    consumer = group_consumer(group)
    try:
        committed = consumer.committed([TopicPartition(scratch_topic, p) for p in range(PARTITIONS)], timeout=10)
    finally:
        consumer.close()
    assert [tp.offset for tp in committed] == [OFFSET_INVALID] * PARTITIONS


def test_committed_offsets_leave_only_the_remaining_backlog(scratch_topic: str) -> None:
    group = f"bcdc-test-{uuid.uuid4().hex[:8]}"
    consumer = group_consumer(group)
    try:
        consumer.commit(
            offsets=[TopicPartition(scratch_topic, 0, 10), TopicPartition(scratch_topic, 1, 4)], asynchronous=False
        )
    finally:
        consumer.close()
    remaining = 0 + 6 + 10

    payload = first_payload(
        KafkaBacklogTrigger(topics=[scratch_topic], group_id=group, min_messages=remaining, poll_interval=0.2)
    )
    assert payload == {
        "status": "ready",
        "offsets": {scratch_topic: {"0": [10, 10], "1": [4, 10], "2": [0, 10]}},
        "pending": remaining,
        "reason": "min_messages",
    }

    # below min_messages, the backlog still leaves once it has been seen for max_age_seconds
    started = time.monotonic()
    payload = first_payload(
        KafkaBacklogTrigger(
            topics=[scratch_topic], group_id=group, min_messages=1_000_000, max_age_seconds=1, poll_interval=0.2
        )
    )
    assert time.monotonic() - started >= 1.0
    assert payload["status"] == "ready"
    assert payload["reason"] == "max_age"
    assert payload["pending"] == remaining


def test_a_missing_topic_gives_an_error_event_naming_it(scratch_topic: str) -> None:
    missing = f"bcdc-test.missing.{uuid.uuid4().hex[:10]}"
    group = f"bcdc-test-{uuid.uuid4().hex[:8]}"

    payload = first_payload(KafkaBacklogTrigger(topics=[scratch_topic, missing], group_id=group, poll_interval=0.2))

    assert payload["status"] == "error"
    assert f"topic '{missing}' does not exist" in payload["message"]
    assert group in payload["message"]
    bootstrap = KafkaConsumerHook.get_connection("kafka_default").extra_dejson["bootstrap.servers"]
    assert bootstrap in payload["message"]
    # looking for the topic did not create it
    admin = KafkaAdminClientHook(kafka_config_id="kafka_default").get_conn
    assert missing not in admin.list_topics(timeout=10).topics
