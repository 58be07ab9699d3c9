"""A stopped or paused Debezium connector is recorded with its state, value 0 and a breach; RUNNING again as 1."""

from __future__ import annotations

from typing import Any

import pytest

from banking_cdc.monitoring.store import MetricsStore
from banking_cdc.operators.monitoring import ConnectorStateOperator
from tests.integration.monitoring.conftest import new_run_id, recorded, set_connector

pytestmark = pytest.mark.integration


def observe_connect(store: MetricsStore) -> tuple[dict[str, Any], str]:
    run_id = new_run_id()
    result = ConnectorStateOperator(task_id="connector_state").execute(
        {"run_id": run_id}  # type: ignore[arg-type]
    )
    return result, run_id


def test_stopped_paused_and_resumed_connector_are_recorded(store: MetricsStore, connector: str) -> None:
    set_connector("stop", "STOPPED")
    result, run_id = observe_connect(store)
    row = recorded(store, run_id, "connect.connector_state")[connector]
    assert (row.value, row.status, row.threshold, row.breached) == (0.0, "STOPPED", 1.0, True)
    assert recorded(store, run_id, "connect.task_state") == {}, "a stopped connector has no tasks"
    assert result["breaches"] == [f"connect.connector_state {connector} = 0 [STOPPED] (< threshold 1)"]

    set_connector("resume", "RUNNING")
    set_connector("pause", "PAUSED")
    _, run_id = observe_connect(store)
    row = recorded(store, run_id, "connect.connector_state")[connector]
    assert (row.value, row.status, row.breached) == (0.0, "PAUSED", True)
    tasks = recorded(store, run_id, "connect.task_state")
    assert {subject: (t.value, t.status, t.breached) for subject, t in tasks.items()} == {
        f"{connector}/0": (0.0, "PAUSED", True)
    }

    set_connector("resume", "RUNNING")
    result, run_id = observe_connect(store)
    row = recorded(store, run_id, "connect.connector_state")[connector]
    assert (row.value, row.status, row.breached) == (1.0, "RUNNING", False)
    tasks = recorded(store, run_id, "connect.task_state")
    assert {subject: (t.value, t.status, t.breached) for subject, t in tasks.items()} == {
        f"{connector}/0": (1.0, "RUNNING", False)
    }
    assert result["breaches"] == []


def test_unreachable_connect_is_recorded_not_raised(store: MetricsStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # a worker on a closed port: the collector records UNREACHABLE (and logs the service) instead of raising
    monkeypatch.setenv(
        "AIRFLOW_CONN_KAFKA_CONNECT_CLOSED", '{"conn_type": "kafka_connect", "host": "127.0.0.1", "port": 9}'
    )
    run_id = new_run_id()
    result = ConnectorStateOperator(task_id="connector_state", kafka_connect_conn_id="kafka_connect_closed").execute(
        {"run_id": run_id}
    )  # type: ignore[arg-type]
    (row,) = recorded(store, run_id, "connect.connector_state").values()
    assert (row.value, row.status, row.breached) == (0.0, "UNREACHABLE", True)
    assert result["breaches"] == [f"connect.connector_state {row.subject}: UNREACHABLE"]
