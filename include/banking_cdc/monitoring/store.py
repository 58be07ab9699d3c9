"""The pipeline's metrics table: what the monitoring DAG observed, read by the health page.

One narrow table, ``bcdc_ops.pipeline_metrics``, in a PostgreSQL database reached through the
Airflow connection ``bcdc_metrics`` (the native stack creates the database ``banking_ops``; in
production any PostgreSQL the workers and the API server can reach). Not the warehouse: DuckDB
allows one process at a time, and the health page must read while the pipeline writes. Not the
source database either: the bank's OLTP database carries no pipeline state beyond Debezium's.

A row is one observation: ``metric`` (a documented name such as ``kafka.consumer_lag``), the
``subject`` it is about (a partition, a slot, a connector, a table), a numeric ``value``, an optional
text ``status`` (``wal_status``, a connector state), and the ``threshold`` it was checked against
with the verdict ``breached``. Recording the same (metric, subject, observed_at) again replaces the
row, so a retried task does not duplicate observations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

METRICS_CONN_ID = "bcdc_metrics"
#: SQLSTATE of "relation does not exist"
UNDEFINED_TABLE = "42P01"
SCHEMA = "bcdc_ops"
TABLE = f"{SCHEMA}.pipeline_metrics"

DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""
    CREATE TABLE IF NOT EXISTS {TABLE} (
        observed_at timestamptz      NOT NULL,
        metric      text             NOT NULL,
        subject     text             NOT NULL,
        value       double precision,
        status      text,
        threshold   double precision,
        breached    boolean          NOT NULL DEFAULT false,
        run_id      text,
        PRIMARY KEY (metric, subject, observed_at)
    )
    """,
    f"CREATE INDEX IF NOT EXISTS pipeline_metrics_observed_at ON {TABLE} (observed_at)",
)


def _sqlstate(err: BaseException) -> str | None:
    """The SQLSTATE of a psycopg 3 (``sqlstate``) or psycopg2 (``pgcode``) error, if it has one."""
    return getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)


@dataclass(frozen=True)
class MetricSample:
    """
    One observation of one metric about one subject.

    :param metric: Documented metric name, for example ``postgres.slot_retained_wal_bytes``.
    :param subject: What it is about, for example ``banking_cdc_slot`` or ``cdc.public.accounts/0``.
    :param value: The measured number (``None`` when only ``status`` applies or nothing was measurable).
    :param status: A state in words (``wal_status``, a connector state), if the metric has one.
    :param threshold: The limit the value was checked against, if any.
    :param breached: Whether the observation breached its threshold.
    """

    metric: str
    subject: str
    value: float | None
    status: str | None = None
    threshold: float | None = None
    breached: bool = False


@dataclass(frozen=True)
class MetricRow:
    """A stored observation: the fields of a :class:`MetricSample` with its time and run."""

    metric: str
    subject: str
    value: float | None
    status: str | None
    threshold: float | None
    breached: bool
    observed_at: datetime
    run_id: str | None


class MetricsStore:
    """
    Write and read ``bcdc_ops.pipeline_metrics`` through a PostgreSQL Airflow connection.

    :param conn_id: Airflow connection (type ``postgres``) of the metrics database.
    """

    def __init__(self, conn_id: str = METRICS_CONN_ID) -> None:
        self.conn_id = conn_id

    def _connect(self) -> Any:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        return PostgresHook(postgres_conn_id=self.conn_id).get_conn()

    def ensure_schema(self) -> None:
        """Create the schema, table and index if missing (idempotent)."""
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                for statement in DDL:
                    cur.execute(statement)
            conn.commit()
        finally:
            conn.close()

    def record(
        self,
        samples: Iterable[MetricSample],
        observed_at: datetime | None = None,
        run_id: str | None = None,
    ) -> int:
        """
        Store ``samples`` as observed at ``observed_at`` (default: now, UTC) in one transaction; a missing
        table (a fresh metrics database) is created first.

        :return: The number of rows written.
        """
        when = observed_at or datetime.now(UTC)
        batch = list(samples)
        try:
            return self._insert(batch, when, run_id)
        except Exception as err:
            # a fresh metrics database (before cdc_monitoring's first run): create the table, write again
            if _sqlstate(err) != UNDEFINED_TABLE:
                raise
            self.ensure_schema()
            return self._insert(batch, when, run_id)

    def _insert(self, samples: list[MetricSample], when: datetime, run_id: str | None) -> int:
        rows = [(when, s.metric, s.subject, s.value, s.status, s.threshold, s.breached, run_id) for s in samples]
        if not rows:
            return 0
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.executemany(
                    f"""
                    INSERT INTO {TABLE}
                        (observed_at, metric, subject, value, status, threshold, breached, run_id)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (metric, subject, observed_at) DO UPDATE SET
                        value = EXCLUDED.value, status = EXCLUDED.status, threshold = EXCLUDED.threshold,
                        breached = EXCLUDED.breached, run_id = EXCLUDED.run_id
                    """,
                    rows,
                )
            conn.commit()
        finally:
            conn.close()
        return len(rows)

    def read(
        self,
        metrics: Sequence[str] | None = None,
        since: timedelta | datetime | None = None,
        subject: str | None = None,
    ) -> list[MetricRow]:
        """
        Observations in time order, optionally of some ``metrics``, about one ``subject``, newer than
        ``since`` (an age or a time).
        """
        clauses, params = ["true"], []  # type: tuple[list[str], list[Any]]
        if metrics is not None:
            clauses.append("metric = ANY(%s)")
            params.append(list(metrics))
        if since is not None:
            start = datetime.now(UTC) - since if isinstance(since, timedelta) else since
            clauses.append("observed_at >= %s")
            params.append(start)
        if subject is not None:
            clauses.append("subject = %s")
            params.append(subject)
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    f"""
                    SELECT metric, subject, value, status, threshold, breached, observed_at, run_id
                    FROM {TABLE} WHERE {" AND ".join(clauses)}
                    ORDER BY observed_at, metric, subject
                    """,
                    params,
                )
                fetched = cur.fetchall()
        finally:
            conn.close()
        return [MetricRow(*row) for row in fetched]

    def prune(self, older_than: timedelta) -> int:
        """Delete observations older than ``older_than``; return how many were deleted."""
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"DELETE FROM {TABLE} WHERE observed_at < %s", (datetime.now(UTC) - older_than,))
                deleted = int(cur.rowcount)
            conn.commit()
        finally:
            conn.close()
        return deleted
