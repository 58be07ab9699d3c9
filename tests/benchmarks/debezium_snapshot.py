"""Benchmark: Debezium's initial snapshot of the transactions table into Kafka, rows/s.

Builds a scratch database with N transaction rows (``INSERT ... SELECT generate_series``), then
creates a second Debezium connector on it (its own slot, publication and topic prefix, the rest of
capture.yaml unchanged) and times the snapshot until every row is on the topic. The same-run
baseline is a plain confluent-kafka producer writing N messages of the same average size to a
topic with the same partitions: the ratio says how close the snapshot gets to the broker's ceiling
on this machine. Needs the native stack (``dev/stack up``); cleans up after itself.

    .venv/bin/python tests/benchmarks/debezium_snapshot.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.benchmarks.scratch_source import PUBLICATION, create_database, drop_source, write_source  # noqa: E402
from tests.stack_env import load_stack_env  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a connector setting (tuning experiments)")  # fmt: skip
    args = parser.parse_args()
    load_stack_env()

    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    from banking_cdc.capture.config import CaptureConfig
    from banking_cdc.hooks.kafka_connect import KafkaConnectHook

    pg = json.loads(os.environ["AIRFLOW_CONN_POSTGRES_SOURCE"])
    kafka = json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]
    tag = uuid.uuid4().hex[:8]
    dbname, prefix, name, slot = f"bench_{tag}", f"bench{tag}", f"bench-snapshot-{tag}", f"bench_slot_{tag}"
    topic = f"{prefix}.public.transactions"
    baseline_topic = f"bench-baseline-{tag}"
    admin = AdminClient({"bootstrap.servers": kafka["bootstrap.servers"]})
    connect = KafkaConnectHook()

    root = create_database(pg, dbname)
    try:
        written = write_source(pg, dbname, args.rows)
        print(f"source: {args.rows:,} transaction rows written in {written:.1f}s", flush=True)

        for new in (topic, baseline_topic):
            admin.create_topics([NewTopic(new, num_partitions=args.partitions, replication_factor=1)])[new].result()

        capture = CaptureConfig.load()
        config = capture.connector_config(
            host=pg["host"], port=pg["port"], user=pg["login"], password=pg["password"], dbname=dbname
        )
        config.update(
            {
                "topic.prefix": prefix,
                "slot.name": slot,
                "publication.name": PUBLICATION,
                "table.include.list": "public.transactions",
            }
        )
        config.update(dict(item.split("=", 1) for item in args.set))
        if args.set:
            print(f"overrides: {', '.join(args.set)}")
        began = time.perf_counter()
        connect.create_or_update_connector(name, config)
        consumer = Consumer({"bootstrap.servers": kafka["bootstrap.servers"], "group.id": f"bench-{tag}"})

        def on_topic(name_: str) -> int:
            return sum(
                consumer.get_watermark_offsets(TopicPartition(name_, p), timeout=10)[1] for p in range(args.partitions)
            )

        seen = 0
        while seen < args.rows:
            if time.perf_counter() - began > args.timeout:
                raise SystemExit(f"snapshot incomplete after {args.timeout:.0f}s: {seen:,} of {args.rows:,}")
            time.sleep(1)
            seen = on_topic(topic)
        snapshot_s = time.perf_counter() - began
        snapshot_rate = args.rows / snapshot_s

        # size of an average envelope, for the baseline messages
        sample = Consumer({**{"bootstrap.servers": kafka["bootstrap.servers"]}, "group.id": f"bench-s-{tag}",
                           "auto.offset.reset": "earliest"})  # fmt: skip
        sample.subscribe([topic])
        messages = [m for m in sample.consume(num_messages=200, timeout=10) if m.value()]
        sample.close()
        size = sum(len(m.value()) for m in messages) // max(len(messages), 1)
        key_size = sum(len(m.key() or b"") for m in messages) // max(len(messages), 1)
        producer = Producer({"bootstrap.servers": kafka["bootstrap.servers"], "linger.ms": 20, "acks": "all"})
        payload, began = b"x" * size, time.perf_counter()
        for i in range(args.rows):
            while True:
                try:
                    producer.produce(baseline_topic, key=str(i).rjust(key_size).encode(), value=payload)
                    break
                except BufferError:
                    producer.poll(0.05)
            if i % 10_000 == 0:
                producer.poll(0)
        producer.flush(120)
        baseline_s = time.perf_counter() - began
        baseline_rate = args.rows / baseline_s
        consumer.close()

        print(f"debezium snapshot: {args.rows:,} rows in {snapshot_s:.1f}s = {snapshot_rate:,.0f} rows/s "
              f"(avg envelope {size} B)")  # fmt: skip
        print(f"baseline producer: {args.rows:,} msgs in {baseline_s:.1f}s = {baseline_rate:,.0f} msgs/s")
        print(f"ratio snapshot / raw produce: {snapshot_rate / baseline_rate:.2f}")
    finally:
        try:
            connect.delete_connector(name)
        except Exception as exc:  # noqa: BLE001 - clean up as much as possible
            print(f"cleanup: connector: {exc}", file=sys.stderr)
        time.sleep(3)
        drop_source(root, dbname, slot)
        root.close()
        existing = admin.list_topics(timeout=10).topics
        doomed = [t for t in (topic, baseline_topic, f"{prefix}.public.debezium_signal") if t in existing]
        doomed += [t for t in existing if t.startswith(f"__debezium-heartbeat.{prefix}")]
        if doomed:
            for future in admin.delete_topics(doomed).values():
                future.result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
