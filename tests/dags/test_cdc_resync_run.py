"""cdc_resync under `airflow dags test` on the real stack, with the stage and load steps running alongside.

The acceptance test of the resync: after a resync of `accounts`, bronze holds one incremental-snapshot row
(op='r') per source row, equal to the source, and gold's totals (row counts, every money column's sum) are
exactly what they were before.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.postgres.hooks.postgres import PostgresHook

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.operators.resync import topic_watermarks
from banking_cdc.transfers.kafka_to_s3 import KafkaToS3Operator
from banking_cdc.transfers.s3_to_duckdb import S3ToDuckDBBronzeOperator
from banking_cdc.warehouse.bronze import BronzeError
from tests.dags.dag_test_runner import run_dag_test
from tests.source_changes import change_every_table

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "banking-landing"
CAPTURE = CaptureConfig.load()
TOPICS = [CAPTURE.topic(table) for table in CAPTURE.source.tables]


class Pipeline:
    """The stage and load steps of cdc_stage / cdc_load_bronze, on a private landing prefix and group."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.group = f"test-resync-{prefix}"

    def cycle(self) -> dict[str, Any]:
        KafkaToS3Operator(
            task_id="stage", topics=TOPICS, group_id=self.group, bucket_name=BUCKET, landing_prefix=self.prefix,
            deferrable=False, consume_timeout=20,
        ).execute(context={})  # type: ignore[arg-type]  # fmt: skip
        return S3ToDuckDBBronzeOperator(
            task_id="load", bucket_name=BUCKET, landing_prefix=self.prefix, sweep=True
        ).execute(context={})  # type: ignore[arg-type]


@pytest.fixture
def landing_prefix(stack: dict[str, str]) -> Iterator[str]:
    name = f"test-resync-{uuid.uuid4().hex[:8]}"
    yield name
    s3 = S3Hook(aws_conn_id="aws_default")
    keys = s3.list_keys(bucket_name=BUCKET, prefix=f"{name}/")
    for start in range(0, len(keys or []), 1000):
        s3.delete_objects(bucket=BUCKET, keys=keys[start : start + 1000])


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("AIRFLOW_CONN_DUCKDB_DEFAULT", json.dumps({"conn_type": "duckdb", "host": str(path)}))
    monkeypatch.setenv("BCDC_DUCKDB_PATH", str(path))
    return path


def dbt_build(target_path: Path) -> None:
    """A full ``dbt build`` in its own process (dbt-duckdb keeps its connection open in-process)."""
    project = ROOT / "banking_dbt"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "build", "--project-dir", str(project),
         "--profiles-dir", str(project), "--target", "duckdb", "--target-path", str(target_path),
         "--log-path", str(target_path / "logs")],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-3000:]}"


def gold_totals(path: Path) -> dict[str, Any]:
    """Row count of every gold table and the exact sum of each of its decimal columns."""
    totals: dict[str, Any] = {}
    with duckdb.connect(str(path), read_only=True) as conn:
        listed = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'gold' ORDER BY 1")
        tables = [r[0] for r in listed.fetchall()]
        for table in tables:
            money = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'gold' AND table_name = ? "
                "AND data_type LIKE 'DECIMAL%' ORDER BY 1", [table]).fetchall()]  # fmt: skip
            sums = ", ".join(f"CAST(sum({c}) AS VARCHAR)" for c in money)
            row = conn.execute(f"SELECT count(*){', ' + sums if sums else ''} FROM gold.{table}").fetchone()
            totals[table] = {
                "rows": row[0],
                **{c: Decimal(v) if v is not None else None for c, v in zip(money, row[1:], strict=True)},
            }
    return totals


def source_accounts() -> dict[int, Decimal]:
    conn = PostgresHook(postgres_conn_id="postgres_source").get_conn()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT account_id, balance::text FROM accounts")
            return {int(a): Decimal(b) for a, b in cur.fetchall()}
    finally:
        conn.close()


def snapshot_rows(path: Path, marks: dict[str, list[int]]) -> list[tuple[int, Decimal]]:
    """(account_id, balance) of the incremental-snapshot rows of bronze.accounts after the given offsets."""
    condition = " OR ".join(f"(kafka_partition = {int(p)} AND kafka_offset >= {lh[1]})" for p, lh in marks.items())
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT CAST(after_json->>'account_id' AS BIGINT), after_json->>'balance' FROM bronze.accounts "
            f"WHERE op = 'r' AND source_snapshot = 'incremental' AND ({condition})"
        ).fetchall()
    return [(int(a), Decimal(b)) for a, b in rows]


def test_resync_of_accounts_puts_snapshot_rows_in_bronze_and_leaves_gold_totals_unchanged(
    airflow_db: Path, capture_ready: dict[str, object], landing_prefix: str, warehouse: Path, tmp_path: Path
) -> None:
    change_every_table()  # at least one fresh event on every topic
    pipeline = Pipeline(landing_prefix)
    time.sleep(3)  # Debezium streams asynchronously
    pipeline.cycle()
    dbt_build(tmp_path / "dbt-before")
    before = gold_totals(warehouse)
    assert before["fct_transactions"]["rows"] > 0 and before["dim_accounts"]["rows"] > 0
    accounts = source_accounts()
    marks = topic_watermarks("kafka_default", [CAPTURE.topic("accounts")])[CAPTURE.topic("accounts")]

    # the "continuous" stage + load, until bronze holds a snapshot row for every account
    stop = threading.Event()
    errors: list[str] = []

    def keep_loading() -> None:
        while not stop.is_set():
            try:
                pipeline.cycle()
                if len(snapshot_rows(warehouse, marks)) >= len(accounts):
                    return
            except (duckdb.Error, BronzeError) as exc:  # a DuckDB lock held by the DAG's sensor: try again
                errors.append(type(exc).__name__)
            stop.wait(2)

    loader = threading.Thread(target=keep_loading, daemon=True)
    loader.start()
    began = time.monotonic()
    try:
        output = run_dag_test("cdc_resync", "--conf", json.dumps({"tables": ["accounts"]}), timeout=900)
    finally:
        stop.set()
        loader.join(timeout=120)
    elapsed = time.monotonic() - began

    rows = snapshot_rows(warehouse, marks)
    assert len(rows) == len(accounts), f"{len(rows)} snapshot rows for {len(accounts)} source accounts"
    assert dict(rows) == accounts  # one op='r' row per source row, balances exact
    assert "is in bronze" in output and "dbt_build_affected" in output
    after = gold_totals(warehouse)
    assert after == before
    print(f"resync of accounts: {len(rows)} snapshot rows, {elapsed:.1f}s, loader retries {errors}")
