"""cdc_capture_setup under `airflow dags test`: a second run changes nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from banking_cdc.hooks.kafka_connect import KafkaConnectHook
from tests.dags.dag_test_runner import run_dag_test

pytestmark = pytest.mark.integration

CONNECTOR = "banking-source"


def _config_topic_end() -> int:
    extra = json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]
    consumer = Consumer({**extra, "group.id": "test-config-topic-probe"})
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition("_connect-configs", 0), timeout=10)
    finally:
        consumer.close()
    return int(high)


def _snapshot() -> dict[str, Any]:
    hook = KafkaConnectHook()
    status = hook.get_connector_status(CONNECTOR)
    return {
        "config": hook.get_connector_config(CONNECTOR),
        "connector": status["connector"],
        "tasks": status["tasks"],
        "config_topic_end": _config_topic_end(),
    }


def test_second_run_leaves_connector_config_and_tasks_unchanged(airflow_db: Path) -> None:
    run_dag_test("cdc_capture_setup")
    first = _snapshot()
    assert first["connector"]["state"] == "RUNNING"
    assert [task["state"] for task in first["tasks"]] == ["RUNNING"]

    output = run_dag_test("cdc_capture_setup")
    second = _snapshot()
    assert second == first  # same config, same task (worker, state), no new record in Connect's config topic
    assert "Connector banking-source already has the desired configuration" in output
    assert "Connector banking-source unchanged" in output
    for table in ("customers", "accounts", "transactions"):
        assert f"Topic bank.public.{table} exists" in output
    assert "Created topic" not in output
