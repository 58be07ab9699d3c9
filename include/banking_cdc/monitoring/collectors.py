"""Collectors: each observes one service and returns :class:`MetricSample` values, never raising for it.

A collector that cannot reach its service logs an error naming the service and returns the samples it
owes with status ``UNREACHABLE`` (value ``None``, or 0 for connector states), so one service being down
never hides what the others report. Thresholds are applied afterwards (:func:`apply_thresholds`).
Only metadata is read: offsets and watermarks, slot positions, connector states, object keys and sizes,
ledger sums and ``max(_built_at)``; never a row's payload.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from banking_cdc.monitoring.config import MonitoringConfig
from banking_cdc.monitoring.metrics import MISSING, UNREACHABLE, evaluate, state_value
from banking_cdc.monitoring.store import MetricSample
from banking_cdc.settings import (
    CONNECTOR_STATE,
    CONSUMER_LAG,
    FRESHNESS,
    KAFKA_CONN_ID,
    LANDING_PREFIX,
    SLOT_ACTIVE,
    SLOT_WAL,
    TASK_STATE,
    THROUGHPUT,
    UNLOADED_BYTES,
    UNLOADED_FILES,
)

log = logging.getLogger(__name__)

#: ``query(sql, params)`` on a warehouse; ``sql`` uses ``?`` placeholders
Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


def apply_thresholds(samples: Sequence[MetricSample], config: MonitoringConfig) -> list[MetricSample]:
    """Every sample with its threshold from ``config`` and its breach verdict."""
    return [evaluate(s, config.threshold(s.metric, s.subject)) for s in samples]


def _unreachable(service: str, exc: BaseException) -> None:
    log.error("%s is unreachable: %s: %s", service, type(exc).__name__, exc)


# ------------------------------------------------------------------------------------------------ Kafka


def consumer_lag_samples(consumer: Any, group_id: str, topics: Sequence[str], timeout: float) -> list[MetricSample]:
    """
    ``kafka.consumer_lag`` of every partition of ``topics`` for ``group_id``, through ``consumer``.

    Lag = high watermark - committed offset; a partition without a committed offset (or with one that
    retention deleted) counts from its low watermark (:func:`banking_cdc.hooks.kafka_group.backlog_offsets`).
    A topic that does not exist is recorded as ``MISSING``; a broker error as ``UNREACHABLE``
    (subject ``<group>/<topic>`` when the partitions are unknown).

    :param consumer: An unsubscribed confluent-kafka consumer whose ``group.id`` is ``group_id``.
    :param group_id: Consumer group.
    :param topics: Topics to read.
    :param timeout: Seconds per broker request.
    """
    from banking_cdc.hooks.kafka_group import KafkaTopicNotFoundError, backlog_offsets

    samples: list[MetricSample] = []
    for topic in topics:
        try:
            offsets = backlog_offsets(consumer, [topic], timeout=timeout)[topic]
        except KafkaTopicNotFoundError:
            log.error("Kafka topic %s does not exist (group %s)", topic, group_id)
            samples.append(MetricSample(CONSUMER_LAG, f"{group_id}/{topic}", None, status=MISSING))
            continue
        except Exception as exc:  # noqa: BLE001 - a service failure is recorded as UNREACHABLE
            _unreachable(f"Kafka (group {group_id}, topic {topic})", exc)
            samples.append(MetricSample(CONSUMER_LAG, f"{group_id}/{topic}", None, status=UNREACHABLE))
            continue
        for partition, (start, high) in sorted(offsets.items()):
            subject = f"{group_id}/{topic}/{partition}"
            samples.append(MetricSample(CONSUMER_LAG, subject, float(max(0, high - start))))
    return samples


def collect_consumer_lag(
    group_ids: Sequence[str], topics: Sequence[str], *, kafka_config_id: str = KAFKA_CONN_ID, timeout: float = 10
) -> list[MetricSample]:
    """
    ``kafka.consumer_lag`` per group, topic and partition, read through
    :class:`~banking_cdc.hooks.kafka_group.KafkaGroupConsumerHook`.

    Reads committed offsets and watermarks only (no subscription, no fetch, no commit), so observing
    a group never disturbs it.

    :param group_ids: Consumer groups.
    :param topics: Topics to read for each group.
    :param kafka_config_id: Airflow connection to Kafka.
    :param timeout: Seconds per broker request.
    """
    from banking_cdc.hooks.kafka_group import KafkaGroupConsumerHook

    samples: list[MetricSample] = []
    for group_id in group_ids:
        try:
            hook = KafkaGroupConsumerHook(topics=topics, group_id=group_id, kafka_config_id=kafka_config_id)
            consumer = hook.get_group_consumer()
        except Exception as exc:  # noqa: BLE001 - a service failure is recorded as UNREACHABLE
            _unreachable(f"Kafka (connection {kafka_config_id})", exc)
            samples.extend(MetricSample(CONSUMER_LAG, f"{group_id}/{t}", None, status=UNREACHABLE) for t in topics)
            continue
        try:
            samples.extend(consumer_lag_samples(consumer, group_id, topics, timeout))
        finally:
            consumer.close()
    return samples


# ------------------------------------------------------------------------------------------------ PostgreSQL

SLOT_SQL = """
SELECT slot_name, active, wal_status,
       pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained_bytes
