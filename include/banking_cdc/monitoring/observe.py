"""One monitoring observation: apply thresholds, store in the metrics table, emit Airflow gauges."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from banking_cdc.monitoring.airflow_metrics import emit
from banking_cdc.monitoring.collectors import apply_thresholds
from banking_cdc.monitoring.config import MonitoringConfig
from banking_cdc.monitoring.store import MetricSample, MetricsStore

log = logging.getLogger(__name__)


def observe(
    samples: Sequence[MetricSample],
    config: MonitoringConfig,
    *,
    store: MetricsStore,
    collector: str,
    observed_at: datetime | None = None,
    run_id: str | None = None,
    stats: Any = None,
) -> list[MetricSample]:
    """
    Evaluate ``samples`` against ``config``'s thresholds, record them, emit them; return them evaluated.

    :param samples: Raw samples from the collectors.
    :param config: Monitoring configuration (thresholds).
    :param store: The metrics table.
    :param collector: Name of the collector (task id), tag of the breach-count gauge.
    :param observed_at: Time of the observation (default: now).
    :param run_id: Airflow run id stored with the rows.
    :param stats: Stats client (default: Airflow's).
    """
    evaluated = apply_thresholds(samples, config)
    store.record(evaluated, observed_at=observed_at or datetime.now(UTC), run_id=run_id)
    emit(evaluated, collector=collector, stats=stats)
    return evaluated
