"""The dbt test-result listener: which tasks it records, what it writes, and that it never fails a task."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk._shared.listeners.listener import ListenerManager
from airflow.sdk._shared.listeners.spec import taskinstance as taskinstance_spec
from airflow.utils.state import TaskInstanceState

from banking_cdc.monitoring.health_report import DBT_TEST
from banking_cdc.monitoring.store import MetricSample
from banking_cdc.plugins.dbt_test_listener import DbtTestResultListener, is_dbt_test_task, operator_name

DAG = "banking_dbt_transform"
WHEN = datetime(2026, 11, 26, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("dag_id", "task_id", "operator", "expected"),
    [
        (DAG, "stg_accounts.test", None, True),
        (DAG, "relationships_fct_transactions_account_sk__account_sk__ref_dim_accounts__test", None, True),
        (DAG, "assert_no_orphan_transactions_test", "DbtTestLocalOperator", True),
        (DAG, "stg_accounts.run", None, False),
        (DAG, "snap_accounts_snapshot", "DbtSnapshotLocalOperator", False),
        (DAG, "stg_accounts.run", "DbtRunLocalOperator", False),
        (DAG, "odd_test", "PythonOperator", False),  # the operator decides over the id
        ("cdc_load_bronze", "stg_accounts.test", None, False),
        (None, "x.test", None, False),
    ],
)
def test_which_tasks_are_dbt_tests(dag_id: str | None, task_id: str, operator: str | None, expected: bool) -> None:
    assert is_dbt_test_task(dag_id, task_id, operator) is expected


class DbtTestLocalOperator:  # same class name as Cosmos' test operator
    pass


def test_operator_name_of_runtime_and_orm_task_instances() -> None:
    assert operator_name(SimpleNamespace(task=DbtTestLocalOperator())) == "DbtTestLocalOperator"
    assert operator_name(SimpleNamespace(operator="DbtTestLocalOperator", task=object())) == "DbtTestLocalOperator"
    assert operator_name(SimpleNamespace()) is None


class FakeStore:
    def __init__(self, error: Exception | None = None, delay: float = 0) -> None:
        self.error, self.delay = error, delay
        self.records: list[tuple[list[MetricSample], datetime | None, str | None]] = []

    def record(
        self, samples: list[MetricSample], observed_at: datetime | None = None, run_id: str | None = None
    ) -> int:
        time.sleep(self.delay)
        if self.error:
            raise self.error
        self.records.append((list(samples), observed_at, run_id))
        return len(samples)


def ti(task_id: str, state: TaskInstanceState | None = None, **kw: Any) -> SimpleNamespace:
    return SimpleNamespace(dag_id=DAG, task_id=task_id, run_id="r1", state=state, task=DbtTestLocalOperator(), **kw)


def listener(store: FakeStore, **kw: Any) -> DbtTestResultListener:
    return DbtTestResultListener(store_factory=lambda: store, clock=lambda: WHEN, **kw)  # type: ignore[arg-type,return-value]


def test_records_pass_and_fail_through_airflow_hook_specs() -> None:
    # registering against Airflow's own hook specs validates the hook names and argument names
    store = FakeStore()
    manager = ListenerManager()
    manager.add_hookspecs(taskinstance_spec)
    manager.add_listener(listener(store))
    manager.hook.on_task_instance_success(previous_state=TaskInstanceState.RUNNING, task_instance=ti("a.test"))
    manager.hook.on_task_instance_failed(
        previous_state=TaskInstanceState.RUNNING,
        task_instance=ti("b.test", TaskInstanceState.UP_FOR_RETRY),
        error=RuntimeError("dbt test failed"),
    )
    manager.hook.on_task_instance_failed(
        previous_state=TaskInstanceState.RUNNING, task_instance=ti("c.test"), error=None
    )
    written = [
        (s.metric, s.subject, s.value, s.status, when, run) for samples, when, run in store.records for s in samples
    ]
    assert written == [
        (DBT_TEST, "a.test", 1.0, "success", WHEN, "r1"),
        (DBT_TEST, "b.test", 0.0, "up_for_retry", WHEN, "r1"),
        (DBT_TEST, "c.test", 0.0, "failed", WHEN, "r1"),
    ]


def test_other_tasks_are_not_recorded() -> None:
    store = FakeStore()
    other = SimpleNamespace(dag_id=DAG, task_id="stg_accounts.run", run_id="r1", operator="DbtRunLocalOperator")
    assert listener(store).record(other, passed=True) is False
    assert store.records == []


def test_airflow_tasks_test_runs_are_not_recorded() -> None:
    store = FakeStore()
    trial = ti("a.test")
    trial.run_id = "__airflow_temporary_run_2026-11-26T16:58:40.663367+00:00__"
    assert listener(store).record(trial, passed=False) is False
    assert store.records == []


def test_a_failing_store_never_raises() -> None:
    assert listener(FakeStore(error=ConnectionError("refused"))).record(ti("a.test"), passed=True) is False


def test_a_broken_task_instance_never_raises() -> None:
    class Broken:
        @property
        def dag_id(self) -> str:
            raise RuntimeError("boom")

    assert listener(FakeStore()).record(Broken(), passed=True) is False


def test_a_hanging_store_is_given_up_after_the_timeout() -> None:
    started = time.monotonic()
    assert listener(FakeStore(delay=2), timeout=0.2).record(ti("a.test"), passed=True) is False
    assert time.monotonic() - started < 1.5