FROM pg_replication_slots WHERE slot_name = ANY(%s)
"""


def collect_replication_slots(slots: Sequence[str], *, postgres_conn_id: str = "postgres_source") -> list[MetricSample]:
    """
    ``postgres.slot_retained_wal_bytes`` (status ``wal_status``) and ``postgres.slot_active`` per slot.

    :param slots: Replication slot names.
    :param postgres_conn_id: Airflow connection to the source database.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    try:
        conn = PostgresHook(postgres_conn_id=postgres_conn_id).get_conn()
        try:
            with conn.cursor() as cur:
                cur.execute(SLOT_SQL, (list(slots),))
                rows = {row[0]: row for row in cur.fetchall()}
        finally:
            conn.close()
    except Exception as exc:  # noqa: BLE001 - a service failure is recorded as UNREACHABLE
        _unreachable(f"PostgreSQL (connection {postgres_conn_id})", exc)
        return [
            sample
            for slot in slots
            for sample in (
                MetricSample(SLOT_WAL, slot, None, status=UNREACHABLE),
                MetricSample(SLOT_ACTIVE, slot, None, status=UNREACHABLE),
            )
        ]
    samples: list[MetricSample] = []
    for slot in slots:
        if slot not in rows:
            log.error("Replication slot %s does not exist in the source database", slot)
            samples.append(MetricSample(SLOT_WAL, slot, None, status=MISSING))
            samples.append(MetricSample(SLOT_ACTIVE, slot, 0.0, status=MISSING))
            continue
        _, active, wal_status, retained = rows[slot]
        value = None if retained is None else float(retained)  # no restart_lsn: the slot lost its WAL
        samples.append(MetricSample(SLOT_WAL, slot, value, status=wal_status))
        samples.append(MetricSample(SLOT_ACTIVE, slot, 1.0 if active else 0.0))
    return samples


# ------------------------------------------------------------------------------------------------ Kafka Connect


def connector_samples(name: str, status: Mapping[str, Any] | None) -> list[MetricSample]:
    """
    ``connect.connector_state`` and ``connect.task_state`` from a ``GET /connectors/<name>/status`` answer.

    :param name: Connector name.
    :param status: The answer, or ``None`` when the connector does not exist.
    """
    if status is None:
        return [MetricSample(CONNECTOR_STATE, name, 0.0, status=MISSING)]
    state = str(status.get("connector", {}).get("state", "UNASSIGNED"))
    samples = [MetricSample(CONNECTOR_STATE, name, state_value(state), status=state)]
    for task in sorted(status.get("tasks", []), key=lambda t: int(t.get("id", 0))):
        task_state = str(task.get("state", "UNASSIGNED"))
        samples.append(MetricSample(TASK_STATE, f"{name}/{task.get('id')}", state_value(task_state), status=task_state))
    return samples


