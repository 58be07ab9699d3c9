"""What the end-to-end test and the fault drills share: drain barrier, bronze exactness, gold reconciliation.

The pipeline is :class:`tests.support.pipeline.Pipeline` (a local Airflow with its own DuckDB warehouse, landing
bucket and stage consumer group). Here are the checks made on it once the source is quiet:

- :func:`drain`: a marker commit on every captured table, then waits until Debezium has put it in Kafka, the
  stage group has committed every offset up to the high watermarks, and no load (or dbt) run is queued or
  running for a while: every change committed before the barrier is then in bronze (and gold, when dbt runs).
- :func:`bronze_exactness`: per topic, no Kafka coordinate twice in bronze (0 duplicated), every offset of every
  partition accounted for (0 lost at the Kafka level), and the latest image of every key in bronze equals the
  live source row (0 lost end to end: every live source key, no deleted one, the same money and statuses).
- :func:`reconcile_gold`: ``python -m banking_cdc.reconcile --json`` strict on the pipeline's warehouse.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.source_changes import change_every_table
from tests.support.airflow_local import AirflowClusterError
from tests.support.pipeline import CHAIN, Pipeline

TABLES = ("customers", "accounts", "transactions")
TOPICS = {table: f"bank.public.{table}" for table in TABLES}
#: compared per key between the source and the latest bronze image (money as Decimal, the rest as text)
COMPARED = {
    "customers": ("customer_id", ("tier", "kyc_status", "email")),
    "accounts": ("account_id", ("status", "balance")),
    "transactions": ("transaction_id", ("status", "amount")),
}
MONEY = {"balance", "amount"}


def say(message: str) -> None:
    print(f"e2e [{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _consumer(group: str) -> Any:
    from confluent_kafka import Consumer

    extra = json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]
    return Consumer(
        {"bootstrap.servers": extra["bootstrap.servers"], "group.id": group, "enable.auto.commit": False,
         "auto.offset.reset": "earliest"}
    )  # fmt: skip


def stage_backlog(group: str) -> dict[str, dict[int, tuple[int, int]]]:
    """``{topic: {partition: (committed, high)}}`` of the stage group."""
    from banking_cdc.hooks.kafka_group import backlog_offsets

    consumer = _consumer(group)
    try:
        return backlog_offsets(consumer, list(TOPICS.values()), timeout=10)
    finally:
        consumer.close()


def wait_until_captured(marker_customer: int, timeout: float = 300) -> None:
    """Wait until the marker customer's insert is in ``bank.public.customers`` (and so everything before it:
    Debezium streams in commit order and the marker is the last commit on every table)."""
    from confluent_kafka import TopicPartition

    consumer = _consumer(f"e2e-marker-{marker_customer}")
    deadline = time.monotonic() + timeout
    try:
        metadata = consumer.list_topics(TOPICS["customers"], timeout=10)
        partitions = sorted(metadata.topics[TOPICS["customers"]].partitions)
        consumer.assign([TopicPartition(TOPICS["customers"], p, 0) for p in partitions])
        while time.monotonic() < deadline:
            for message in consumer.consume(num_messages=500, timeout=1.0):
                if message.error() is None and message.key():
                    if json.loads(message.key()) == {"customer_id": marker_customer}:
                        return
        raise AirflowClusterError(f"the marker customer {marker_customer} was not captured within {timeout:.0f} s")
    finally:
        consumer.close()


def drain(pipeline: Pipeline, group: str, timeout: float = 600, quiet_for: float = 20) -> float:
    """
    Barrier after a workload: a marker change on every table, captured, staged (group committed up to the
    high watermarks), loaded (no load / dbt run active for ``quiet_for`` s). Returns the seconds it took.
    """
    began = time.monotonic()
    marker = change_every_table()
    wait_until_captured(marker, timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        pipeline.airflow.check_alive()
        pending = {
            topic: {p: high - start for p, (start, high) in parts.items() if high > start}
            for topic, parts in stage_backlog(group).items()
        }
        if not any(pending.values()):
            break
        if time.monotonic() > deadline:
            raise AirflowClusterError(f"the stage did not catch up within {timeout:.0f} s: pending {pending}")
        time.sleep(2)
    pipeline.wait_until_idle(time.time() - 45, quiet_for=quiet_for, timeout=timeout)
    return time.monotonic() - began


def _read_only(warehouse: Path, attempts: int = 30) -> Any:
    import duckdb

    for attempt in range(attempts):
        try:
            return duckdb.connect(str(warehouse), read_only=True)
        except duckdb.IOException:  # a writer still holds the file
            if attempt == attempts - 1:
                raise
            time.sleep(2)
    raise AssertionError("unreachable")


def source_rows() -> dict[str, dict[int, tuple[Any, ...]]]:
    """Live source rows: ``{table: {key: compared values}}``, in one snapshot."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    conn = PostgresHook(postgres_conn_id="postgres_source").get_conn()
    result: dict[str, dict[int, tuple[Any, ...]]] = {}
    try:
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            for table, (key, columns) in COMPARED.items():
                cur.execute(f"SELECT {key}, {', '.join(columns)} FROM {table}")
                result[table] = {int(row[0]): _normalise(columns, row[1:]) for row in cur.fetchall()}
        conn.rollback()
    finally:
        conn.close()
    return result


