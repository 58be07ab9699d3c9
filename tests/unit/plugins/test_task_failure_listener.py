"""The task-failure listener: failures with their error line, recoveries only after a failure, never failing a task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from airflow.sdk._shared.listeners.listener import ListenerManager
from airflow.sdk._shared.listeners.spec import taskinstance as taskinstance_spec
from airflow.utils.state import TaskInstanceState

from banking_cdc.monitoring.store import MetricRow, MetricSample
from banking_cdc.plugins.task_failure_listener import MAX_ERROR, TaskFailureListener, error_line
from banking_cdc.settings import TASK_FAILING

WHEN = datetime(2026, 12, 5, 12, tzinfo=UTC)


class Store:
    """The metrics table in memory: what was recorded, read back by subject."""

    def __init__(self) -> None:
        self.rows: list[MetricRow] = []

    def record(self, samples: list[MetricSample], observed_at: datetime, run_id: str | None = None) -> int:
        for s in samples:
            self.rows.append(
                MetricRow(s.metric, s.subject, s.value, s.status, s.threshold, s.breached, observed_at, run_id)
            )
        return len(samples)

    def read(self, metrics: Any = None, since: Any = None, subject: str | None = None) -> list[MetricRow]:
        return [r for r in self.rows if r.metric in metrics and (subject is None or r.subject == subject)]


def ti(dag_id: str, task_id: str, run_id: str = "scheduled__1") -> SimpleNamespace:
    return SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id=run_id)


def test_the_error_line_names_the_dbt_error_without_the_values() -> None:
    error = RuntimeError(
        "dbt invocation completed with errors: \x1b[31mstg_transactions\x1b[0m\n"
        "  Runtime Error in model stg_transactions (models/staging/stg_transactions.sql)\n"
        "  Conversion Error: Could not convert string '10.0x5' to DECIMAL(18,2)\n"
        "  LINE 12: select ...\n"
    )
    line = error_line(error)
    assert "Runtime Error in model stg_transactions" in line and "Conversion Error" in line
    assert "10.0x5" not in line and "'…'" in line and "\x1b" not in line
    assert line.startswith("RuntimeError: ")
    assert len(error_line(RuntimeError("error " * 500))) == MAX_ERROR
    assert error_line(None) == "failed (no error recorded)"


def test_failures_and_a_recovery_through_airflow_hook_specs() -> None:
    store = Store()
    clock = iter([WHEN, WHEN + timedelta(minutes=1), WHEN + timedelta(minutes=2), WHEN + timedelta(minutes=3)])
    manager = ListenerManager()
    manager.add_hookspecs(taskinstance_spec)
    manager.add_listener(TaskFailureListener(store_factory=lambda: store, clock=lambda: next(clock)))  # type: ignore[arg-type,return-value]
    task = ti("banking_dbt_transform", "stg_transactions.run")
    running = TaskInstanceState.RUNNING
    manager.hook.on_task_instance_success(previous_state=running, task_instance=task)  # no failure yet: nothing
    manager.hook.on_task_instance_failed(
        previous_state=running, task_instance=task, error=RuntimeError("Binder Error: x")
    )
    manager.hook.on_task_instance_failed(previous_state=running, task_instance=task, error=ValueError("boom failed"))
    manager.hook.on_task_instance_success(previous_state=running, task_instance=task)
    manager.hook.on_task_instance_success(previous_state=running, task_instance=task)  # already recovered: nothing
    assert [(r.subject, r.value, r.status, r.observed_at) for r in store.rows] == [
        ("banking_dbt_transform/stg_transactions.run", 1.0, "RuntimeError: Binder Error: x", WHEN),
        ("banking_dbt_transform/stg_transactions.run", 1.0, "ValueError: boom failed", WHEN + timedelta(minutes=1)),
        ("banking_dbt_transform/stg_transactions.run", 0.0, "recovered", WHEN + timedelta(minutes=2)),
    ]
    assert all(r.metric == TASK_FAILING and r.run_id == "scheduled__1" for r in store.rows)


def test_only_watched_dags_of_pipeline_runs_are_recorded() -> None:
    store = Store()
    listener = TaskFailureListener(store_factory=lambda: store, clock=lambda: WHEN)  # type: ignore[arg-type,return-value]
    assert not listener.record(ti("banking_workload", "run"), RuntimeError("x"), failed=True)
    assert not listener.record(
        ti("cdc_load_bronze", "load", "__airflow_temporary_run_1"), RuntimeError("x"), failed=True
    )
    assert listener.record(ti("cdc_load_bronze", "load_bronze"), RuntimeError("x"), failed=True)
    assert [r.subject for r in store.rows] == ["cdc_load_bronze/load_bronze"]


def test_a_broken_store_never_raises() -> None:
    def broken() -> Any:
        raise ConnectionError("metrics database down")

    listener = TaskFailureListener(store_factory=broken, clock=lambda: WHEN, timeout=1)
    assert listener.record(ti("cdc_stage", "stage"), RuntimeError("x"), failed=True) is False
    assert listener.record(ti("cdc_stage", "stage"), None, failed=False) is False
