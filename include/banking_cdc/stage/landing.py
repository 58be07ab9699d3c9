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
import pyarrow.compute as pc
import pyarrow.parquet as pq

#: Debezium operations accepted in the landing zone: create, update, delete, read (snapshot), truncate
KNOWN_OPS = frozenset({"c", "u", "d", "r", "t"})

#: where a message came from: the leading columns of landing and quarantine files alike
_KAFKA_FIELDS = (
    pa.field("kafka_topic", pa.string(), nullable=False),
    pa.field("kafka_partition", pa.int32(), nullable=False),
    pa.field("kafka_offset", pa.int64(), nullable=False),
    pa.field("kafka_timestamp", pa.timestamp("ms", tz="UTC")),
)

LANDING_SCHEMA = pa.schema(
    [
        *_KAFKA_FIELDS,
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
        *_KAFKA_FIELDS,
        pa.field("kafka_key", pa.binary()),  # as received: a poison message's key may not be text
        pa.field("raw_value", pa.binary()),
        pa.field("value_bytes", pa.int64(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)

_NULL = b"null"


class _Source(msgspec.Struct, gc=False):
    lsn: int | None = None
    txId: int | None = None
    ts_ms: int | None = None
    snapshot: str | None = None
    db: str | None = None
    schema: str | None = None
    table: str | None = None


class _Envelope(msgspec.Struct, gc=False):
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


@dataclass
class BatchBuilder:
    """
    Accumulates one (topic, partition) batch; classifies and converts it column-wise when it is flushed.

    ``add`` only records the message (the hot path does no parsing); :meth:`finalize` decodes every value
    of the batch with one ``msgspec`` call (falling back to one call per message to single out poison),
    then applies the envelope rules and builds the landing and quarantine columns.

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
    messages: int = 0
    _offsets: list[int] = field(default_factory=list)
    _timestamps: list[int | None] = field(default_factory=list)
    _keys: list[bytes | None] = field(default_factory=list)
    _values: list[bytes | None] = field(default_factory=list)
    _landing: pa.Table | None = None
    _poison: dict[str, list[Any]] | None = None
    tombstones: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, offset: int, timestamp_ms: int | None, key: bytes | None, value: bytes | None) -> None:
        """Record one message of the batch (classified later, at :meth:`finalize`)."""
        if self.first_offset is None:
            self.first_offset = offset
        self.last_offset = offset
        self.messages += 1
        self.value_bytes += (len(value) if value is not None else 0) + (len(key) if key else 0)
        self._offsets.append(offset)
        self._timestamps.append(timestamp_ms)
        self._keys.append(key)
        self._values.append(value)

    @property
    def landed(self) -> int:
        """Messages in the landing file (change events and tombstones)."""
        self.finalize()
        assert self._landing is not None
        return self._landing.num_rows

    @property
    def quarantined(self) -> int:
        """Messages in the quarantine file."""
        self.finalize()
        assert self._poison is not None
        return len(self._poison["kafka_offset"])

    def finalize(self) -> None:
        """Classify every message and build the columns (idempotent).

        Fast path: every value decodes and passes the envelope rules, so the columns are built with list
        comprehensions over the whole batch. Any oversized, undecodable or invalid message sends the batch
        down the per-message path, which quarantines exactly those messages.
        """
        if self._landing is not None:
            return
        values = self._values
        present = [i for i, v in enumerate(values) if v is not None]
        envelopes: list[_Envelope | None] = [None] * len(values)
        reasons: dict[int, str] = {}
        try:
            if any(len(values[i]) > self.max_message_bytes for i in present):  # type: ignore[arg-type]
                raise ValueError("oversized")
            decoded = [_decoder.decode(values[i]) for i in present]  # type: ignore[arg-type]
            if not {e.op for e in decoded} <= KNOWN_OPS or any(_envelope_problem(e) for e in decoded):
                raise ValueError("invalid envelope")
            for i, envelope in zip(present, decoded, strict=True):
                envelopes[i] = envelope
        except (ValueError, msgspec.MsgspecError):
            reasons = self._classify_one_by_one(present, envelopes)
        keep = [i for i in range(len(values)) if i not in reasons] if reasons else list(range(len(values)))
        self._poison = self._poison_columns(reasons)
        self._landing = self._landing_table(keep, [envelopes[i] for i in keep])

    def _classify_one_by_one(self, present: list[int], envelopes: list[_Envelope | None]) -> dict[int, str]:
        reasons: dict[int, str] = {}
        for index in present:
            value = self._values[index]
            assert value is not None
            if len(value) > self.max_message_bytes:
                reasons[index] = f"oversized: {len(value)} bytes > {self.max_message_bytes}"
                continue
            try:
                envelope = _decoder.decode(value)
            except msgspec.ValidationError as exc:
                reasons[index] = f"not a Debezium envelope: {exc}"
                continue
            except msgspec.DecodeError as exc:
                reasons[index] = f"not JSON: {exc}"
                continue
            problem = _envelope_problem(envelope)
            if problem:
                reasons[index] = problem
                continue
            envelopes[index] = envelope
        return reasons

    def _poison_columns(self, reasons: dict[int, str]) -> dict[str, list[Any]]:
        poison: dict[str, list[Any]] = {name: [] for name in QUARANTINE_SCHEMA.names}
        for index in sorted(reasons):
            value = self._values[index]
            assert value is not None
            poison["kafka_topic"].append(self.topic)
            poison["kafka_partition"].append(self.partition)
            poison["kafka_offset"].append(self._offsets[index])
            poison["kafka_timestamp"].append(self._timestamps[index])
            poison["kafka_key"].append(self._keys[index])
            poison["raw_value"].append(value)
            poison["value_bytes"].append(len(value))
            poison["reason"].append(reasons[index])
            category = reasons[index].split(":", 1)[0].split(" '", 1)[0]
            self.reasons[category] = self.reasons.get(category, 0) + 1
        return poison

    def _landing_table(self, keep: list[int], events: list[_Envelope | None]) -> pa.Table:
        offsets, timestamps, keys = self._offsets, self._timestamps, self._keys
        live = [e for e in events if e is not None]
        self.tombstones = len(events) - len(live)
        for op in {e.op for e in live}:
            self.ops[op] = sum(1 for e in live if e.op == op)
        sources = [None if e is None else e.source for e in events]
        befores = [None if e is None else bytes(e.before) for e in events]
        afters = [None if e is None else bytes(e.after) for e in events]
        columns: dict[str, Any] = {
            "kafka_topic": pa.array([self.topic] * len(keep), pa.string()),
            "kafka_partition": pa.array([self.partition] * len(keep), pa.int32()),
            "kafka_offset": pa.array([offsets[i] for i in keep], pa.int64()),
            "kafka_timestamp": pa.array([timestamps[i] for i in keep], pa.timestamp("ms", tz="UTC")),
            "kafka_key": _utf8([keys[i] for i in keep]),
            "is_tombstone": pa.array([e is None for e in events], pa.bool_()),
            "op": pa.array([None if e is None else e.op for e in events], pa.string()),
            "event_ts_ms": pa.array([None if e is None else e.ts_ms for e in events], pa.int64()),
            "source_ts_ms": pa.array([None if s is None else s.ts_ms for s in sources], pa.int64()),
            "source_lsn": pa.array([None if s is None else s.lsn for s in sources], pa.int64()),
            "source_tx_id": pa.array([None if s is None else s.txId for s in sources], pa.int64()),
            "source_snapshot": pa.array([None if s is None else s.snapshot for s in sources], pa.string()),
            "source_db": pa.array([None if s is None else s.db for s in sources], pa.string()),
            "source_schema": pa.array([None if s is None else s.schema for s in sources], pa.string()),
            "source_table": pa.array([None if s is None else s.table for s in sources], pa.string()),
            "before_json": _json_column(befores),
            "after_json": _json_column(afters),
        }
        return pa.Table.from_pydict(columns, schema=LANDING_SCHEMA)

    def landing_parquet(self) -> bytes | None:
        """The landing file's bytes, or ``None`` if every message of the batch was quarantined."""
        self.finalize()
        assert self._landing is not None
        return _write(self._landing) if self._landing.num_rows else None

    def quarantine_parquet(self) -> bytes | None:
        """The quarantine file's bytes, or ``None`` if nothing was quarantined."""
        self.finalize()
        assert self._poison is not None
        if not self._poison["kafka_offset"]:
            return None
        return _write(pa.Table.from_pydict(self._poison, schema=QUARANTINE_SCHEMA))


def _json_column(raws: list[bytes | None]) -> pa.Array:
    """Debezium's raw JSON text of before/after; the JSON ``null`` becomes a SQL NULL."""
    array = pa.array(raws, pa.binary()).cast(pa.string())  # msgspec accepted it, so it is valid UTF-8
    return pc.if_else(pc.equal(array, "null"), pa.scalar(None, pa.string()), array)


def _utf8(values: list[bytes | None]) -> pa.Array:
    """Bytes as a string column; invalid UTF-8 (a malformed key) is kept with replacement characters."""
    array = pa.array(values, pa.binary())
    try:
        return array.cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array([None if v is None else v.decode("utf-8", errors="replace") for v in values], pa.string())


def _envelope_problem(envelope: _Envelope) -> str | None:
    """Why a decoded envelope cannot be landed, or ``None``."""
    if envelope.op not in KNOWN_OPS:
        return f"unknown op {envelope.op[:20]!r}"
    if envelope.op in ("c", "r", "u") and bytes(envelope.after) == _NULL:
        return f"op {envelope.op!r} without an after image"
    if envelope.op == "d" and bytes(envelope.before) == _NULL:
        return "op 'd' without a before image"
    return None


def _write(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    # deterministic bytes for the same rows: fixed compression, no wall-clock metadata
    pq.write_table(table, sink, compression="zstd", use_dictionary=["kafka_topic", "op", "source_table"])
    return sink.getvalue()