def collect_connector_states(
    connectors: Sequence[str], *, kafka_connect_conn_id: str = "kafka_connect_default"
) -> list[MetricSample]:
    """
    State of each connector and of its tasks (a STOPPED connector has no tasks).

    :param connectors: Connector names.
    :param kafka_connect_conn_id: Airflow connection to the Kafka Connect REST API.
    """
    from banking_cdc.exceptions import KafkaConnectError
    from banking_cdc.hooks.kafka_connect import KafkaConnectHook

    hook = KafkaConnectHook(kafka_connect_conn_id=kafka_connect_conn_id)
    samples: list[MetricSample] = []
    for name in connectors:
        try:
            status: dict[str, Any] | None = hook.get_connector_status(name)
        except KafkaConnectError as exc:
            if exc.http_status != 404:
                _unreachable(f"Kafka Connect (connection {kafka_connect_conn_id}, connector {name})", exc)
                samples.append(MetricSample(CONNECTOR_STATE, name, 0.0, status=UNREACHABLE))
                continue
            log.error("Connector %s does not exist on Kafka Connect", name)
            status = None
        except Exception as exc:  # noqa: BLE001 - a service failure is recorded as UNREACHABLE
            _unreachable(f"Kafka Connect (connection {kafka_connect_conn_id}, connector {name})", exc)
            samples.append(MetricSample(CONNECTOR_STATE, name, 0.0, status=UNREACHABLE))
            continue
        samples.extend(connector_samples(name, status))
    return samples


# ------------------------------------------------------------------------------------------------ warehouse


def _ledger_sql(backend: str, what: str) -> str:
    """The ledger reads of monitoring; one ledger schema on both warehouses (only the timestamp cast differs)."""
    cast = "TO_TIMESTAMP_TZ" if backend == "snowflake" else "to_timestamp"
    return {
        "keys": "SELECT file_key FROM bronze.load_ledger WHERE file_key LIKE ?",
        "rows": f"SELECT lower(bronze_table), sum(rows_loaded) FROM bronze.load_ledger "
        f"WHERE loaded_at > {cast}(?) AND loaded_at <= {cast}(?) GROUP BY 1",
    }[what]


def list_landing_objects(s3_client: Any, bucket: str, prefix: str) -> dict[str, int]:
    """Every ``.parquet`` object under ``prefix`` with its size (:func:`banking_cdc.stage.listing.iter_listing`)."""
    from banking_cdc.stage.listing import iter_listing

    return {obj.key: obj.size for obj in iter_listing(s3_client, bucket, prefix) if obj.key.endswith(".parquet")}


def collect_unloaded_landing(
    topics: Sequence[str],
    query: Query | None,
    *,
    backend: str = "duckdb",
    bucket: str,
    landing_prefix: str = LANDING_PREFIX,
    aws_conn_id: str = "aws_default",
) -> list[MetricSample]:
    """
    ``landing.unloaded_files`` and ``landing.unloaded_bytes`` per topic: landing files the ledger lacks.

    :param topics: Captured topics.
    :param query: Warehouse query function (``None``: the warehouse could not be opened).
    :param backend: ``duckdb`` or ``snowflake`` (which ledger SQL).
    :param bucket: Landing bucket.
    :param landing_prefix: Key prefix of landing files.
    :param aws_conn_id: Airflow connection to the object store.
    """
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    def unreachable() -> list[MetricSample]:
        return [
            MetricSample(metric, topic, None, status=UNREACHABLE)
            for topic in topics
            for metric in (UNLOADED_FILES, UNLOADED_BYTES)
        ]

    try:
        client = S3Hook(aws_conn_id=aws_conn_id).get_conn()
        listed = {t: list_landing_objects(client, bucket, f"{landing_prefix.strip('/')}/{t}/") for t in topics}
    except Exception as exc:  # noqa: BLE001 - a service failure is recorded as UNREACHABLE
        _unreachable(f"object store (connection {aws_conn_id}, bucket {bucket})", exc)
        return unreachable()
    if query is None:
        return unreachable()
    samples: list[MetricSample] = []
    for topic in topics:
        prefix = f"{landing_prefix.strip('/')}/{topic}/"
        try:
            loaded = {row[0] for row in query(_ledger_sql(backend, "keys"), [f"{prefix}%"])}
        except Exception as exc:  # noqa: BLE001 - a service failure is recorded as UNREACHABLE
            _unreachable(f"warehouse {backend} (bronze load ledger)", exc)
            return unreachable()
        unloaded = {key: size for key, size in listed[topic].items() if key not in loaded}
        samples.append(MetricSample(UNLOADED_FILES, topic, float(len(unloaded))))
        samples.append(MetricSample(UNLOADED_BYTES, topic, float(sum(unloaded.values()))))
    return samples


