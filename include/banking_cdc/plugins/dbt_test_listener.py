"""Airflow listener that records the result of each dbt data-test task in the metrics table.

Airflow 3 calls ``on_task_instance_success(previous_state, task_instance)`` and
``on_task_instance_failed(previous_state, task_instance, error)`` in the task's own process after the
task ends (with a ``RuntimeTaskInstance``), for every attempt, including one that will be retried; and
in the API server (with the ORM ``TaskInstance``) when a user marks a task's state. For the Cosmos test
tasks of ``banking_dbt_transform`` (``<model>.test`` after each model, and the detached multi-parent
tests named ``<test>_test``) this writes one ``dbt.test_task`` observation: subject the task id, value
1 (passed) or 0 (failed), status the task's state, run id the DAG run. The health page charts them.
Runs of ``airflow tasks test`` (temporary run ids) are not recorded.

Recording must never change the outcome of a task: every error is logged and swallowed, and the write
runs in a helper thread with a time limit, so an unreachable metrics database delays the end of a test
task by at most ``timeout`` seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from airflow.listeners import hookimpl

from banking_cdc.monitoring.health_report import DBT_TEST
from banking_cdc.monitoring.store import MetricSample
from banking_cdc.plugins.metrics_writer import RecordingListener, write_samples

log = logging.getLogger(__name__)

#: DAGs whose dbt test tasks are recorded
DBT_DAG_IDS: frozenset[str] = frozenset({"banking_dbt_transform"})
#: task id endings of Cosmos test tasks: ``<model>.test`` (TestBehavior.AFTER_EACH) and detached tests
TEST_TASK_SUFFIXES: tuple[str, ...] = (".test", "_test")
#: run id prefix of ``airflow tasks test`` runs (a developer trying one task, not a pipeline run)
TEMPORARY_RUN_PREFIX = "__airflow_temporary_run_"


def is_dbt_test_task(
    dag_id: str | None,
    task_id: str | None,
    operator: str | None = None,
    dag_ids: Collection[str] = DBT_DAG_IDS,
) -> bool:
    """
    Whether a task instance is a Cosmos dbt test task of one of ``dag_ids``.

    :param dag_id: The task's DAG.
    :param task_id: The task id (``stg_accounts.test``, ``assert_no_orphan_transactions_test``).
    :param operator: The operator's class name, when known (``DbtTestLocalOperator``); it decides
        over the task id (a Cosmos test operator's name contains ``DbtTest``).
    :param dag_ids: DAGs to record.
    """
    if not dag_id or not task_id or dag_id not in dag_ids:
        return False
    if operator:
        return "DbtTest" in operator
    return task_id.endswith(TEST_TASK_SUFFIXES)


def operator_name(task_instance: Any) -> str | None:
    """The operator class name of a ``RuntimeTaskInstance`` (its ``task``) or ORM ``TaskInstance`` (``operator``)."""
    name = getattr(task_instance, "operator", None)
    if isinstance(name, str) and name:
        return name
    task = getattr(task_instance, "task", None)
    return type(task).__name__ if task is not None else None


def _state_text(task_instance: Any, passed: bool) -> str:
    state = getattr(task_instance, "state", None)
    text = str(getattr(state, "value", state) or "")
    if text in ("success", "failed", "up_for_retry"):
        return text
    return "success" if passed else "failed"


class DbtTestResultListener(RecordingListener):
    """
    Listener (register an instance in ``AirflowPlugin.listeners``) writing ``dbt.test_task`` observations.

    :param dag_ids: DAGs whose test tasks are recorded; the other arguments are those of :class:`RecordingListener`.
    """

    def __init__(self, dag_ids: Collection[str] = DBT_DAG_IDS, **kwargs: Any) -> None:
        super().__init__(dag_ids, **kwargs)

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        """A task succeeded: record a passed test if it is a dbt test task."""
        self.record(task_instance, passed=True)

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        """A task attempt failed (finally or before a retry): record a failed test if it is one."""
        self.record(task_instance, passed=False)

    def sample_for(self, task_instance: Any, passed: bool) -> MetricSample | None:
        """The observation for ``task_instance``, or ``None`` when it is not a dbt test task to record."""
        dag_id = getattr(task_instance, "dag_id", None)
        task_id = getattr(task_instance, "task_id", None)
        if not is_dbt_test_task(dag_id, task_id, operator_name(task_instance), self.dag_ids):
            return None
        if str(getattr(task_instance, "run_id", None) or "").startswith(TEMPORARY_RUN_PREFIX):
            return None
        return MetricSample(
            metric=DBT_TEST,
            subject=str(task_id),
            value=1.0 if passed else 0.0,
            status=_state_text(task_instance, passed),
        )

    def record(self, task_instance: Any, passed: bool) -> bool:
        """
        Write the observation of ``task_instance`` if it is a dbt test task; never raises.

        :return: True when a row was written.
        """
        try:
            sample = self.sample_for(task_instance, passed)
            if sample is None:
                return False
            written = write_samples(
                self.store_factory, [sample], observed_at=self.clock(),
                run_id=getattr(task_instance, "run_id", None), timeout=self.timeout,
                what=f"dbt test result of {sample.subject}",
            )  # fmt: skip
            if not written:
                return False
            log.info("recorded %s %s = %s (%s)", DBT_TEST, sample.subject, sample.value, sample.status)
            return True
        except Exception:  # a listener must never fail the task
            log.warning("dbt test listener failed; the task is unaffected", exc_info=True)
            return False
