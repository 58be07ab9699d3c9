"""Benchmark: KafkaToS3Operator events/s vs a raw consume loop (the ceiling) and a naive consumer (the old way).

Produces N Debezium-shaped change events (the size of real ``transactions`` envelopes) to a scratch topic
with 6 partitions, then runs, each in its own process so that its peak memory is its own:

* ``ceiling``: a bare confluent-kafka loop that reads every message of every partition and does nothing;
* ``naive``: one ``poll()`` per message, ``json.loads`` of the whole value, JSON lines uploaded per 10,000
  messages (how the pipeline this project replaces staged; run on ``--naive-rows`` only, it is slow);
* ``operator``: :class:`KafkaToS3Operator` with ``deferrable=False`` (Parquet per 100,000 messages);

and prints events/s, the ratios operator/ceiling and operator/naive, and each process's peak RSS.
Run it twice with different ``--rows`` to see whether peak memory depends on the backlog.

    .venv/bin/python tests/benchmarks/stage_throughput.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.stack_env import load_stack_env  # noqa: E402

PARTITIONS = 6


def bootstrap() -> str:
    return json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]["bootstrap.servers"]


def envelope(i: int) -> bytes:
    row = {
        "transaction_id": i, "account_id": 1 + i % 5000, "txn_type": "transfer", "direction": "debit",
        "amount": f"{(i * 37) % 100000}.{i % 100:02d}", "status": "posted",
        "transfer_id": str(uuid.UUID(int=i)), "reverses_transaction_id": None,
        "description": "Transfer to savings account for monthly budget", "booked_at": "2026-01-01T00:00:00.000000Z",
        "posted_at": "2026-01-01T00:00:01.000000Z", "created_at": "2026-11-26T11:26:41.501615Z",
        "updated_at": "2026-11-26T11:26:41.501615Z",
    }  # fmt: skip
    return json.dumps(
        {
            "before": None, "after": row,
            "source": {"version": "3.6.1.Final", "connector": "postgresql", "name": "bank", "ts_ms": 1_795_692_401_504,
                       "snapshot": "false", "db": "banking", "sequence": '["27482704","27482848"]',
                       "ts_us": 1_795_692_401_504_700, "ts_ns": 1_795_692_401_504_700_000, "schema": "public",
                       "table": "transactions", "txId": 751 + i, "lsn": 27_482_848 + i, "xmin": None},
            "transaction": None, "op": "c", "ts_ms": 1_795_692_401_600,
        },
        separators=(",", ":"),
    ).encode()  # fmt: skip


def produce(topic: str, rows: int) -> float:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap(), "linger.ms": 50, "batch.size": 1_000_000,
                         "compression.type": "lz4", "queue.buffering.max.messages": 1_000_000})  # fmt: skip
    began = time.perf_counter()
    for i in range(rows):
        key = b'{"transaction_id":%d}' % i
        while True:
            try:
                producer.produce(topic, key=key, value=envelope(i))
                break
            except BufferError:
                producer.poll(0.05)
        if i % 20_000 == 0:
            producer.poll(0)
    producer.flush(300)
    return time.perf_counter() - began


def run_ceiling(topic: str, rows: int) -> dict[str, float]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap(), "group.id": f"bench-ceiling-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 100})  # fmt: skip
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    began, seen, size = time.perf_counter(), 0, 0
    while seen < rows:
        for message in consumer.consume(num_messages=10_000, timeout=1.0):
            if message.error() is None:
                seen += 1
                size += len(message.value())
    consumer.close()
    return {"seconds": time.perf_counter() - began, "events": seen, "bytes": size}


def run_naive(topic: str, rows: int) -> dict[str, float]:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from confluent_kafka import Consumer

    s3 = S3Hook(aws_conn_id="aws_default")
    consumer = Consumer({"bootstrap.servers": bootstrap(), "group.id": f"bench-naive-{uuid.uuid4().hex}",
                         "enable.auto.commit": True, "auto.offset.reset": "earliest"})  # fmt: skip
    consumer.subscribe([topic])
    began, seen, buffer, files = time.perf_counter(), 0, [], 0
    while seen < rows:
        message = consumer.poll(1.0)
        if message is None or message.error() is not None:
            continue
        event = json.loads(message.value())
        buffer.append(json.dumps(event["after"]))
        seen += 1
        if len(buffer) >= 10_000 or seen == rows:
            s3.load_string("\n".join(buffer), key=f"bench-naive/{topic}/{time.time_ns()}.json",
                           bucket_name="banking-landing", replace=True)  # fmt: skip
            buffer, files = [], files + 1
    consumer.close()
    return {"seconds": time.perf_counter() - began, "events": seen, "files": files}


def run_operator(topic: str, rows: int) -> dict[str, float]:
    from banking_cdc.transfers.kafka_to_s3 import KafkaToS3Operator

    operator = KafkaToS3Operator(
        task_id="bench", topics=[topic], group_id=f"bench-op-{uuid.uuid4().hex}", bucket_name="banking-landing",
        landing_prefix="bench-raw", quarantine_prefix="bench-quarantine", deferrable=False,
        max_messages_per_file=100_000,
    )  # fmt: skip
    began = time.perf_counter()
    manifest = operator.execute(context={})  # type: ignore[arg-type]
    return {
        "seconds": time.perf_counter() - began,
        "events": manifest["offsets_staged"],
        "files": len(manifest["files"]),
    }


def child(mode: str, topic: str, rows: int) -> dict[str, float]:
    """Run one mode in a fresh process; return its result and its own peak RSS (MiB)."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, "--topic", topic, "--rows", str(rows)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed (exit {proc.returncode}): {output[-2000:]}")
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return result