def collect_bronze_throughput(
    tables: Mapping[str, str],
    query: Query | None,
    previous: Mapping[str, datetime],
    *,
    backend: str = "duckdb",
    now: datetime | None = None,
    max_window: timedelta = timedelta(minutes=15),
) -> list[MetricSample]:
    """
    ``bronze.load_rows_per_s`` per topic: rows the ledger recorded since the previous observation.

    :param tables: ``{bronze table: topic}``.
    :param query: Warehouse query function (``None``: the warehouse could not be opened).
    :param previous: Time of the previous observation per topic (missing: ``max_window`` ago).
    :param backend: ``duckdb`` or ``snowflake``.
    :param now: End of the window (default: now).
    :param max_window: Longest window.
    """
    now = now or datetime.now(UTC)
    if query is None:
        return [MetricSample(THROUGHPUT, topic, None, status=UNREACHABLE) for topic in tables.values()]
    samples: list[MetricSample] = []
    floor = now - max_window
    for table, topic in tables.items():
        start = max(previous.get(topic, floor), floor)
        seconds = (now - start).total_seconds()
        try:
            rows = query(_ledger_sql(backend, "rows"), [start.timestamp(), now.timestamp()])
        except Exception as exc:  # noqa: BLE001 - a service failure is recorded as UNREACHABLE
            _unreachable(f"warehouse {backend} (bronze load ledger)", exc)
            return [MetricSample(THROUGHPUT, t, None, status=UNREACHABLE) for t in tables.values()]
        loaded = sum(int(n or 0) for name, n in rows if str(name).lower() == table)
        samples.append(MetricSample(THROUGHPUT, topic, loaded / seconds if seconds > 0 else 0.0))
    return samples


def collect_gold_freshness(
    query: Query | None,
    *,
    backend: str = "duckdb",
    models: Sequence[str] | None = None,
    now: datetime | None = None,
) -> list[MetricSample]:
    """
    ``gold.freshness_seconds`` per gold model: now - ``max(_built_at)``.

    ``_built_at`` is set on the rows a dbt run writes, and the dbt DAG runs when bronze has new data, so
    this is the time since the model last took in a change. A table that does not exist is ``MISSING``;
    an empty one is recorded with status ``EMPTY`` and no value.

    :param query: Warehouse query function (``None``: the warehouse could not be opened).
    :param backend: ``duckdb`` or ``snowflake``.
    :param models: Gold model names (tables in schema ``gold``); ``None``: every gold model of the dbt manifest.
    :param now: Reference time (default: now).
    """
    from banking_cdc.transform.dbt_project import gold_models

    now = now or datetime.now(UTC)
    models = gold_models() if models is None else models
    if query is None:
        return [MetricSample(FRESHNESS, m, None, status=UNREACHABLE) for m in models]
    samples: list[MetricSample] = []
    for model in models:
        sql = (
            f"SELECT DATE_PART(EPOCH_MILLISECOND, MAX(_BUILT_AT)) FROM GOLD.{model.upper()}"
            if backend == "snowflake"
            else f"SELECT epoch_ms(max(_built_at)) FROM gold.{model}"
        )
        try:
            ((newest_ms,),) = query(sql, [])
        except Exception as exc:  # noqa: BLE001 - any warehouse error is recorded, never raised
            if "does not exist" in str(exc).lower():
                log.error("Gold table %s does not exist in the %s warehouse", model, backend)
                samples.append(MetricSample(FRESHNESS, model, None, status=MISSING))
                continue
            _unreachable(f"warehouse {backend} (gold.{model})", exc)
            samples.append(MetricSample(FRESHNESS, model, None, status=UNREACHABLE))
            continue
        if newest_ms is None:
            samples.append(MetricSample(FRESHNESS, model, None, status="EMPTY"))
            continue
        age = now.timestamp() - int(newest_ms) / 1000.0
        samples.append(MetricSample(FRESHNESS, model, max(0.0, age)))
    return samples


def timed(name: str, collect: Callable[[], list[MetricSample]]) -> list[MetricSample]:
    """Run a collector, log how many samples it returned and how long it took."""
    started = time.monotonic()
    samples = collect()
    log.info("Collector %s: %d samples in %.2f s", name, len(samples), time.monotonic() - started)
    return samples
