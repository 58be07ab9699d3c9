"""Shared helpers of the staging tests: a scratch topic, Debezium-shaped events, landed files read back."""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pyarrow.parquet as pq
import pytest
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from banking_cdc.settings import DEFAULT_LANDING_BUCKET
from banking_cdc.transfers.kafka_to_s3 import KafkaToS3Operator

BUCKET = os.environ.get("BCDC_LANDING_BUCKET", DEFAULT_LANDING_BUCKET)
PARTITIONS = 3


def envelope(i: int, op: str = "c") -> bytes:
    row = {"transaction_id": i, "amount": f"{i}.10", "status": "posted"}
    return json.dumps(
        {
            "before": row if op in ("u", "d") else None,
            "after": None if op == "d" else row,
            "source": {"version": "3.6.1.Final", "lsn": 1000 + i, "txId": 700 + i, "ts_ms": 1_700_000_000_000 + i,
                       "snapshot": "false", "db": "banking", "schema": "public", "table": "transactions"},
            "op": op,
            "ts_ms": 1_700_000_000_500 + i,
        }
    ).encode()  # fmt: skip


POISON = [
    (b"not json at all", "not JSON"),
    (json.dumps({"hello": "world"}).encode(), "not a Debezium envelope"),
    (json.dumps({"op": "x", "source": {}, "after": {"a": 1}}).encode(), "unknown op"),
    (json.dumps({"op": "c", "source": {}, "before": None, "after": None}).encode(), "op 'c' without an after image"),
    (b"{" + b'"pad":"' + b"x" * 3000 + b'"}', "oversized"),
]


@pytest.fixture
def topic(stack: dict[str, str]) -> Iterator[str]:
    name = f"stage-test.{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClientHook(kafka_config_id="kafka_default").get_conn
    admin.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=1)])[name].result()
    yield name
    admin.delete_topics([name])[name].result()
    s3 = S3Hook(aws_conn_id="aws_default")
    for prefix in ("raw", "quarantine"):
        keys = s3.list_keys(bucket_name=BUCKET, prefix=f"{prefix}/{name}/")
        if keys:
            s3.delete_objects(bucket=BUCKET, keys=keys)


def produce(topic: str, messages: list[tuple[int, bytes | None]]) -> None:
    extra = json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]
    producer = Producer({"bootstrap.servers": extra["bootstrap.servers"]})
    for key, value in messages:
        producer.produce(topic, key=json.dumps({"transaction_id": key}).encode(), value=value)
    assert producer.flush(30) == 0


def operator(topic: str, group: str, **kwargs: Any) -> KafkaToS3Operator:
    return KafkaToS3Operator(
        task_id="stage", topics=[topic], group_id=group, bucket_name=BUCKET, deferrable=False,
        consume_timeout=20, max_message_bytes=2048, **kwargs,
    )  # fmt: skip


def read_objects(prefix: str) -> dict[str, bytes]:
    s3 = S3Hook(aws_conn_id="aws_default")
    keys = s3.list_keys(bucket_name=BUCKET, prefix=prefix)
    return {key: s3.get_key(key, bucket_name=BUCKET).get()["Body"].read() for key in keys}


def rows_of(objects: dict[str, bytes]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for body in objects.values():
        rows.extend(pq.read_table(io.BytesIO(body)).to_pylist())
    return rows


def committed(topic: str, group: str) -> list[int]:
    extra = json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]
    consumer = Consumer({"bootstrap.servers": extra["bootstrap.servers"], "group.id": group})
    try:
        parts = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
        return [tp.offset for tp in parts]
    finally:
        consumer.close()


def rewind(topic: str, group: str, offsets: list[int]) -> None:
    """Put the group's committed offsets back, as if a crash had happened after upload, before commit."""
    extra = json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]
    consumer = Consumer({"bootstrap.servers": extra["bootstrap.servers"], "group.id": group})
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in enumerate(offsets)], asynchronous=False)
    finally:
        consumer.close()
