"""Operators of the monitoring DAG: collect, record and emit pipeline metrics; the alerting verdict.

One operator per collector, on the base :class:`MetricsCollectorOperator`: :class:`ConsumerLagOperator`,
:class:`ReplicationSlotOperator`, :class:`ConnectorStateOperator`, :class:`CaptureCoverageOperator` and
:class:`WarehouseMetricsOperator`. Each
applies the thresholds of ``config/monitoring.yaml``, stores every observation in
``bcdc_ops.pipeline_metrics`` and emits it as Airflow gauges. A service that is down is
recorded as ``UNREACHABLE``; the task only fails when the metrics table itself cannot be written.
:class:`MonitoringVerdictOperator` then fails, listing every breach, when any collector reported one
(that failure, and its e-mail, is the alert).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, Context

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.exceptions import BankingCdcError
from banking_cdc.monitoring import collectors
from banking_cdc.monitoring.config import MonitoringConfig
from banking_cdc.monitoring.metrics import breaches, verdict
from banking_cdc.monitoring.observe import observe
from banking_cdc.monitoring.rejects import collect_rejects
from banking_cdc.monitoring.store import METRICS_CONN_ID, MetricSample, MetricsStore
from banking_cdc.operators.capture import CaptureConfigOperator
from banking_cdc.operators.warehouse import WarehouseReadOperator
from banking_cdc.settings import (
    AWS_CONN_ID,
    DEFAULT_LANDING_BUCKET,
    KAFKA_CONN_ID,
    KAFKA_CONNECT_CONN_ID,
    NEW_REJECTS,
    POSTGRES_CONN_ID,
    SOURCE_CHANGES,
    THROUGHPUT,
    TOPIC_END,
)
from banking_cdc.transform.dbt_project import checked_silver_models

#: e-mail of a failed verdict; ``exception`` holds the list of breaches
ALERT_SUBJECT = "[banking-cdc] Monitoring alert: {{ ti.dag_id }} / {{ run_id }}"
ALERT_BODY = (
    "<p>The banking-cdc monitoring found thresholds breached or services unreachable.</p>"
    "<pre>{{ exception | e }}</pre>"
    "<p>Values: table bcdc_ops.pipeline_metrics (run {{ run_id }}); runbooks in the project README "
    "(Consumer lag, Slot growing, Connector failed).</p>"
)


class MonitoringAlertError(BankingCdcError):
    """A monitoring run found breached thresholds or unreachable services; the message lists them."""


class MetricsCollectorOperator(CaptureConfigOperator):
    """
    Base of the collectors: observe, apply the thresholds, record in the metrics table, emit Airflow gauges.

    Each subclass observes one kind of service (:meth:`collect`); the watched topics, slot and connector come
    from ``capture.yaml``, groups and thresholds from ``monitoring.yaml``. A service that is down is recorded
    as ``UNREACHABLE``; the task only fails when the metrics table itself cannot be written.

    :param config_path: Monitoring config file; ``None`` uses the packaged ``config/monitoring.yaml``.
    :param metrics_conn_id: Airflow connection of the metrics database.
    """

    ui_color = "#e3f2fd"
    #: what the collector observes, for the log and its return value
    family: ClassVar[str] = ""

    def __init__(
        self, *, config_path: str | None = None, metrics_conn_id: str = METRICS_CONN_ID, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.config_path = config_path
        self.metrics_conn_id = metrics_conn_id

    def collect(self, config: MonitoringConfig, capture: CaptureConfig, now: datetime) -> list[MetricSample]:
        """Observe the services; never raises for an unreachable one."""
        raise NotImplementedError

    def execute(self, context: Context) -> dict[str, Any]:
        config = MonitoringConfig.load(self.config_path)
        capture = self.load_capture_config()
        now = datetime.now(UTC)
        raw = collectors.timed(self.family, lambda: self.collect(config, capture, now))
        samples = observe(
            raw, config, store=MetricsStore(self.metrics_conn_id), collector=self.task_id,
            observed_at=now, run_id=context.get("run_id"),
        )  # fmt: skip
        found = breaches(samples)
        for line in found:
            self.log.warning("Breach: %s", line)
        self.log.info(
            "Recorded %d %s observations at %s (also as Airflow gauges), %d breaches",
            len(samples), self.family, now.isoformat(), len(found),
        )  # fmt: skip
        return {"family": self.family, "observed_at": now.isoformat(), "samples": len(samples), "breaches": found}


class ConsumerLagOperator(MetricsCollectorOperator):
    """
    ``kafka.consumer_lag`` per consumer group, topic and partition (metadata only; never joins a group).

    :param kafka_config_id: Airflow connection to Kafka.
    :param group_ids: Consumer groups watched in addition to ``kafka.group_ids`` of monitoring.yaml.
    """

    template_fields: Sequence[str] = ("group_ids",)
    family = "kafka"

    def __init__(self, *, kafka_config_id: str = KAFKA_CONN_ID, group_ids: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kafka_config_id = kafka_config_id
        self.group_ids = list(group_ids)

    def collect(self, config: MonitoringConfig, capture: CaptureConfig, now: datetime) -> list[MetricSample]:
        groups = list(dict.fromkeys([*config.group_ids, *(g for g in self.group_ids if g)]))
        topics = [capture.topic(table) for table in capture.source.tables]
        return collectors.collect_consumer_lag(
            groups, topics, kafka_config_id=self.kafka_config_id, timeout=config.timeout_seconds
        )


class ReplicationSlotOperator(MetricsCollectorOperator):
    """
    The replication slot of ``capture.yaml``: retained WAL bytes, ``wal_status`` and whether a client streams.

    :param postgres_conn_id: Airflow connection to the source database.
    """

    family = "postgres"

    def __init__(self, *, postgres_conn_id: str = POSTGRES_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.postgres_conn_id = postgres_conn_id

    def collect(self, config: MonitoringConfig, capture: CaptureConfig, now: datetime) -> list[MetricSample]:
        slots = [capture.connector.config["slot.name"]]
        return collectors.collect_replication_slots(slots, postgres_conn_id=self.postgres_conn_id)


class ConnectorStateOperator(MetricsCollectorOperator):
    """
    State of the Debezium connector of ``capture.yaml`` and of its tasks.

    :param kafka_connect_conn_id: Airflow connection to the Kafka Connect REST API.
    """

    family = "connect"

    def __init__(self, *, kafka_connect_conn_id: str = KAFKA_CONNECT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kafka_connect_conn_id = kafka_connect_conn_id

    def collect(self, config: MonitoringConfig, capture: CaptureConfig, now: datetime) -> list[MetricSample]:
        connectors = [capture.connector.name]
        return collectors.collect_connector_states(connectors, kafka_connect_conn_id=self.kafka_connect_conn_id)


class CaptureCoverageOperator(MetricsCollectorOperator):
    """
    Every captured table is in the publication, and its source changes move its topic
    (:mod:`banking_cdc.monitoring.coverage`): the alert for changes that a RUNNING connector never emits.

    :param postgres_conn_id: Airflow connection to the source database.
    :param kafka_config_id: Airflow connection to Kafka.
    """

    family = "capture"

    def __init__(
        self, *, postgres_conn_id: str = POSTGRES_CONN_ID, kafka_config_id: str = KAFKA_CONN_ID, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.postgres_conn_id = postgres_conn_id
        self.kafka_config_id = kafka_config_id

    def collect(self, config: MonitoringConfig, capture: CaptureConfig, now: datetime) -> list[MetricSample]:
        from banking_cdc.monitoring import coverage

        published: list[str] | None
        changes: dict[str, float] | None
        topic_ends: dict[str, float] | None
        try:
            published, changes = coverage.read_source(capture, self.postgres_conn_id)
        except Exception as exc:  # noqa: BLE001 - recorded as UNREACHABLE
            self.log.error("PostgreSQL (connection %s) is unreachable: %s", self.postgres_conn_id, exc)
            published = changes = None
        try:
            topic_ends = coverage.read_topic_ends(capture, self.kafka_config_id, config.timeout_seconds)
        except Exception as exc:  # noqa: BLE001 - recorded as UNREACHABLE
            self.log.error("Kafka (connection %s) is unreachable: %s", self.kafka_config_id, exc)
            topic_ends = None
        grace = timedelta(seconds=config.grace_seconds)
        return coverage.coverage_samples(
            capture, published=published, changes=changes, topic_ends=topic_ends,
            history=self._history(now - 3 * grace - timedelta(minutes=10)), now=now, grace=grace,
        )  # fmt: skip

    def _history(self, since: datetime) -> dict[str, list[Any]]:
        """Earlier counters per table: observations of both counters at the same time."""
        from banking_cdc.monitoring.coverage import Counters

        values: dict[tuple[str, datetime], dict[str, float]] = {}
        for row in MetricsStore(self.metrics_conn_id).read([SOURCE_CHANGES, TOPIC_END], since=since):
            if row.value is not None:
                values.setdefault((row.subject, row.observed_at), {})[row.metric] = row.value
        history: dict[str, list[Any]] = {}
        for (subject, observed_at), pair in values.items():
            if len(pair) == 2:
                history.setdefault(subject, []).append(Counters(observed_at, pair[SOURCE_CHANGES], pair[TOPIC_END]))
        return history


class WarehouseMetricsOperator(MetricsCollectorOperator, WarehouseReadOperator):
    """
    Landing files not in the bronze ledger, bronze rows/s, gold freshness and rejected values (silver.rejects),
    read through the warehouse seam.

    Opens the warehouse the switch names (or ``warehouse_backend``), so on DuckDB it runs in the pool
    ``duckdb_writer``. The warehouse arguments are those of
    :class:`~banking_cdc.operators.warehouse.WarehouseReadOperator`.

    :param aws_conn_id: Airflow connection to the object store.
    :param bucket_name: Landing bucket.
    """

    template_fields: Sequence[str] = ("bucket_name", "warehouse_backend")
    family = "warehouse"

    def __init__(
        self, *, aws_conn_id: str = AWS_CONN_ID, bucket_name: str = DEFAULT_LANDING_BUCKET, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.bucket_name = bucket_name

    def collect(self, config: MonitoringConfig, capture: CaptureConfig, now: datetime) -> list[MetricSample]:
        topics = [capture.topic(table) for table in capture.source.tables]
        backend = self.resolve_backend()
        window_start = now - timedelta(seconds=config.max_window_seconds)
        previous = self._previous_observations(THROUGHPUT, window_start)
        tables = {table: capture.topic(table) for table in capture.source.tables}
        with ExitStack() as stack:
            query: collectors.Query | None
            try:
                query = stack.enter_context(self.open_warehouse(backend)).query
            except Exception as exc:  # noqa: BLE001 - locked, missing or unreachable: recorded as UNREACHABLE
                self.log.error("Warehouse %s is unreachable: %s: %s", backend, type(exc).__name__, exc)
                query = None
            return self._warehouse_samples(config, backend, topics, tables, query, previous, now)

    def _warehouse_samples(
        self,
        config: MonitoringConfig,
        backend: str,
        topics: list[str],
        tables: dict[str, str],
        query: collectors.Query | None,
        previous: dict[str, datetime],
        now: datetime,
    ) -> list[MetricSample]:
        floor = now - timedelta(seconds=config.max_window_seconds)
        since = max(self._previous_observations(NEW_REJECTS, floor).values(), default=floor)  # the last observation
        return [
            *collectors.collect_unloaded_landing(
                topics, query, backend=backend, bucket=self.bucket_name,
                landing_prefix=config.landing_prefix, aws_conn_id=self.aws_conn_id,
            ),
            *collectors.collect_bronze_throughput(
                tables, query, previous, backend=backend, now=now,
                max_window=timedelta(seconds=config.max_window_seconds),
            ),
            *collectors.collect_gold_freshness(query, backend=backend, now=now),
            *collect_rejects(query, backend=backend, models=checked_silver_models(), since=since),
        ]  # fmt: skip

    def _previous_observations(self, metric: str, since: datetime) -> dict[str, datetime]:
        latest: dict[str, datetime] = {}
        for row in MetricsStore(self.metrics_conn_id).read([metric], since=since):
            if row.value is not None:
                latest[row.subject] = max(row.observed_at, latest.get(row.subject, row.observed_at))
        return latest


class PrepareMetricsTableOperator(BaseOperator):
    """
    Create the metrics table if missing and delete observations older than the retention.

    :param config_path: Monitoring config file (``retention_days``); ``None`` uses the packaged one.
    :param metrics_conn_id: Airflow connection of the metrics database.
    """

    def __init__(self, *, config_path: str | None = None, metrics_conn_id: str = METRICS_CONN_ID, **kwargs: Any):
        super().__init__(**kwargs)
        self.config_path = config_path
        self.metrics_conn_id = metrics_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        config = MonitoringConfig.load(self.config_path)
        store = MetricsStore(self.metrics_conn_id)
        store.ensure_schema()
        pruned = store.prune(config.retention)
        self.log.info("Metrics table ready; pruned %d observations older than %s days", pruned, config.retention_days)
        return {"pruned": pruned}


class MonitoringVerdictOperator(BaseOperator):
    """
    Fail, listing every breach, when a collector found one or did not record at all.

    Runs after all collectors whatever their state (``trigger_rule="all_done"``). The failure is the
    alert: it shows in the UI, and an ``on_failure_callback`` (see :func:`breach_email_notifier`)
    sends it by e-mail.

    :param collector_task_ids: Task ids of the collectors of the same run.
    """

    template_fields: Sequence[str] = ()

    def __init__(self, *, collector_task_ids: Sequence[str], **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.collector_task_ids = list(collector_task_ids)

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        results = {task_id: ti.xcom_pull(task_ids=task_id) for task_id in self.collector_task_ids}
        problems = verdict(results)
        if problems:
            raise MonitoringAlertError(f"{len(problems)} monitoring alert(s):\n" + "\n".join(problems))
        self.log.info("All monitored values are within their thresholds")
        return {"collectors": len(results), "breaches": 0}


def breach_email_notifier(alerts_config_path: str | None = None) -> Any:
    """
    The e-mail of a failed verdict: ``SmtpNotifier`` with the recipients of ``config/alerts.yaml``.

    Reading the packaged YAML is local file I/O only (safe at DAG parse time).

    :param alerts_config_path: Alerts config file; ``None`` uses the packaged one.
    """
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    from banking_cdc.operate.alerts import AlertsConfig

    alerts = AlertsConfig.load(alerts_config_path)
    return SmtpNotifier(
        smtp_conn_id=alerts.smtp_conn_id,
        from_email=alerts.from_email,
        to=list(alerts.to),
        subject=ALERT_SUBJECT,
        html_content=ALERT_BODY,
    )
