"""The raw landing format: Debezium envelopes -> Arrow/Parquet, and quarantine of poison messages.

One landing file holds one (topic, partition, offset range) batch. Its object key is a pure function
of those three, so a retried batch rewrites the same object with the same bytes. Every offset of the
range is accounted for: a change event or tombstone in the landing file, or a poison message in the
quarantine file of the same range.

``before`` and ``after`` are kept as the exact JSON text Debezium produced (``msgspec.Raw``), so
nothing is lost or re-rounded on the way: decimals stay the strings the connector wrote.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

#: Debezium operations accepted in the landing zone: create, update, delete, read (snapshot), truncate
KNOWN_OPS = frozenset({"c", "u", "d", "r", "t"})

LANDING_SCHEMA = pa.schema(
    [
        pa.field("kafka_topic", pa.string(), nullable=False),
        pa.field("kafka_partition", pa.int32(), nullable=False),
        pa.field("kafka_offset", pa.int64(), nullable=False),
        pa.field("kafka_timestamp", pa.timestamp("ms", tz="UTC")),
        pa.field("kafka_key", pa.string()),
        pa.field("is_tombstone", pa.bool_(), nullable=False),
        pa.field("op", pa.string()),
        pa.field("event_ts_ms", pa.int64()),
        pa.field("source_ts_ms", pa.int64()),
        pa.field("source_lsn", pa.int64()),
        pa.field("source_tx_id", pa.int64()),
        pa.field("source_snapshot", pa.string()),
        pa.field("source_db", pa.string()),
        pa.field("source_schema", pa.string()),
        pa.field("source_table", pa.string()),
        pa.field("before_json", pa.string()),
        pa.field("after_json", pa.string()),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("kafka_topic", pa.string(), nullable=False),
        pa.field("kafka_partition", pa.int32(), nullable=False),
        pa.field("kafka_offset", pa.int64(), nullable=False),
        pa.field("kafka_timestamp", pa.timestamp("ms", tz="UTC")),
        pa.field("kafka_key", pa.binary()),
        pa.field("raw_value", pa.binary()),
        pa.field("value_bytes", pa.int64(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)

_NULL = b"null"


class _Source(msgspec.Struct):
    lsn: int | None = None
    txId: int | None = None
    ts_ms: int | None = None
    snapshot: str | None = None
    db: str | None = None
    schema: str | None = None
    table: str | None = None


class _Envelope(msgspec.Struct):
    op: str
    source: _Source
    before: msgspec.Raw = msgspec.Raw(_NULL)
    after: msgspec.Raw = msgspec.Raw(_NULL)
    ts_ms: int | None = None


_decoder = msgspec.json.Decoder(_Envelope)


def object_key(prefix: str, topic: str, partition: int, first_offset: int, last_offset: int) -> str:
    """Return the object key of a batch: ``<prefix>/<topic>/partition=<p>/<first>-<last>.parquet`` (zero-padded)."""
    return f"{prefix.strip('/')}/{topic}/partition={partition}/{first_offset:020d}-{last_offset:020d}.parquet"


def range_prefix(prefix: str, topic: str, partition: int, first_offset: int) -> str:
    """Return the key prefix shared by every batch object that starts at ``first_offset``."""
    return f"{prefix.strip('/')}/{topic}/partition={partition}/{first_offset:020d}-"


def last_offset_of_key(key: str) -> int:
    """Return the last offset encoded in a batch object key."""
    return int(key.rsplit("/", 1)[-1].split(".", 1)[0].split("-", 1)[1])


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


@dataclass
class BatchBuilder:
    """
    Accumulates one (topic, partition) batch column by column, classifying each message.

    :param topic: Kafka topic of the batch.
    :param partition: Kafka partition of the batch.
    :param max_message_bytes: A value larger than this is quarantined as oversized.
    """

    topic: str
    partition: int
    max_message_bytes: int
    first_offset: int | None = None
    last_offset: int | None = None
    value_bytes: int = 0
    _rows: dict[str, list[Any]] = field(default_factory=lambda: {name: [] for name in LANDING_SCHEMA.names})
    _poison: dict[str, list[Any]] = field(default_factory=lambda: {name: [] for name in QUARANTINE_SCHEMA.names})
    tombstones: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def messages(self) -> int:
        """Messages taken so far (landed + quarantined)."""
        return len(self._rows["kafka_offset"]) + len(self._poison["kafka_offset"])

    @property
    def landed(self) -> int:
        return len(self._rows["kafka_offset"])

    @property
    def quarantined(self) -> int:
        return len(self._poison["kafka_offset"])

    def add(self, offset: int, timestamp_ms: int | None, key: bytes | None, value: bytes | None) -> None:
        """Classify one message and append it to the landing or the quarantine columns."""
        if self.first_offset is None:
            self.first_offset = offset
        self.last_offset = offset
        size = len(value) if value is not None else 0
        self.value_bytes += size + (len(key) if key else 0)
        if value is None:
            self._land(offset, timestamp_ms, key, None)
            self.tombstones += 1
            return
        if size > self.max_message_bytes:
            self._quarantine(offset, timestamp_ms, key, value, f"oversized: {size} bytes > {self.max_message_bytes}")
            return
        try:
            envelope = _decoder.decode(value)
        except msgspec.ValidationError as exc:
            self._quarantine(offset, timestamp_ms, key, value, f"not a Debezium envelope: {exc}")
            return
        except msgspec.DecodeError as exc:
            self._quarantine(offset, timestamp_ms, key, value, f"not JSON: {exc}")
            return
        if envelope.op not in KNOWN_OPS:
            self._quarantine(offset, timestamp_ms, key, value, f"unknown op {envelope.op[:20]!r}")
            return
        before = None if bytes(envelope.before) == _NULL else bytes(envelope.before)
        after = None if bytes(envelope.after) == _NULL else bytes(envelope.after)
        if envelope.op in ("c", "r", "u") and after is None:
            self._quarantine(offset, timestamp_ms, key, value, f"op {envelope.op!r} without an after image")
            return
        if envelope.op == "d" and before is None:
            self._quarantine(offset, timestamp_ms, key, value, "op 'd' without a before image")
            return
        self._land(offset, timestamp_ms, key, (envelope, before, after))

    def _land(
        self,
        offset: int,
        timestamp_ms: int | None,
        key: bytes | None,
        parsed: tuple[_Envelope, bytes | None, bytes | None] | None,
    ) -> None:
        rows = self._rows
        rows["kafka_topic"].append(self.topic)
        rows["kafka_partition"].append(self.partition)
        rows["kafka_offset"].append(offset)
        rows["kafka_timestamp"].append(timestamp_ms)
        rows["kafka_key"].append(_text(key))
        rows["is_tombstone"].append(parsed is None)
        if parsed is None:
            for name in LANDING_SCHEMA.names[6:]:
                rows[name].append(None)
            return
        envelope, before, after = parsed
        source = envelope.source
        self.ops[envelope.op] = self.ops.get(envelope.op, 0) + 1
        rows["op"].append(envelope.op)
        rows["event_ts_ms"].append(envelope.ts_ms)
        rows["source_ts_ms"].append(source.ts_ms)
        rows["source_lsn"].append(source.lsn)
        rows["source_tx_id"].append(source.txId)
        rows["source_snapshot"].append(source.snapshot)
        rows["source_db"].append(source.db)
        rows["source_schema"].append(source.schema)
        rows["source_table"].append(source.table)
        rows["before_json"].append(_text(before))
        rows["after_json"].append(_text(after))

    def _quarantine(self, offset: int, timestamp_ms: int | None, key: bytes | None, value: bytes, reason: str) -> None:
        poison = self._poison
        poison["kafka_topic"].append(self.topic)
        poison["kafka_partition"].append(self.partition)
        poison["kafka_offset"].append(offset)
        poison["kafka_timestamp"].append(timestamp_ms)
        poison["kafka_key"].append(key)
        poison["raw_value"].append(value)
        poison["value_bytes"].append(len(value))
        poison["reason"].append(reason)
        category = reason.split(":", 1)[0].split(" '", 1)[0]
        self.reasons[category] = self.reasons.get(category, 0) + 1

    def landing_parquet(self) -> bytes | None:
        """The landing file's bytes, or ``None`` if every message of the batch was quarantined."""
        return _parquet(self._rows, LANDING_SCHEMA) if self.landed else None

    def quarantine_parquet(self) -> bytes | None:
        """The quarantine file's bytes, or ``None`` if nothing was quarantined."""
        return _parquet(self._poison, QUARANTINE_SCHEMA) if self.quarantined else None


def _parquet(columns: dict[str, list[Any]], schema: pa.Schema) -> bytes:
    table = pa.Table.from_pydict(columns, schema=schema)
    sink = io.BytesIO()
    # deterministic bytes for the same rows: fixed compression, no wall-clock metadata
    pq.write_table(table, sink, compression="zstd", use_dictionary=["kafka_topic", "op", "source_table"])
    return sink.getvalue()