def _normalise(columns: tuple[str, ...], values: tuple[Any, ...] | list[Any]) -> tuple[Any, ...]:
    return tuple(
        (Decimal(str(v)) if c in MONEY else str(v)) if v is not None else None
        for c, v in zip(columns, values, strict=True)
    )


def bronze_exactness(pipeline: Pipeline, group: str) -> dict[str, Any]:
    """
    Compare bronze with Kafka and the source (the source quiet, the pipeline drained); return what differs.

    ``duplicated``: coordinates present more than once per topic; ``offset_gaps``: per topic and partition,
    offsets below the stage group's committed offset that bronze does not hold (landed rows include tombstones,
    so every offset of a change topic is a row; a quarantined one would show here); ``missing_keys`` /
    ``extra_keys`` / ``different_keys``: live source keys whose latest bronze image (by LSN, offset) is absent or
    a delete, keys bronze holds live that the source deleted, keys whose compared values differ. Only keys and
    counts are reported, never values.
    """
    committed = stage_backlog(group)
    source = source_rows()
    con = _read_only(pipeline.warehouse)
    report: dict[str, Any] = {"duplicated": {}, "offset_gaps": {}, "missing_keys": {}, "extra_keys": {},
                              "different_keys": {}, "bronze_rows": {}}  # fmt: skip
    try:
        for table, (key, columns) in COMPARED.items():
            topic = TOPICS[table]
            rows, distinct = con.execute(
                f"SELECT count(*), count(DISTINCT (kafka_partition, kafka_offset)) FROM bronze.{table}"
            ).fetchone()
            report["bronze_rows"][table] = rows
            if rows != distinct:
                report["duplicated"][topic] = rows - distinct
            gaps = {}
            for partition, (done, _high) in committed[topic].items():
                below = con.execute(
                    f"SELECT count(DISTINCT kafka_offset) FROM bronze.{table} "
                    "WHERE kafka_partition = ? AND kafka_offset < ?",
                    [partition, done],
                ).fetchone()[0]
                if below != done:
                    gaps[partition] = done - below
            if gaps:
                report["offset_gaps"][topic] = gaps
            images = con.execute(
                f"""
                SELECT CAST(coalesce(after_json ->> '{key}', before_json ->> '{key}') AS BIGINT) AS k, op,
                       {", ".join(f"after_json ->> '{c}'" for c in columns)}
                FROM bronze.{table}
                WHERE NOT is_tombstone AND op IS NOT NULL
                QUALIFY row_number() OVER (PARTITION BY k ORDER BY source_lsn DESC, kafka_offset DESC) = 1
                """
            ).fetchall()
            live = {int(r[0]): _normalise(columns, r[2:]) for r in images if r[1] != "d"}
            want = source[table]
            report["missing_keys"][table] = sorted(set(want) - set(live))[:10]
            report["extra_keys"][table] = sorted(set(live) - set(want))[:10]
            report["different_keys"][table] = sorted(k for k in set(want) & set(live) if want[k] != live[k])[:10]
    finally:
        con.close()
    return report


