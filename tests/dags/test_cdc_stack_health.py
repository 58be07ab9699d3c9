"""Run the cdc_stack_health DAG with `airflow dags test` against the real services."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.dags.dag_test_runner import run_dag_test

pytestmark = pytest.mark.integration

TASKS = ("postgres", "kafka", "kafka_connect", "object_store")


def test_cdc_stack_health_dag_succeeds_against_the_native_stack(airflow_db: Path) -> None:
    output = run_dag_test("cdc_stack_health", timeout=300)
    for task in TASKS:
        assert re.search(rf"end task task_id={task}\b", output), f"task {task} did not run"
    # each check made a real round trip and logged what it found
    assert "PostgreSQL is healthy: {'server_version': '15." in output
    assert "'wal_level': 'logical'" in output
    assert "Kafka is healthy: {'cluster_id':" in output
    assert "io.debezium.connector.postgresql.PostgresConnector': '3.6.1.Final'" in output
    assert "Object store is healthy: {'bucket': 'banking-landing'" in output
