"""Airflow listener that records failing pipeline tasks, with their error line, for the health page.

For the tasks of the DAGs that move data (``cdc_stage``, ``cdc_load_bronze``, ``banking_dbt_transform``: every
dbt model, snapshot and test task), a failed attempt (final, or before a retry) writes one
``airflow.task_failing`` observation: subject ``<dag_id>/<task_id>``, value 1, status the error line. A success
writes value 0, only when the task's latest observation is a failure (so the table holds failures and
recoveries, not every success). The health page lists the tasks whose latest observation is a failure, with the
error line and since when they fail (the first failure after their last success).

The error line is the first lines of the error that name an error (a dbt ``Runtime Error in model ...`` and
its database message), with quoted literals blanked: an error message may quote a value of a row, and row
payloads are never recorded or logged. Recording never changes the outcome of a task (see
:mod:`banking_cdc.plugins.metrics_writer`). ``airflow tasks test`` runs are not recorded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from airflow.listeners import hookimpl

from banking_cdc.monitoring.store import MetricSample
from banking_cdc.plugins.dbt_test_listener import TEMPORARY_RUN_PREFIX
from banking_cdc.plugins.metrics_writer import RecordingListener, write_samples
from banking_cdc.settings import TASK_FAILING

log = logging.getLogger(__name__)

#: DAGs whose task failures are recorded
WATCHED_DAG_IDS: frozenset[str] = frozenset({"cdc_stage", "cdc_load_bronze", "banking_dbt_transform"})
#: longest error line kept
MAX_ERROR = 400
#: how far back a success looks for the task's latest failure
RECOVERY_LOOKBACK = timedelta(days=31)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_ERRORISH = re.compile(r"error|exception|failed|failure", re.IGNORECASE)


def error_line(error: Any) -> str:
    """
    The lines of ``error`` that name the problem, literals blanked, at most :data:`MAX_ERROR` characters.

    :param error: The exception (or message) Airflow passed to ``on_task_instance_failed``.
    """
    if error is None:
        return "failed (no error recorded)"
    text = _ANSI.sub("", str(error)) or type(error).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    chosen = [line for line in lines if _ERRORISH.search(line)][:3] or lines[:1]
    line = " | ".join(_QUOTED.sub("'…'", part) for part in chosen)
    if isinstance(error, BaseException) and type(error).__name__ not in line:
        line = f"{type(error).__name__}: {line}"
    return line if len(line) <= MAX_ERROR else line[: MAX_ERROR - 1] + "…"


class TaskFailureListener(RecordingListener):
    """
    Listener (register an instance in ``AirflowPlugin.listeners``) writing ``airflow.task_failing`` observations.

    :param dag_ids: DAGs whose tasks are watched; the other arguments are those of :class:`RecordingListener`.
    """

    def __init__(self, dag_ids: Collection[str] = WATCHED_DAG_IDS, **kwargs: Any) -> None:
        super().__init__(dag_ids, **kwargs)

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        """A task succeeded: record its recovery if its latest observation is a failure."""
        self.record(task_instance, None, failed=False)

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        """A task attempt failed (finally or before a retry): record it with its error line."""
        self.record(task_instance, error, failed=True)

    def subject_of(self, task_instance: Any) -> str | None:
        """``<dag_id>/<task_id>`` of a watched task of a pipeline run, else ``None``."""
        dag_id = getattr(task_instance, "dag_id", None)
        task_id = getattr(task_instance, "task_id", None)
        if not dag_id or not task_id or dag_id not in self.dag_ids:
            return None
        if str(getattr(task_instance, "run_id", None) or "").startswith(TEMPORARY_RUN_PREFIX):
            return None
        return f"{dag_id}/{task_id}"

    def _failing_now(self, subject: str) -> bool:
        rows = self.store_factory().read([TASK_FAILING], since=RECOVERY_LOOKBACK, subject=subject)
        return bool(rows) and (rows[-1].value or 0) >= 1

    def record(self, task_instance: Any, error: Any, *, failed: bool) -> bool:
        """
        Write the observation of ``task_instance`` if it is watched; never raises.

        :return: True when a row was written.
        """
        try:
            subject = self.subject_of(task_instance)
            if subject is None:
                return False
            if failed:
                sample = MetricSample(TASK_FAILING, subject, 1.0, status=error_line(error))
            elif self._failing_now(subject):
                sample = MetricSample(TASK_FAILING, subject, 0.0, status="recovered")
            else:
                return False
            written = write_samples(
                self.store_factory, [sample], observed_at=self.clock(),
                run_id=getattr(task_instance, "run_id", None), timeout=self.timeout, what=f"state of {subject}",
            )  # fmt: skip
            if written:
                log.info("recorded %s %s = %s", TASK_FAILING, subject, sample.value)
            return written
        except Exception:  # a listener must never fail the task
            log.warning("task failure listener failed; the task is unaffected", exc_info=True)
            return False