def assert_bronze_exact(pipeline: Pipeline, group: str) -> dict[str, Any]:
    """:func:`bronze_exactness` finds nothing: 0 duplicated, 0 offsets lost, bronze's latest state = the source."""
    report = bronze_exactness(pipeline, group)
    problems = {
        name: value for name, value in report.items() if name != "bronze_rows" and any(bool(v) for v in value.values())
    }
    assert problems == {}, f"bronze differs from Kafka / the source: {problems}"
    return report


def reconcile_gold(warehouse: Path) -> dict[str, Any]:
    """``python -m banking_cdc.reconcile --json`` (strict) on ``warehouse``: its exit code and JSON report."""
    env = {**os.environ, "AIRFLOW_CONN_DUCKDB_DEFAULT": json.dumps({"conn_type": "duckdb", "host": str(warehouse)})}
    result = subprocess.run(
        [sys.executable, "-m", "banking_cdc.reconcile", "--json"], capture_output=True, text=True, env=env, timeout=900
    )
    out = result.stdout
    report: dict[str, Any] = json.loads(out[out.index("{") :]) if "{" in out else {}
    report["exit_code"] = result.returncode
    report["stderr_tail"] = result.stderr[-2000:]
    return report


def assert_reconciled(warehouse: Path) -> dict[str, Any]:
    """Strict reconciliation exits 0 and every check in its JSON report is ok."""
    report = reconcile_gold(warehouse)
    failing = [r for r in report.get("results", []) if not r["ok"]]
    assert report["exit_code"] == 0 and report.get("verdict") == "reconciled", (
        f"reconciliation exit {report['exit_code']}: failing {failing} {report['stderr_tail']}"
    )
    assert report["checks"] > 0 and failing == [], failing
    return report


def failed_chain_runs(pipeline: Pipeline, since: str) -> list[tuple[Any, ...]]:
    """Chain runs (stage, load, dbt) that ended ``failed`` and started at or after ``since`` (UTC, SQLite text)."""
    marks = ", ".join("?" for _ in CHAIN)
    return pipeline.airflow.query(
        f"SELECT dag_id, run_id FROM dag_run WHERE state = 'failed' AND dag_id IN ({marks}) AND start_date >= ?",
        *CHAIN,
        since,
    )


def utc_now_text() -> str:
    """Now in the metadata DB's text form, for comparisons with ``start_date``."""
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


DBT = "banking_dbt_transform"


def build_gold(pipeline: Pipeline, group: str, timeout: float = 1500) -> float:
    """
    Gold from everything in bronze, through the Asset link: unpause ``banking_dbt_transform``, then a drain (its
    marker's load emits ``bcdc_bronze``, on which the scheduler starts the dbt run), pause dbt again. Asserts that
    at least one dbt run started and that every one ended ``success``. Returns the seconds it took.
    """
    (last_id,) = pipeline.airflow.query("SELECT coalesce(max(id), 0) FROM dag_run WHERE dag_id = ?", DBT)[0]
    pipeline.airflow.airflow("dags", "unpause", DBT)
    try:
        took = drain(pipeline, group, timeout=timeout)
    finally:
        pipeline.airflow.airflow("dags", "pause", DBT)
    runs = pipeline.airflow.query(
        "SELECT run_id, run_type, state FROM dag_run WHERE dag_id = ? AND id > ?", DBT, last_id
    )
    assert runs, "no dbt run was started by the bronze Asset"
    assert all(state == "success" for _, _, state in runs), runs
    return took
