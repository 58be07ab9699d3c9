"""Fault drills for KafkaToS3Operator: a worker killed mid-batch, a broker restart, the object store down.

After each fault, a normal rerun must leave exactly the produced offsets in the landing zone: none lost,
none duplicated. Faults are injected from the test side (a killed child process, a stopped service);
the product code runs unchanged.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from banking_cdc.transfers.kafka_to_s3 import KafkaStageError
from tests.integration.transfers.conftest import (
    PARTITIONS,
    committed,
    envelope,
    operator,
    produce,
    read_objects,
    rows_of,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
STACK = [sys.executable, str(ROOT / "dev" / "stack.py")]

CHILD = """
import os, signal, sys
sys.path.insert(0, {root!r})
from banking_cdc.transfers.kafka_to_s3 import KafkaToS3Operator
from airflow.providers.amazon.aws.hooks.s3 import S3Hook

FAULT = {fault!r}
calls = {{"n": 0}}

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if FAULT == "after_upload_before_commit":
    real_consumer = KafkaToS3Operator._consumer
    class Proxy:
        def __init__(self, inner): self._inner = inner
        def __getattr__(self, name): return getattr(self._inner, name)
        def commit(self, *a, **k):
            calls["n"] += 1
            if calls["n"] == 2:  # the second batch's objects are written, its commit never happens
                die()
            return self._inner.commit(*a, **k)
    KafkaToS3Operator._consumer = lambda self: Proxy(real_consumer(self))
elif FAULT == "after_consume_before_upload":
    real_load = S3Hook.load_bytes
    def load_bytes(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:  # the second batch was consumed and built, never uploaded
            die()
        return real_load(self, *a, **k)
    S3Hook.load_bytes = load_bytes

op = KafkaToS3Operator(task_id="stage", topics=[{topic!r}], group_id={group!r}, bucket_name="banking-landing",
                       deferrable=False, max_messages_per_file=50, max_message_bytes=4096)
op.execute(context={{}})
"""


def run_child(topic: str, group: str, fault: str) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(CHILD.format(root=str(ROOT), fault=fault, topic=topic, group=group))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def assert_exactly_once(topic: str, expected: int) -> None:
    rows = rows_of(read_objects(f"raw/{topic}/"))
    coordinates = [(r["kafka_partition"], r["kafka_offset"]) for r in rows]
    assert len(coordinates) == len(set(coordinates)), "an offset landed twice"
    assert len(coordinates) == expected, f"{len(coordinates)} of {expected} offsets landed"
    for partition in range(PARTITIONS):
        offsets = sorted(o for p, o in coordinates if p == partition)
        assert offsets == list(range(len(offsets))), f"partition {partition} has a gap"


@pytest.mark.parametrize("fault", ["after_upload_before_commit", "after_consume_before_upload"])
def test_worker_killed_mid_batch_loses_and_duplicates_nothing(topic: str, fault: str) -> None:
    produce(topic, [(i, envelope(i)) for i in range(600)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    killed = run_child(topic, group, fault)
    assert killed.returncode == -9, killed.stderr[-2000:]  # SIGKILL: no cleanup, no last commit
    written_before = read_objects(f"raw/{topic}/")
    assert written_before, "the child wrote nothing before it was killed"
    committed_before = committed(topic, group)

    manifest = operator(topic, group, max_messages_per_file=50).execute(context={})

    assert_exactly_once(topic, 600)
    after = read_objects(f"raw/{topic}/")
    for key, body in written_before.items():
        assert after[key] == body  # what the killed worker wrote was rewritten identically, not duplicated
    # the rerun started where the group's commits had got to
    started = {f["partition"]: f["first_offset"] for f in sorted(manifest["files"], key=lambda f: -f["first_offset"])}
    for partition, offset in enumerate(committed_before):
        if offset >= 0 and partition in started:
            assert started[partition] >= offset


def test_object_store_down_fails_clearly_commits_nothing_then_recovers(topic: str) -> None:
    produce(topic, [(i, envelope(i)) for i in range(90)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    subprocess.run([*STACK, "stop", "object-store"], check=True, capture_output=True)
    try:
        with pytest.raises(
            KafkaStageError,
            match=r"s3://banking-landing/.* failed \(EndpointConnectionError: .*\); offsets of .* stay uncommitted",
        ):
            operator(topic, group).execute(context={})
        assert all(offset < 0 for offset in committed(topic, group))  # no offset committed
    finally:
        subprocess.run([*STACK, "start", "object-store"], check=True, capture_output=True)
    operator(topic, group).execute(context={})
    assert_exactly_once(topic, 90)


def test_broker_restart_mid_run_lands_everything(topic: str) -> None:
    produce(topic, [(i, json.dumps(json.loads(envelope(i))).encode()) for i in range(6000)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    outcome: dict[str, object] = {}

    def stage() -> None:
        try:
            outcome["manifest"] = operator(topic, group, max_messages_per_file=100, consume_timeout=90).execute(
                context={}
            )
        except Exception as exc:  # noqa: BLE001 - a failed attempt is allowed; the rerun must complete
            outcome["error"] = exc

    worker = threading.Thread(target=stage)
    worker.start()
    deadline = time.monotonic() + 60
    while not read_objects(f"raw/{topic}/") and time.monotonic() < deadline:
        time.sleep(0.2)
    subprocess.run([*STACK, "stop", "kafka"], check=True, capture_output=True)
    time.sleep(2)
    subprocess.run([*STACK, "start", "kafka"], check=True, capture_output=True)
    worker.join(timeout=300)
    assert not worker.is_alive()
    operator(topic, group, max_messages_per_file=100).execute(context={})  # the next scheduled run
    assert_exactly_once(topic, 6000)
