"""The monitoring metrics: names, units, breach direction, state encodings, and the verdict.

A metric name is ``<family>.<measure>``; its subject says what it is about (a partition, a slot, a
connector, a topic, a gold model). These names are a contract with the health page and with whoever
reads the Airflow metrics: change them only together with docs/ARCHITECTURE.md ("Monitoring").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from banking_cdc import settings
from banking_cdc.monitoring.store import MetricSample

#: a service did not answer (the collector records this instead of raising)
UNREACHABLE = "UNREACHABLE"
#: the watched object does not exist (connector, slot, topic, gold table)
MISSING = "MISSING"
#: Kafka Connect states, plus MISSING / UNREACHABLE
CONNECT_STATES = ("RUNNING", "PAUSED", "STOPPED", "FAILED", "UNASSIGNED", "RESTARTING", MISSING, UNREACHABLE)
#: ``pg_replication_slots.wal_status`` values that mean WAL is (or was) being lost for the slot
BAD_WAL_STATUS = frozenset({"unreserved", "lost"})
#: which side of its threshold alerts: ``above`` (value > threshold) or ``below`` (value < threshold)
Breach = Literal["above", "below"]


@dataclass(frozen=True)
class MetricSpec:
    """
    A documented metric.

    :param name: Metric name, also the ``metric`` column of the metrics table.
    :param subject: What the subject is, for the docs (``<group>/<topic>/<partition>``).
    :param unit: Unit of the value.
    :param breach: ``above`` (value > threshold alerts) or ``below`` (value < threshold alerts).
    :param description: One line for the docs.
    """

    name: str
    subject: str
    unit: str
    breach: Breach
    description: str


#: every documented metric, as the fields of its :class:`MetricSpec`
_METRIC_TABLE: tuple[tuple[str, str, str, Breach, str], ...] = (
    (settings.CONSUMER_LAG, "<group>/<topic>/<partition>", "messages", "above",
     "high watermark - committed offset (no commit yet: - low watermark)"),
    (settings.SLOT_WAL, "<slot>", "bytes", "above",
     "pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn); status = wal_status"),
    (settings.SLOT_ACTIVE, "<slot>", "1/0", "below", "1 when a client streams from the slot"),
    (settings.CONNECTOR_STATE, "<connector>", "1/0", "below",
     "1 if RUNNING else 0; status = the state (PAUSED, STOPPED, FAILED, MISSING, UNREACHABLE, ...)"),
    (settings.TASK_STATE, "<connector>/<task id>", "1/0", "below", "as connect.connector_state"),
    (settings.UNLOADED_FILES, "<topic>", "files", "above", "landing files not in the bronze ledger"),
    (settings.UNLOADED_BYTES, "<topic>", "bytes", "above", "size of those files"),
    (settings.FRESHNESS, "<gold model>", "seconds", "above",
     "now - max(_built_at): time since the model last took in a change"),
    (settings.THROUGHPUT, "<topic>", "rows/s", "below",
     "rows loaded into bronze (ledger) since the previous observation / seconds since"),
    (settings.SOURCE_CHANGES, "<schema>.<table>", "rows", "above",
     "n_tup_ins + n_tup_upd + n_tup_del of pg_stat_user_tables (a counter since the statistics' reset)"),
    (settings.TOPIC_END, "<schema>.<table>", "offsets", "above", "sum of the high watermarks of the table's topic"),
    (settings.TABLE_PUBLISHED, "<schema>.<table>", "1/0", "below",
     "1 when the connector's publication publishes the captured table; status MISSING: the table is absent"),
    (settings.UNSTREAMED, "<schema>.<table>", "rows", "above",
     "rows changed in the source in a window that ended grace_seconds ago while the topic did not move since"),
    (settings.REJECTED_VALUES, "<silver model>", "values", "above",
     "values in silver.rejects not acknowledged; status = the reasons with their counts (never the values)"),
    (settings.NEW_REJECTS, "<silver model>", "values", "above",
     "values rejected since the previous observation (the alert on new rejects)"),
    (settings.REJECTED_KEYS, "<silver model>", "keys", "above",
     "keys whose newest event was rejected: silver keeps their last good state (_rejected_lsn set)"),
)  # fmt: skip
METRICS: dict[str, MetricSpec] = {fields[0]: MetricSpec(*fields) for fields in _METRIC_TABLE}


def __getattr__(name: str) -> object:
    """``GOLD_MODELS``: the gold models whose freshness is recorded, read from the dbt manifest when first used."""
    if name == "GOLD_MODELS":
        from banking_cdc.transform.dbt_project import gold_models

        return gold_models()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def state_value(state: str) -> float:
    """Encode a Kafka Connect state: 1 for RUNNING, else 0."""
    return 1.0 if state == "RUNNING" else 0.0


def evaluate(sample: MetricSample, threshold: float | None) -> MetricSample:
    """
    Return ``sample`` with its ``threshold`` and ``breached`` verdict.

    Breaches: the value crosses the threshold in the metric's direction; the service is UNREACHABLE or
    the object MISSING; a replication slot's ``wal_status`` is ``unreserved`` or ``lost``.
    """
    spec = METRICS.get(sample.metric)
    breached = sample.status in (UNREACHABLE, MISSING)
    if sample.metric == settings.SLOT_WAL and sample.status in BAD_WAL_STATUS:
        breached = True
    if spec is not None and threshold is not None and sample.value is not None:
        crossed = sample.value > threshold if spec.breach == "above" else sample.value < threshold
        breached = breached or crossed
    return replace(sample, threshold=threshold, breached=breached)


def describe(sample: MetricSample) -> str:
    """One line naming a breached observation, for logs, the failure message and the e-mail."""
    what = f"{sample.metric} {sample.subject}"
    if sample.status in (UNREACHABLE, MISSING):
        return f"{what}: {sample.status}"
    value = "n/a" if sample.value is None else f"{sample.value:g}"
    spec = METRICS.get(sample.metric)
    limit = ""
    if sample.threshold is not None and spec is not None:
        limit = f" ({'>' if spec.breach == 'above' else '<'} threshold {sample.threshold:g})"
    status = f" [{sample.status}]" if sample.status else ""
    return f"{what} = {value}{status}{limit}"


def breaches(samples: Iterable[MetricSample]) -> list[str]:
    """Describe every breached sample."""
    return [describe(sample) for sample in samples if sample.breached]


def verdict(results: Mapping[str, object]) -> list[str]:
    """
    The problems of one monitoring run, from each collector task's result (``None``: the task failed).

    :param results: ``{collector task id: its returned summary or None}``; a summary has ``breaches``.
    :return: Empty when everything is within thresholds; else one line per problem.
    """
    problems: list[str] = []
    for task_id, result in sorted(results.items()):
        if not isinstance(result, Mapping):
            problems.append(f"collector {task_id} recorded nothing (the task failed; see its log)")
            continue
        problems.extend(str(line) for line in result.get("breaches", []))
    return problems
