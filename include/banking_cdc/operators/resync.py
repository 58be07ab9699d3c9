"""Resync captured tables: signal a Debezium incremental snapshot, wait until it is done and in bronze.

- :class:`DebeziumIncrementalSnapshotOperator` records the tables' topic watermarks, then inserts an
  ``execute-snapshot`` signal (id fixed per DAG run, so a retry inserts nothing) into the signal table.
- :class:`DebeziumSnapshotCompleteSensor` waits for Debezium's ``COMPLETED`` notification of that signal
  (``ABORTED`` fails it), then records the topics' watermarks: every snapshot event lies before them.
- :class:`BronzeSnapshotLoadedSensor` waits until the load ledger covers every offset between the two
  watermarks (the running stage and load DAGs land and load the events), and reports the snapshot rows.

Sensors poke quickly (a few metadata requests, one short read of the small notification topic, one ledger
query) and run in ``reschedule`` mode by default, so no worker slot is held while Debezium works.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.operate.resync import (
    ResyncError,
    notification_topic,
    resync_tables,
    signal_id,
    signal_insert_sql,
    snapshot_progress,
    snapshot_signal,
    uncovered_offsets,
)
from banking_cdc.operators.capture import CaptureConfigOperator
from banking_cdc.operators.warehouse import WarehouseReadOperator
from banking_cdc.settings import RESYNC_GROUP

if TYPE_CHECKING:
    from banking_cdc.warehouse.base import Warehouse


def _consumer(kafka_config_id: str, topics: Sequence[str]) -> Any:
    """An unsubscribed consumer of :data:`~banking_cdc.settings.RESYNC_GROUP`, which never commits."""
    from banking_cdc.hooks.kafka_group import KafkaGroupConsumerHook

    hook = KafkaGroupConsumerHook(topics=topics, group_id=RESYNC_GROUP, kafka_config_id=kafka_config_id)
    return hook.get_group_consumer(**{"auto.offset.reset": "earliest", "enable.partition.eof": True})


def topic_watermarks(
    kafka_config_id: str, topics: Sequence[str], timeout: float = 10.0
) -> dict[str, dict[str, list[int]]]:
    """``{topic: {partition (str, JSON-safe): [low, high]}}`` of every partition of ``topics``."""
    from banking_cdc.hooks.kafka_group import KafkaGroupConsumerHook

    hook = KafkaGroupConsumerHook(topics=topics, group_id=RESYNC_GROUP, kafka_config_id=kafka_config_id)
    offsets = hook.get_backlog_offsets(timeout=timeout)
    # the group never commits, so each start is the partition's low watermark
    return {topic: {str(p): [low, high] for p, (low, high) in parts.items()} for topic, parts in offsets.items()}


class DebeziumIncrementalSnapshotOperator(CaptureConfigOperator):
    """
    Ask Debezium for an incremental snapshot of captured tables through the source signal table.

    Returns ``{signal_id, tables, topics: {topic: {partition: first offset of the snapshot}}, dbt_select,
    signal_inserted}``. The signal id is derived from the DAG run, so a retried task inserts nothing new; if
    the signal already existed, the recorded start offsets are the partitions' low watermarks (a wider,
    still correct range for the bronze check).

    :param tables: Source tables to resync (validated against capture.yaml; a comma-separated string works).
    :param postgres_conn_id: Airflow connection of the source database (the signal table lives there).
    :param kafka_config_id: Airflow connection of Kafka (watermarks of the tables' topics).
    """

    template_fields: Sequence[str] = ("tables",)
    ui_color = "#e1f5fe"

    def __init__(
        self,
        *,
        tables: Any,
        postgres_conn_id: str = "postgres_source",
        kafka_config_id: str = "kafka_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.tables = tables
        self.postgres_conn_id = postgres_conn_id
        self.kafka_config_id = kafka_config_id

    def execute(self, context: Context) -> dict[str, Any]:
        capture = self.load_capture_config()
        return self.signal_snapshot(capture, resync_tables(capture, self.tables), context)

    def signal_snapshot(self, capture: CaptureConfig, tables: list[str], context: Context) -> dict[str, Any]:
        """Record the tables' watermarks and insert the signal (see the class); return the signal's info."""
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from banking_cdc.operate.resync import dbt_selection

        notification_topic(capture)  # fail before signalling if the connector cannot report completion
        dag_run = context.get("dag_run")
        run_id = getattr(dag_run, "run_id", None) or f"manual-{time.time_ns()}"
        dag_id = getattr(dag_run, "dag_id", None) or self.dag_id
        signal = signal_id(dag_id, run_id)
        topics = [capture.topic(table) for table in tables]
        watermarks = topic_watermarks(self.kafka_config_id, topics)
        kind, data = snapshot_signal(capture, tables)
        conn = PostgresHook(postgres_conn_id=self.postgres_conn_id).get_conn()
        try:
            with conn.cursor() as cur:
                cur.execute(signal_insert_sql(capture), (signal, kind, data))
                inserted = cur.rowcount == 1
            conn.commit()
        finally:
            conn.close()
        marks = {
            topic: {p: (low_high[1] if inserted else low_high[0]) for p, low_high in parts.items()}
            for topic, parts in watermarks.items()
        }
        if inserted:
            self.log.info("Signal %s inserted: incremental snapshot of %s; topics from %s", signal, tables, marks)
        else:
            self.log.warning(
                "Signal %s already existed (a retry): not inserted again; bronze will be checked from the "
                "topics' low watermarks %s", signal, marks,
            )  # fmt: skip
        return {
            "signal_id": signal,
            "tables": tables,
            "topics": marks,
            "dbt_select": dbt_selection(tables),
            "signal_inserted": inserted,
        }


class ResyncSensor(BaseSensorOperator):
    """
    Base of the resync sensors: ``reschedule`` mode, the subclass's poke interval and timeout unless the task
    sets them, and on timeout a failure that says what to check (:meth:`timeout_message`).

    :param capture_config_path: Capture configuration file; ``None`` uses the packaged one.
    """

    #: poke interval (seconds) and timeout of the subclass, unless the task sets them
    default_poke_interval: ClassVar[float]
    default_timeout: ClassVar[timedelta]

    def __init__(self, *, capture_config_path: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("mode", "reschedule")
        kwargs.setdefault("poke_interval", self.default_poke_interval)
        kwargs.setdefault("timeout", self.default_timeout.total_seconds())
        super().__init__(**kwargs)
        self.capture_config_path = capture_config_path

    def execute(self, context: Context) -> Any:
        from airflow.exceptions import AirflowSensorTimeout

        try:
            return super().execute(context)
        except AirflowSensorTimeout as exc:
            raise AirflowSensorTimeout(self.timeout_message()) from exc

    def timeout_message(self) -> str:
        """The failure message of a timeout: what did not happen in time, and where to look."""
        raise NotImplementedError


class DebeziumSnapshotCompleteSensor(ResyncSensor):
    """
    Wait until Debezium reports the end of an incremental snapshot (its notifications, channel ``sink``).

    ``COMPLETED`` succeeds and returns the signal's info plus ``ends`` (the topics' high watermarks read after
    completion: every snapshot event lies before them) and ``rows_scanned`` per table; ``ABORTED`` fails.
    Pokes every 10 s for at most 6 hours by default.

    :param signal: The return value of :class:`DebeziumIncrementalSnapshotOperator` (an XCom).
    :param kafka_config_id: Airflow connection of Kafka.
    """

    template_fields: Sequence[str] = ("signal",)
    ui_color = "#e1f5fe"
    default_poke_interval = 10
    default_timeout = timedelta(hours=6)

    def __init__(self, *, signal: Any, kafka_config_id: str = "kafka_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.signal = signal
        self.kafka_config_id = kafka_config_id

    def timeout_message(self) -> str:
        capture = CaptureConfig.load(self.capture_config_path)
        return (
            f"Debezium did not report the end of incremental snapshot {self.signal['signal_id']} of "
            f"{self.signal['tables']} within {self.timeout:.0f}s: check connector "
            f"{capture.connector.name!r} (GET /connectors/{capture.connector.name}/status) and the "
            f"notification topic {notification_topic(capture)!r}"
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        if not self.signal.get("signal_id"):
            self.log.info("No snapshot was signalled (%s): nothing to wait for", self.signal.get("reason", "no table"))
            return PokeReturnValue(is_done=True, xcom_value={**self.signal, "ends": {}, "rows_scanned": {}})
        capture = CaptureConfig.load(self.capture_config_path)
        topic = notification_topic(capture)
        progress = snapshot_progress(self.signal["signal_id"], self._notifications(topic))
        if progress.status == "ABORTED":
            raise ResyncError(f"Debezium aborted incremental snapshot {progress.signal_id} of {self.signal['tables']}")
        if progress.status != "COMPLETED":
            self.log.info("Incremental snapshot %s: %s", progress.signal_id, progress.status)
            return False
        ends = {
            topic: {p: low_high[1] for p, low_high in parts.items()}
            for topic, parts in topic_watermarks(self.kafka_config_id, list(self.signal["topics"])).items()
        }
        self.log.info(
            "Incremental snapshot %s completed: rows scanned %s (status %s); topics end at %s",
            progress.signal_id, progress.rows_scanned, progress.scan_status, ends,
        )  # fmt: skip
        return PokeReturnValue(
            is_done=True, xcom_value={**self.signal, "ends": ends, "rows_scanned": progress.rows_scanned}
        )

    def _notifications(self, topic: str) -> list[dict[str, Any]]:
        """Every notification in ``topic`` up to its high watermarks (small: a few per snapshot)."""
        from confluent_kafka import KafkaError, TopicPartition

        consumer = _consumer(self.kafka_config_id, [topic])
        notes: list[dict[str, Any]] = []
        try:
            metadata = consumer.list_topics(timeout=10)
            if topic not in metadata.topics or not metadata.topics[topic].partitions:
                self.log.info("Notification topic %s does not exist yet", topic)
                return notes
            todo: dict[int, int] = {}
            assignment = []
            for partition in metadata.topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
                if high > low:
                    todo[partition] = high
                    assignment.append(TopicPartition(topic, partition, low))
            if not assignment:
                return notes
            consumer.assign(assignment)
            deadline = time.monotonic() + 60
            while todo and time.monotonic() < deadline:
                message = consumer.poll(1.0)
                if message is None:
                    continue
                if message.error():
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        todo.pop(message.partition(), None)
                        continue
                    raise ResyncError(f"reading notification topic {topic!r} failed: {message.error()}")
                if message.offset() >= todo.get(message.partition(), 0) - 1:
                    todo.pop(message.partition(), None)
                try:
                    value = json.loads(message.value() or b"null")
                except ValueError:
                    continue  # not a notification: ignore it
                if isinstance(value, dict):
                    notes.append(value)
        finally:
            consumer.close()
        return notes


class BronzeSnapshotLoadedSensor(ResyncSensor, WarehouseReadOperator):
    """
    Wait until bronze (DuckDB) holds every event of the resync's topics up to the snapshot's end.

    Done when the load ledger covers each partition from the offset recorded at signal time to the watermark
    read at completion. Returns the signal's info plus ``snapshot_rows`` per table (bronze rows with
    ``op='r'`` and ``source_snapshot='incremental'`` in that range). A warehouse locked by a writer (the loader,
    dbt) is a "not yet", never an error. Run it in the ``duckdb_writer`` pool. Pokes every 15 s for at most
    2 hours by default. The warehouse arguments are those of
    :class:`~banking_cdc.operators.warehouse.WarehouseReadOperator`.

    :param snapshot: The return value of :class:`DebeziumSnapshotCompleteSensor` (an XCom).
    """

    template_fields: Sequence[str] = ("snapshot",)
    ui_color = "#fff3e0"
    default_poke_interval = 15
    default_timeout = timedelta(hours=2)

    def __init__(self, *, snapshot: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.snapshot = snapshot

    def timeout_message(self) -> str:
        return (
            f"bronze did not receive the snapshot of {self.snapshot['tables']} (signal "
            f"{self.snapshot['signal_id']}) within {self.timeout:.0f}s: are cdc_stage and cdc_load_bronze "
            "running? Offsets still missing are in the last poke's log"
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        import duckdb

        from banking_cdc.warehouse.base import MissingRelationError

        capture = CaptureConfig.load(self.capture_config_path)
        try:
            with self.open_warehouse() as warehouse:
                missing, rows = self._check(warehouse, capture)
        except (duckdb.IOException, duckdb.CatalogException, MissingRelationError) as exc:
            # another process holds DuckDB's write lock, or bronze is not set up yet: look again later
            self.log.info("Warehouse not readable now (%s): will look again", type(exc).__name__)
            return False
        if missing:
            self.log.info("Waiting for bronze: offsets not loaded yet %s", missing)
            return False
        self.log.info(
            "Snapshot of %s is in bronze: %s incremental-snapshot row(s) (rows scanned %s)",
            self.snapshot["tables"], rows, self.snapshot.get("rows_scanned"),
        )  # fmt: skip
        return PokeReturnValue(is_done=True, xcom_value={**self.snapshot, "snapshot_rows": rows})

    def _check(self, warehouse: Warehouse, capture: CaptureConfig) -> tuple[dict[str, Any], dict[str, int]]:
        missing: dict[str, Any] = {}
        rows: dict[str, int] = {}
        for table in self.snapshot["tables"]:
            topic = capture.topic(table)
            marks = {int(p): int(o) for p, o in self.snapshot["topics"][topic].items()}
            ends = {int(p): int(o) for p, o in self.snapshot["ends"][topic].items()}
            ledger = warehouse.ledger(bronze_table=table, last_offset_from=min(marks.values(), default=0))
            ranges = [
                (row.landing.partition, row.first_offset, row.last_offset)
                for row in ledger
                if row.landing.topic == topic
            ]
            gaps = uncovered_offsets(ranges, marks, ends)
            if gaps:
                missing[topic] = gaps
                continue
            windows = [(p, marks.get(p, 0), end) for p, end in ends.items() if end > marks.get(p, 0)]
            if not windows:
                rows[table] = 0
                continue
            condition = " OR ".join("(kafka_partition = ? AND kafka_offset >= ? AND kafka_offset < ?)" for _ in windows)
            parameters: list[Any] = [topic]
            for window in windows:
                parameters.extend(window)
            ((count,),) = warehouse.query(
                f"SELECT count(*) FROM {warehouse.bronze_relation(table)} WHERE kafka_topic = ? AND op = 'r' "
                f"AND source_snapshot = 'incremental' AND ({condition})",
                parameters,
            )
            rows[table] = int(count)
        return missing, rows
