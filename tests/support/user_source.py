"""A source schema of a test's own, with a capture configuration naming it: tables a bank created, not us.

:class:`UserSource` creates a schema in the source database and writes a capture configuration for it, with a
connector, slot, publication, signal table and topic prefix of its own (the packaged file's connector settings,
renamed), so a test never touches the shared banking connector. :meth:`UserSource.setup` runs the
``cdc_capture_setup`` DAG's tasks in order on it; :meth:`UserSource.close` removes everything it made.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from airflow.providers.postgres.hooks.postgres import PostgresHook
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.hooks.kafka_connect import KafkaConnectHook
from banking_cdc.operators.capture import (
    ApplySourceSchemaOperator,
    EnsureDebeziumConnectorOperator,
    EnsureKafkaTopicsOperator,
)
from banking_cdc.operators.initial_load import InitialLoadOperator
from banking_cdc.operators.resync import DebeziumSnapshotCompleteSensor

#: a bank's own table, unlike ours: composite key, numeric(20,6), an int array, jsonb, nullable columns
LEDGER_DDL = """
CREATE TABLE {schema}.ledger_entries (
    book_id     integer        NOT NULL,
    entry_no    bigint         NOT NULL,
    amount      numeric(20,6)  NOT NULL,
    booked_at   timestamptz    NOT NULL,
    value_date  date,
    memo        text,
    entry_ref   uuid           NOT NULL,
    attributes  jsonb,
    reconciled  boolean        NOT NULL DEFAULT false,
    tags        integer[],
    PRIMARY KEY (book_id, entry_no)
);
ALTER TABLE {schema}.ledger_entries REPLICA IDENTITY FULL;
INSERT INTO {schema}.ledger_entries
SELECT 1 + i % 3, i, (i * 1000.123457)::numeric(20,6), timestamptz '2026-01-01 00:00+00' + i * interval '1 hour',
       CASE WHEN i % 5 = 0 THEN NULL ELSE date '2026-01-01' + i END,
       CASE WHEN i % 2 = 0 THEN 'تحويل 💸 #' || i ELSE NULL END, md5(i::text)::uuid,
       jsonb_build_object('n', i, 'tier', 'gold'), i % 2 = 0, ARRAY[i, i + 1]
