"""Benchmark: backfill of a big table to bronze, rows/s end to end, with each stage's time and peak memory.

The path a backfill takes in the product: Debezium's snapshot of the table into its topic, the stage
(:class:`KafkaToS3Operator`) to Parquet landing files, the bronze loader (:class:`S3ToDuckDBBronzeOperator`)
into DuckDB. On a scratch database (its own connector, slot, publication and topic prefix; capture.yaml
otherwise unchanged) with ``--rows`` transaction rows:

1. *snapshot*: from the connector's creation until every row is on the topic (``--partitions``);
2. *stage*: the stage operator (``deferrable=False``, 100,000 messages per file) drains the topic;
3. *load*: the bronze loader loads every landing file into a fresh DuckDB file;

then checks bronze: ``count(*)`` = distinct Kafka coordinates = distinct transaction ids = ``--rows``.
The phases run one after another (each alone on the machine), so their times add up; the rate is
``--rows`` / (snapshot + stage + load) and is printed as a ratio of the goal (50,000 rows/s). Peak memory:
stage and load each run in a child process whose peak RSS is its own (``wait4``); for the snapshot, the
Kafka Connect worker's RSS sampled every second (its JVM heap is capped at 1 GiB by ``dev/stack``).
Needs the native stack; cleans up after itself (``--keep`` keeps the DuckDB file).

    PYTHONPATH=. .venv/bin/python tests/benchmarks/backfill.py --rows 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.benchmarks.scratch_source import PUBLICATION, create_database, drop_source, write_source  # noqa: E402
from tests.stack_env import STATE, load_stack_env  # noqa: E402

GOAL_ROWS_PER_S = 50_000
BUCKET = "banking-landing"


def rss_mib(pid: int) -> float:
    """Current resident set size of ``pid`` in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class RssSampler(threading.Thread):
    """Samples a process's RSS every ``interval`` seconds; ``peak`` is the largest sample."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            self._stop_event.wait(self.interval)

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        return self.peak


def capture_file(prefix: str, directory: Path) -> Path:
    """A copy of capture.yaml whose topic prefix is ``prefix`` (so the loader maps the scratch topic)."""
    from importlib.resources import files

    import yaml

    document = yaml.safe_load(files("banking_cdc").joinpath("config/capture.yaml").read_text(encoding="utf-8"))
    document["topics"]["prefix"] = prefix
    path = directory / "capture.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def run_stage(topic: str, prefix: str) -> dict[str, Any]:
    from banking_cdc.transfers.kafka_to_s3 import KafkaToS3Operator

    operator = KafkaToS3Operator(
        task_id="backfill_stage", topics=[topic], group_id=f"bench-backfill-{uuid.uuid4().hex}",
        bucket_name=BUCKET, landing_prefix=prefix, quarantine_prefix=f"{prefix}-quarantine",
        deferrable=False, max_messages_per_file=100_000,
    )  # fmt: skip
    began = time.perf_counter()
    manifest = operator.execute(context={})  # type: ignore[arg-type]
    return {"seconds": time.perf_counter() - began, "rows": manifest["offsets_staged"], "files": len(manifest["files"])}


def run_load(prefix: str, capture: str, warehouse: str) -> dict[str, Any]:
    from banking_cdc.transfers.s3_to_duckdb import S3ToDuckDBBronzeOperator

    os.environ["AIRFLOW_CONN_DUCKDB_BACKFILL"] = json.dumps({"conn_type": "duckdb", "host": warehouse})
    operator = S3ToDuckDBBronzeOperator(
        task_id="backfill_load", bucket_name=BUCKET, landing_prefix=prefix, duckdb_conn_id="duckdb_backfill",
        sweep=True, capture_config_path=capture,
    )  # fmt: skip
    began = time.perf_counter()
    manifest = operator.execute(context={})  # type: ignore[arg-type]
    return {"seconds": time.perf_counter() - began, "rows": manifest["rows_loaded"]}


def child(*args: str) -> dict[str, Any]:
    """Run one phase in a fresh process; its result and its own peak RSS (MiB)."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"phase {args[0]} failed: {output[-2000:]}")
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return result


def snapshot(args: argparse.Namespace, pg: dict[str, Any], dbname: str, prefix: str, slot: str) -> dict[str, Any]:
    """Create the scratch connector; wait until every row is on the topic; seconds and Connect's peak RSS."""
    from confluent_kafka import Consumer, TopicPartition

    from banking_cdc.capture.config import CaptureConfig
    from banking_cdc.hooks.kafka_connect import KafkaConnectHook

    kafka = json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]
    topic = f"{prefix}.public.transactions"
    config = CaptureConfig.load().connector_config(
        host=pg["host"], port=pg["port"], user=pg["login"], password=pg["password"], dbname=dbname
    )
    config.update({"topic.prefix": prefix, "slot.name": slot, "publication.name": PUBLICATION,
                   "table.include.list": "public.transactions"})  # fmt: skip
    connect_pid = int((STATE / "run" / "kafka-connect.pid").read_text().strip())
    sampler = RssSampler(connect_pid)
    consumer = Consumer({"bootstrap.servers": kafka["bootstrap.servers"], "group.id": f"bench-{prefix}"})
    sampler.start()
    began = time.perf_counter()
    KafkaConnectHook().create_or_update_connector(f"bench-backfill-{prefix}", config)
    seen = last_report = 0
    try:
        while seen < args.rows:
            if time.perf_counter() - began > args.timeout:
                raise SystemExit(f"snapshot incomplete after {args.timeout:.0f} s: {seen:,} of {args.rows:,}")
            time.sleep(1)
            seen = sum(
                consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(args.partitions)
            )
            if seen - last_report >= args.rows // 10:
                last_report = seen
                print(f"  snapshot: {seen:,} rows on the topic after {time.perf_counter() - began:.0f} s", flush=True)
    finally:
        consumer.close()
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "rows": seen, "peak_rss_mib": sampler.stop(), "topic": topic}


