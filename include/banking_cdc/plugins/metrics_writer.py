"""Writing observations from an Airflow listener: in a helper thread, with a time limit, never raising.

A listener runs in the task's own process after the task ends; recording must never change the task's outcome
nor hold it for long. :func:`write_samples` logs and swallows every error, and gives up after ``timeout``
seconds when the metrics database does not answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from banking_cdc.monitoring.store import MetricSample, MetricsStore

log = logging.getLogger(__name__)


def write_samples(
    store_factory: Callable[[], MetricsStore],
    samples: Sequence[MetricSample],
    *,
    observed_at: datetime,
    run_id: str | None,
    timeout: float,
    what: str,
) -> bool:
    """
    Record ``samples``; return whether they were written.

    :param store_factory: Builds the metrics store.
    :param samples: The observations.
    :param observed_at: Their time.
    :param run_id: The DAG run they belong to.
    :param timeout: Seconds to wait for the write.
    :param what: Words naming the observation in the log (``dbt test result of stg_accounts.test``).
    """
    outcome: dict[str, Any] = {}

    def write() -> None:
        try:
            store_factory().record(samples, observed_at=observed_at, run_id=run_id)
            outcome["ok"] = True
        except Exception as exc:  # noqa: BLE001 - reported below, never raised into the task
            outcome["error"] = exc

    worker = threading.Thread(target=write, name="bcdc-listener-write", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        log.warning("%s not recorded: no answer within %.0f s", what, timeout)
        return False
    if "error" in outcome:
        exc = outcome["error"]
        log.warning("%s not recorded: %s: %s", what, type(exc).__name__, exc)
        return False
    return True


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RecordingListener:
    """
    What the pipeline's listeners share: the DAGs they watch, the metrics store, the write's time limit, a clock.

    :param dag_ids: DAGs whose tasks are recorded.
    :param store_factory: Builds the metrics store (default: ``MetricsStore()`` on ``bcdc_metrics``).
    :param timeout: Seconds to wait for the write before giving up (logged, the task is unaffected).
    :param clock: Time of an observation (default: now, UTC).
    """

    def __init__(
        self,
        dag_ids: Collection[str],
        store_factory: Callable[[], MetricsStore] = MetricsStore,
        timeout: float = 10.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.dag_ids = frozenset(dag_ids)
        self.store_factory = store_factory
        self.timeout = timeout
        self.clock = clock or _utc_now
