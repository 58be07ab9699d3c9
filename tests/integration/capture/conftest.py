"""Helpers for reading Debezium change events back from Kafka."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from airflow.providers.postgres.hooks.postgres import PostgresHook
from confluent_kafka import Consumer

Event = tuple[dict[str, Any], dict[str, Any] | None]  # (key, value); value None = tombstone


@pytest.fixture
def source_conn(capture_ready: dict[str, object]) -> Iterator[Any]:
    conn = PostgresHook(postgres_conn_id="postgres_source").get_conn()
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def read_events() -> Callable[[str, dict[str, Any], int], list[Event]]:
    """Read every event of one row key from a topic, from the beginning, until ``count`` arrived."""

    def read(topic: str, key: dict[str, Any], count: int, timeout: float = 90.0) -> list[Event]:
        extra = json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]
        consumer = Consumer(
            {
                **extra,
                "group.id": f"test-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([topic])
        events: list[Event] = []
        deadline = time.monotonic() + timeout
        try:
            while len(events) < count and time.monotonic() < deadline:
                for message in consumer.consume(num_messages=500, timeout=1.0):
                    assert message.error() is None, message.error()
                    if message.key() is None or json.loads(message.key()) != key:
                        continue
                    value = json.loads(message.value()) if message.value() is not None else None
                    events.append((json.loads(message.key()), value))
        finally:
            consumer.close()
        assert len(events) >= count, f"{topic} key {key}: {len(events)} of {count} events within {timeout:.0f}s"
        return events

    return read