def cleanup(pg_root: Any, dbname: str, prefix: str, slot: str, landing: str) -> None:
    """Delete the connector, slot, database, topics and landing objects of this run."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from confluent_kafka.admin import AdminClient

    from banking_cdc.hooks.kafka_connect import KafkaConnectHook

    try:
        KafkaConnectHook().delete_connector(f"bench-backfill-{prefix}")
    except Exception as exc:  # noqa: BLE001 - clean up as much as possible
        print(f"cleanup: connector: {exc}", file=sys.stderr)
    time.sleep(3)
    drop_source(pg_root, dbname, slot)
    kafka = json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]
    admin = AdminClient({"bootstrap.servers": kafka["bootstrap.servers"]})
    doomed = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix) or prefix in t]
    if doomed:
        for future in admin.delete_topics(doomed).values():
            future.result()
    s3 = S3Hook(aws_conn_id="aws_default")
    for where in (f"{landing}/", f"{landing}-quarantine/"):
        keys = s3.list_keys(bucket_name=BUCKET, prefix=where)
        for start in range(0, len(keys), 1000):
            s3.delete_objects(bucket=BUCKET, keys=keys[start : start + 1000])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds the snapshot may take")
    parser.add_argument("--keep", action="store_true", help="keep the DuckDB file")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    load_stack_env()
    if args.child:
        phase, *rest = args.child
        result = run_stage(*rest) if phase == "stage" else run_load(*rest)
        print(json.dumps(result))
        return 0

    import duckdb
    from confluent_kafka.admin import AdminClient, NewTopic

    pg = json.loads(os.environ["AIRFLOW_CONN_POSTGRES_SOURCE"])
    tag = uuid.uuid4().hex[:8]
    dbname, prefix, slot, landing = f"bench_{tag}", f"bench{tag}", f"bench_slot_{tag}", f"bench-backfill-{tag}"
    workdir = Path(tempfile.mkdtemp(prefix="bcdc-backfill-"))
    warehouse = workdir / "backfill.duckdb"
    root = create_database(pg, dbname)
    try:
        written = write_source(pg, dbname, args.rows)
        print(f"source: {args.rows:,} transaction rows written in {written:.1f} s (not part of the backfill)")
        kafka = json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]
        topic = f"{prefix}.public.transactions"
        admin = AdminClient({"bootstrap.servers": kafka["bootstrap.servers"]})
        admin.create_topics([NewTopic(topic, num_partitions=args.partitions, replication_factor=1)])[topic].result()

        phases: dict[str, dict[str, Any]] = {}
        phases["snapshot"] = snapshot(args, pg, dbname, prefix, slot)
        print(f"  snapshot done: {phases['snapshot']['seconds']:.1f} s", flush=True)
        phases["stage"] = child("stage", topic, landing)
        print(f"  stage done: {phases['stage']['seconds']:.1f} s, {phases['stage']['files']} files", flush=True)
        phases["load"] = child("load", landing, str(capture_file(prefix, workdir)), str(warehouse))
        print(f"  load done: {phases['load']['seconds']:.1f} s", flush=True)

        with duckdb.connect(str(warehouse), read_only=True) as conn:
            rows, coordinates, keys = conn.execute(
                "SELECT count(*), count(DISTINCT (kafka_topic, kafka_partition, kafka_offset)), "
                "count(DISTINCT after_json ->> 'transaction_id') FROM bronze.transactions"
            ).fetchone()
        if not rows == coordinates == keys == args.rows:
            raise SystemExit(f"bronze is not exact: {rows:,} rows, {coordinates:,} coordinates, {keys:,} keys")

        total = sum(p["seconds"] for p in phases.values())
        rate = args.rows / total
        print()
        print(f"backfill of {args.rows:,} rows to bronze (bronze exact: {rows:,} rows, distinct coordinates and keys)")
        print(f"{'phase':<10}{'seconds':>10}{'rows/s':>12}{'share':>8}{'peak RSS MiB':>15}")
        for name, phase in phases.items():
            print(f"{name:<10}{phase['seconds']:>10.1f}{args.rows / phase['seconds']:>12,.0f}"
                  f"{phase['seconds'] / total:>8.0%}{phase['peak_rss_mib']:>15,.0f}")  # fmt: skip
        print(f"{'total':<10}{total:>10.1f}{rate:>12,.0f}")
        print(f"ratio to the goal ({GOAL_ROWS_PER_S:,} rows/s): {rate / GOAL_ROWS_PER_S:.2f}")
    finally:
        cleanup(root, dbname, prefix, slot, landing)
        root.close()
        if args.keep:
            print(f"kept {warehouse}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
