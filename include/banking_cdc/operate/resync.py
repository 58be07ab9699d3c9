"""Resync of captured tables through Debezium incremental snapshots: the pure parts, unit-tested.

A resync inserts an ``execute-snapshot`` signal (type ``INCREMENTAL``) into the signal table; the connector
reads it from the WAL stream and re-emits every row of the chosen tables as ``op=r`` events, chunk by chunk,
while streaming goes on. Completion is read from Debezium's notifications (channel ``sink``): every
notification of an incremental snapshot carries the signal's id, and ``COMPLETED`` / ``ABORTED`` end it
(``TABLE_SCAN_COMPLETED`` reports the rows scanned per table). The snapshot is in bronze when the load ledger
covers every offset of the tables' topics from the signal (the watermarks recorded before inserting it) to the
watermarks read once Debezium reported completion.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.exceptions import BankingCdcError

#: Debezium's signal type and snapshot type of a resync
SIGNAL_TYPE = "execute-snapshot"
SNAPSHOT_TYPE = "INCREMENTAL"
#: connector settings the resync relies on (capture.yaml, connector.config)
NOTIFICATION_CHANNELS_KEY = "notification.enabled.channels"
NOTIFICATION_TOPIC_KEY = "notification.sink.topic.name"
#: ``aggregate_type`` of incremental-snapshot notifications
INCREMENTAL_AGGREGATE = "Incremental Snapshot"
#: the dbt model that stages a captured table (silver); ``+`` selects it and everything downstream
STAGING_MODEL = "stg_{table}"


class ResyncError(BankingCdcError):
    """A resync cannot be started, or its snapshot failed; the message names the table, key or signal."""


def resync_tables(capture: CaptureConfig, tables: Any) -> list[str]:
    """
    Validate the ``tables`` param against capture.yaml and return them in capture order, without repeats.

    :param capture: The capture configuration.
    :param tables: A list of source table names (or one comma-separated string).
    :raises ResyncError: Nothing named, a name that is not a string, or a table not captured (named).
    """
    if isinstance(tables, str):
        tables = [part.strip() for part in tables.split(",") if part.strip()]
    if not isinstance(tables, list | tuple) or not tables:
        raise ResyncError(
            f"param 'tables' must name at least one captured table ({', '.join(capture.source.tables)}), got {tables!r}"
        )
    bad = [name for name in tables if not isinstance(name, str)]
    if bad:
        raise ResyncError(f"param 'tables' must hold table names (strings), got {bad[0]!r}")
    schema_prefix = f"{capture.source.schema}."
    names = [name.strip().removeprefix(schema_prefix) for name in tables]
    unknown = [name for name in dict.fromkeys(names) if name not in capture.source.tables]
    if unknown:
        raise ResyncError(
            f"table(s) {', '.join(repr(n) for n in unknown)} not captured: capture.yaml source.tables is "
            f"{', '.join(capture.source.tables)}"
        )
    return [table for table in capture.source.tables if table in names]


def signal_id(dag_id: str, run_id: str) -> str:
    """A signal id that is the same for every try of one DAG run (so a retried insert is a no-op); 48 chars."""
    return f"bcdc-resync-{uuid.uuid5(uuid.NAMESPACE_URL, f'airflow://{dag_id}/{run_id}')}"


def snapshot_signal(capture: CaptureConfig, tables: Sequence[str]) -> tuple[str, str]:
    """The signal row's ``type`` and ``data``: an incremental snapshot of the schema-qualified tables."""
    data = {"data-collections": [capture.source.qualified(table) for table in tables], "type": SNAPSHOT_TYPE}
    return SIGNAL_TYPE, json.dumps(data, separators=(",", ":"))


def signal_insert_sql(capture: CaptureConfig) -> str:
    """The idempotent insert of a signal row (``%s`` placeholders: id, type, data)."""
    table = capture.source.qualified(capture.source.signal_table)
    return f"INSERT INTO {table} (id, type, data) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING"


