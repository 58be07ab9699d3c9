"""KafkaToS3Operator against real Kafka and the real object store.

Produces Debezium-shaped events (plus tombstones and poison messages) to a scratch topic, stages them,
and reads the Parquet files back: every offset is landed or quarantined exactly once, and a batch
retried after a lost commit rewrites identical objects.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration.transfers.conftest import (
    PARTITIONS,
    POISON,
    committed,
    envelope,
    operator,
    produce,
    read_objects,
    rewind,
    rows_of,
)

pytestmark = pytest.mark.integration


def test_every_offset_lands_or_is_quarantined_exactly_once(topic: str) -> None:
    events = [(i, envelope(i, "c" if i % 3 else "u")) for i in range(300)]
    deletes = [(1000 + i, envelope(1000 + i, "d")) for i in range(10)]
    tombstones: list[tuple[int, bytes | None]] = [(1000 + i, None) for i in range(10)]
    poison = [(2000 + i, value) for i, (value, _) in enumerate(POISON)]
    produce(topic, events + deletes + tombstones + poison)
    total = len(events) + len(deletes) + len(tombstones) + len(poison)

    manifest = operator(topic, f"g-{uuid.uuid4().hex[:8]}", max_messages_per_file=40).execute(context={})

    landed = rows_of(read_objects(f"raw/{topic}/"))
    quarantined = rows_of(read_objects(f"quarantine/{topic}/"))
    coordinates = [(r["kafka_partition"], r["kafka_offset"]) for r in landed + quarantined]
    assert len(coordinates) == len(set(coordinates)) == total  # each offset exactly once
    assert manifest["offsets_staged"] == total
    assert manifest["rows"] == len(landed) == len(events) + len(deletes) + len(tombstones)
    assert manifest["quarantined"] == len(quarantined) == len(POISON)
    assert sum(r["is_tombstone"] for r in landed) == manifest["tombstones"] == len(tombstones)
    # per partition, offsets are contiguous from 0: nothing skipped
    for partition in range(PARTITIONS):
        offsets = sorted(o for p, o in coordinates if p == partition)
        assert offsets == list(range(len(offsets)))
    # lossless: before/after are Debezium's exact JSON text, decimals as strings
    by_key = {(json.loads(r["kafka_key"])["transaction_id"], r["op"]): r for r in landed if not r["is_tombstone"]}
    assert by_key[(7, "c")]["after_json"] == json.dumps({"transaction_id": 7, "amount": "7.10", "status": "posted"})
    assert by_key[(7, "c")]["before_json"] is None
    assert by_key[(1003, "d")]["after_json"] is None and by_key[(1003, "d")]["source_lsn"] == 2003
    assert by_key[(6, "u")]["source_tx_id"] == 706 and by_key[(6, "u")]["event_ts_ms"] == 1_700_000_000_506
    reasons = sorted(r["reason"].split(":")[0].split(" ")[0] for r in quarantined)
    assert reasons == sorted(reason.split(":")[0].split(" ")[0] for _, reason in POISON)
    assert {bytes(r["raw_value"]) for r in quarantined} == {value for value, _ in POISON}
    # files are bounded and named by their offset range
    assert all(f["last_offset"] - f["first_offset"] < 40 for f in manifest["files"])
    for f in manifest["files"]:
        if f["key"]:
            name = f"{f['first_offset']:020d}-{f['last_offset']:020d}.parquet"
            assert f["key"] == f"raw/{topic}/partition={f['partition']}/{name}"
    assert committed(topic, manifest["group_id"]) == [
        max(o for p, o in coordinates if p == partition) + 1 for partition in range(PARTITIONS)
    ]


def test_batch_retried_after_lost_commit_rewrites_identical_objects(topic: str) -> None:
    produce(topic, [(i, envelope(i)) for i in range(120)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    first = operator(topic, group, max_messages_per_file=25).execute(context={})
    before = read_objects(f"raw/{topic}/")
    assert len(before) == len(first["files"])

    # crash after upload, before commit: the group is back at 0, and more events arrived meanwhile
    rewind(topic, group, [0] * PARTITIONS)
    produce(topic, [(i, envelope(i)) for i in range(120, 150)])
    second = operator(topic, group, max_messages_per_file=25).execute(context={})

    after = read_objects(f"raw/{topic}/")
    for key, body in before.items():
        assert after[key] == body  # same key, same bytes: the retried batch rewrote the same object
    rows = rows_of(after)
    coordinates = [(r["kafka_partition"], r["kafka_offset"]) for r in rows]
    assert len(coordinates) == len(set(coordinates)) == 150  # no overlapping ranges, nothing lost
    assert second["offsets_staged"] == 150


def test_nothing_pending_stages_nothing(topic: str) -> None:
    manifest = operator(topic, f"g-{uuid.uuid4().hex[:8]}").execute(context={})
    assert manifest["files"] == [] and manifest["offsets_staged"] == 0
