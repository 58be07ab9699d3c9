"""Every monitoring observation as an Airflow metric (StatsD, Datadog or OpenTelemetry, as configured).

Task code emits through ``airflow.sdk.observability.stats`` (Airflow 3.3; the task runner initialises
it from the ``[metrics]`` section, and it is a no-op when metrics are off). Each sample with a value
becomes two gauges, following Airflow's own tagged / legacy naming pair:

- ``bcdc.<metric>`` tagged ``subject=<subject>`` (OpenTelemetry attributes, Datadog tags, or StatsD
  with ``statsd_influxdb_enabled``);
- ``bcdc.<metric>.<subject path>`` for plain StatsD / Graphite, where the subject's ``/`` become
  ``.`` levels and its ``.`` become ``__`` (Airflow's rule for dotted ids), any other character
  outside ``[A-Za-z0-9_-]`` ``_``: ``bcdc.kafka.consumer_lag.bcdc-stage.bank__public__accounts.0``.

Plus ``bcdc.monitoring.breaches`` tagged ``collector=<task>`` (and ``bcdc.monitoring.breaches.<task>``):
the number of breached observations of that collector's run. Airflow adds its own prefix
(``[metrics] statsd_prefix`` / ``otel_prefix``, ``airflow`` by default).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from banking_cdc.monitoring.store import MetricSample

PREFIX = "bcdc"
_OTHER = re.compile(r"[^A-Za-z0-9_-]")


def subject_path(subject: str) -> str:
    """The subject as metric-name levels: ``/`` -> ``.``, ``.`` -> ``__``, others outside ``[A-Za-z0-9_-]`` -> ``_``."""
    return ".".join(_OTHER.sub("_", part.replace(".", "__")) for part in subject.split("/"))


def gauge_names(sample: MetricSample) -> tuple[str, str]:
    """The tagged name and the per-subject name of a sample's gauges."""
    return f"{PREFIX}.{sample.metric}", f"{PREFIX}.{sample.metric}.{subject_path(sample.subject)}"


def emit(samples: Sequence[MetricSample], collector: str, stats: Any = None) -> int:
    """
    Emit ``samples`` as gauges; return how many gauges were sent.

    :param samples: Evaluated samples (thresholds applied).
    :param collector: Name of the collector (task id), tag of the breach count.
    :param stats: Stats client with ``gauge(stat, value, tags=...)``; default Airflow's.
    """
    if stats is None:
        from airflow.sdk.observability import stats as airflow_stats

        stats = airflow_stats
    sent = 0
    for sample in samples:
        if sample.value is None:
            continue
        tagged, per_subject = gauge_names(sample)
        stats.gauge(tagged, sample.value, tags={"subject": sample.subject})
        stats.gauge(per_subject, sample.value)
        sent += 2
    breached = sum(1 for sample in samples if sample.breached)
    stats.gauge(f"{PREFIX}.monitoring.breaches", breached, tags={"collector": collector})
    stats.gauge(f"{PREFIX}.monitoring.breaches.{subject_path(collector)}", breached)
    return sent + 2
