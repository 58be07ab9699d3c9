"""Helpers of the monitoring tests: the metrics table, a run id per observation, the Debezium connector."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.hooks.kafka_connect import KafkaConnectHook
from banking_cdc.monitoring.store import MetricRow, MetricsStore

CAPTURE = CaptureConfig.load()
CONNECTOR = CAPTURE.connector.name
SLOT = CAPTURE.connector.config["slot.name"]


@pytest.fixture
def store(stack: dict[str, str]) -> MetricsStore:
    store = MetricsStore()
    store.ensure_schema()
    return store


def new_run_id() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def recorded(store: MetricsStore, run_id: str, metric: str) -> dict[str, MetricRow]:
    """The rows of ``metric`` stored by the observation ``run_id``, by subject."""
    return {row.subject: row for row in store.read([metric]) if row.run_id == run_id}


def wait_until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def connector_state() -> str:
    return str(KafkaConnectHook().get_connector_status(CONNECTOR)["connector"]["state"])


def settled(expected: str) -> bool:
    """The connector is in ``expected`` and so are its tasks (a STOPPED connector has none)."""
    status = KafkaConnectHook().get_connector_status(CONNECTOR)
    tasks = [task["state"] for task in status.get("tasks", [])]
    if status["connector"]["state"] != expected:
        return False
    return tasks == [] if expected == "STOPPED" else bool(tasks) and all(state == expected for state in tasks)


def set_connector(action: str, expected: str) -> None:
    """``PUT /connectors/<name>/<action>`` (stop, pause, resume); wait until it and its tasks are ``expected``."""
    hook = KafkaConnectHook()
    hook._request("PUT", f"/connectors/{CONNECTOR}/{action}")
    wait_until(lambda: settled(expected), f"connector {CONNECTOR} and its tasks {expected}")


@pytest.fixture
def connector(capture_ready: dict[str, object]) -> Iterator[str]:
    """The Debezium connector, RUNNING again (with its tasks) when the test ends, whatever it did."""
    yield CONNECTOR
    if connector_state() != "RUNNING":
        set_connector("resume", "RUNNING")
    KafkaConnectHook().wait_for_connector_running(CONNECTOR, expected_tasks=1, timeout=120)