def cleanup(topic: str) -> None:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap()})  # keep a reference until the future resolves
    admin.delete_topics([topic])[topic].result()
    s3 = S3Hook(aws_conn_id="aws_default")
    for prefix in (f"bench-raw/{topic}/", f"bench-naive/{topic}/", f"bench-quarantine/{topic}/"):
        keys = s3.list_keys(bucket_name="banking-landing", prefix=prefix)
        for start in range(0, len(keys), 1000):
            s3.delete_objects(bucket="banking-landing", keys=keys[start : start + 1000])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--naive-rows", type=int, default=100_000)
    parser.add_argument("--child", choices=["ceiling", "naive", "operator"])
    parser.add_argument("--topic")
    args = parser.parse_args()
    load_stack_env()
    if args.child:
        runner = {"ceiling": run_ceiling, "naive": run_naive, "operator": run_operator}[args.child]
        print(json.dumps(runner(args.topic, args.rows)))
        return 0

    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"bench-stage-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap()})  # keep a reference until the future resolves
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])[topic].result()
    try:
        seconds = produce(topic, args.rows)
        print(f"produced {args.rows:,} events ({len(envelope(1))} B each) in {seconds:.1f}s", flush=True)
        ceiling = child("ceiling", topic, args.rows)
        operator = child("operator", topic, args.rows)
        naive = child("naive", topic, min(args.naive_rows, args.rows))
        rate = {name: r["events"] / r["seconds"] for name, r in (("ceiling", ceiling), ("operator", operator),
                                                                  ("naive", naive))}  # fmt: skip
        for name, result in (("ceiling", ceiling), ("operator", operator), ("naive", naive)):
            print(f"{name:<9} {int(result['events']):>10,} events in {result['seconds']:7.1f}s = "
                  f"{rate[name]:>10,.0f} events/s, peak RSS {result['peak_rss_mib']:,.0f} MiB")  # fmt: skip
        print(f"ratio operator / ceiling: {rate['operator'] / rate['ceiling']:.2f}")
        print(f"ratio operator / naive:   {rate['operator'] / rate['naive']:.1f}")
    finally:
        cleanup(topic)
    return 0


if __name__ == "__main__":
    sys.exit(main())