FROM generate_series(1, 40) AS i;
"""
RATES_DDL = """
CREATE TABLE {schema}.fx_rates (
    pair    text PRIMARY KEY,
    rate    numeric(18,8) NOT NULL
);
ALTER TABLE {schema}.fx_rates REPLICA IDENTITY FULL;
INSERT INTO {schema}.fx_rates SELECT 'EUR' || i, 1 + i / 1000.0 FROM generate_series(1, 25) AS i;
"""


class UserSource:
    """A schema of the test's own, a capture configuration for it, and what must be removed afterwards."""

    def __init__(self, tmp_path: Path) -> None:
        self.name = f"anytab_{uuid.uuid4().hex[:8]}"
        self.path = tmp_path / "capture.yaml"
        self.hook = PostgresHook(postgres_conn_id="postgres_source")
        self.hook.run(f"CREATE SCHEMA {self.name}", autocommit=True)

    def sql(self, statement: str, parameters: Any = None) -> None:
        self.hook.run(statement.format(schema=self.name), autocommit=True, parameters=parameters)

    def configure(self, tables: list[str], **source: Any) -> CaptureConfig:
        """Write the capture configuration for ``tables`` (the packaged file's connector, renamed)."""
        packaged = yaml.safe_load(files("banking_cdc").joinpath("config/capture.yaml").read_text(encoding="utf-8"))
        config = packaged["connector"]["config"]
        config["slot.name"] = f"{self.name}_slot"
        config["heartbeat.action.query"] = (
            f"INSERT INTO {self.name}.debezium_heartbeat (id, beat_at) VALUES (1, now()) "
            "ON CONFLICT (id) DO UPDATE SET beat_at = EXCLUDED.beat_at"
        )
        config["notification.sink.topic.name"] = f"{self.name}.notifications"
        data = {
            "source": {
                "schema": self.name, "tables": tables, "publication": f"{self.name}_pub",
                "heartbeat_table": "debezium_heartbeat", "signal_table": "debezium_signal",
                "create_demo_tables": False, **source,
            },
            "topics": {"prefix": self.name, "replication_factor": 1, "partitions": dict.fromkeys(tables, 2),
                       "config": packaged["topics"]["config"]},
            "connector": {"name": self.name.replace("_", "-"), "config": config},
        }  # fmt: skip
        self.path.write_text(yaml.safe_dump(data))
        return CaptureConfig.load(self.path)

    def setup(self) -> dict[str, Any]:
        """The cdc_capture_setup DAG's tasks, in its order, on this configuration (the sensor poked to the end)."""
        path = str(self.path)
        result: dict[str, Any] = {
            "schema": ApplySourceSchemaOperator(task_id="schema", capture_config_path=path).execute({}),  # type: ignore[arg-type]
            "topics": EnsureKafkaTopicsOperator(task_id="topics", capture_config_path=path).execute({}),  # type: ignore[arg-type]
        }
        result["connector"] = EnsureDebeziumConnectorOperator(
            task_id="connector", capture_config_path=path, wait_timeout=120
        ).execute({})  # type: ignore[arg-type]
        context = {"dag_run": type("Run", (), {"run_id": uuid.uuid4().hex, "dag_id": "cdc_capture_setup"})()}
        signal = InitialLoadOperator(
            task_id="initial_load", connector=result["connector"], capture_config_path=path
        ).execute(context)  # type: ignore[arg-type]
        result["initial_load"] = signal
        sensor = DebeziumSnapshotCompleteSensor(task_id="wait", signal=signal, capture_config_path=path)
        deadline = time.monotonic() + 180
        while not (done := sensor.poke({})):  # type: ignore[arg-type]
            assert time.monotonic() < deadline, f"initial load {signal['signal_id']} did not complete"
            time.sleep(2)
        result["loaded"] = done.xcom_value  # type: ignore[union-attr]
        return result

    def close(self) -> None:
        connector = self.name.replace("_", "-")
        hook = KafkaConnectHook()
        if hook.get_connector_config(connector) is not None:
            hook.delete_connector(connector)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            row = self.hook.get_first(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", parameters=(f"{self.name}_slot",)
            )
            if row is None:
                break
            if row[0] is None:
                self.hook.run("SELECT pg_drop_replication_slot(%s)", parameters=(f"{self.name}_slot",), autocommit=True)
                break
            time.sleep(1)
        self.hook.run(f"DROP PUBLICATION IF EXISTS {self.name}_pub", autocommit=True)
        self.hook.run(f"DROP SCHEMA IF EXISTS {self.name} CASCADE", autocommit=True)
        admin = AdminClient({"bootstrap.servers": _kafka()["bootstrap.servers"]})
        topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(f"{self.name}.")]
        if topics:
            for future in admin.delete_topics(topics, operation_timeout=30).values():
                future.result()


def _kafka() -> dict[str, Any]:
    return dict(json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"])


def wait_for_value(topic: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 120.0) -> None:
    """Read ``topic`` from its start until a value satisfies ``predicate``; fail after ``timeout`` seconds."""
    consumer = Consumer({**_kafka(), "group.id": f"test-{uuid.uuid4().hex}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})  # fmt: skip
    consumer.subscribe([topic])
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for message in consumer.consume(num_messages=500, timeout=1.0):
                if message.error() is None and message.value() is not None and predicate(json.loads(message.value())):
                    return
    finally:
        consumer.close()
    raise AssertionError(f"{topic}: no matching event within {timeout:.0f} s")


def topic_values(topic: str, minimum: int, timeout: float = 120.0) -> list[dict[str, Any]]:
    """Every non-tombstone value of ``topic`` from its start, once at least ``minimum`` arrived (or the timeout)."""
    consumer = Consumer({**_kafka(), "group.id": f"test-{uuid.uuid4().hex}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})  # fmt: skip
    consumer.subscribe([topic])
    values: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < minimum and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=500, timeout=1.0):
                if message.error() is None and message.value() is not None:
                    values.append(json.loads(message.value()))
    finally:
        consumer.close()
    return values


def topic_end(topic: str) -> int:
    """The sum of the high watermarks of ``topic``'s partitions."""
    consumer = Consumer({**_kafka(), "group.id": "test-topic-end"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)
    finally:
        consumer.close()