def notification_topic(capture: CaptureConfig) -> str:
    """The topic Debezium writes its notifications to; raises naming the capture.yaml key when not set."""
    config = capture.connector.config
    channels = [c.strip() for c in config.get(NOTIFICATION_CHANNELS_KEY, "").split(",")]
    topic = config.get(NOTIFICATION_TOPIC_KEY, "").strip()
    if "sink" not in channels or not topic:
        raise ResyncError(
            f"capture.yaml connector.config must enable the 'sink' channel in {NOTIFICATION_CHANNELS_KEY} and name "
            f"{NOTIFICATION_TOPIC_KEY}: the resync waits on Debezium's snapshot notifications"
        )
    return topic


def dbt_selection(tables: Sequence[str]) -> str:
    """dbt ``--select`` of a resync: each table's staging model and everything downstream of it."""
    return " ".join(f"{STAGING_MODEL.format(table=table)}+" for table in tables)


@dataclass
class SnapshotProgress:
    """
    What Debezium's notifications say about one incremental snapshot.

    :param signal_id: The ``execute-snapshot`` signal's id (= the notifications' id).
    :param status: ``pending`` (nothing seen yet), ``STARTED``, ``IN_PROGRESS``, ``COMPLETED`` or ``ABORTED``.
    :param rows_scanned: ``total_rows_scanned`` per fully-qualified table, from ``TABLE_SCAN_COMPLETED``.
    :param scan_status: ``status`` per fully-qualified table (``SUCCEEDED``, ``EMPTY``, ...).
    """

    signal_id: str
    status: str = "pending"
    rows_scanned: dict[str, int] = field(default_factory=dict)
    scan_status: dict[str, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        """Whether Debezium reported the end of the snapshot (``COMPLETED`` or ``ABORTED``)."""
        return self.status in ("COMPLETED", "ABORTED")


def snapshot_progress(signal: str, notifications: Iterable[Mapping[str, Any]]) -> SnapshotProgress:
    """
    Fold Debezium notifications (decoded JSON values, in topic order) into the progress of one snapshot.

    Only incremental-snapshot notifications whose ``id`` is ``signal`` count; others (initial snapshots,
    other resyncs) are ignored.
    """
    progress = SnapshotProgress(signal_id=signal)
    for note in notifications:
        if note.get("id") != signal or note.get("aggregate_type") != INCREMENTAL_AGGREGATE:
            continue
        kind = str(note.get("type", ""))
        extra = note.get("additional_data") or {}
        if kind == "TABLE_SCAN_COMPLETED":
            collection = str(extra.get("scanned_collection", ""))
            progress.scan_status[collection] = str(extra.get("status", ""))
            try:
                progress.rows_scanned[collection] = int(extra.get("total_rows_scanned", 0))
            except (TypeError, ValueError):
                progress.rows_scanned[collection] = 0
        if progress.status in ("COMPLETED", "ABORTED"):
            continue  # an end is final
        if kind in ("STARTED", "IN_PROGRESS", "PAUSED", "RESUMED", "COMPLETED", "ABORTED"):
            progress.status = kind
        elif kind == "TABLE_SCAN_COMPLETED" and progress.status == "pending":
            progress.status = "IN_PROGRESS"
    return progress


def uncovered_offsets(
    ledger_ranges: Iterable[tuple[int, int, int]], marks: Mapping[int, int], ends: Mapping[int, int]
) -> dict[int, tuple[int, int]]:
    """
    The first gap, per partition, between what must be in bronze and what the load ledger covers.

    :param ledger_ranges: ``(partition, first_offset, last_offset)`` of the topic's ledger rows.
    :param marks: Per partition, the first offset that must be loaded (the watermark when the signal was sent).
    :param ends: Per partition, the offset after the last one that must be loaded (watermark at completion).
    :return: ``{partition: (first_missing, end)}`` for every partition not fully covered; empty when done.
    """
    by_partition: dict[int, list[tuple[int, int]]] = {}
    for partition, first, last in ledger_ranges:
        by_partition.setdefault(int(partition), []).append((int(first), int(last)))
    gaps: dict[int, tuple[int, int]] = {}
    for partition, end in ends.items():
        position = int(marks.get(partition, 0))  # next offset that must be covered
        for first, last in sorted(by_partition.get(int(partition), [])):
            if position >= end:
                break
            if first > position:
                break
            position = max(position, last + 1)
        if position < end:
            gaps[int(partition)] = (position, int(end))
    return gaps
