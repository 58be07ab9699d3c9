"""cdc_load_bronze under `airflow dags test`: everything landed is in DuckDB bronze, once."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from banking_cdc.stage.listing import iter_keys
from banking_cdc.transfers.kafka_to_s3 import KafkaToS3Operator
from tests.dags.dag_test_runner import run_dag_test
from tests.source_changes import change_every_table, wait_for_backlog

pytestmark = pytest.mark.integration

TABLES = ("customers", "accounts", "transactions")


def test_every_landed_row_is_in_bronze_exactly_once(airflow_db: Path, capture_ready: dict[str, object]) -> None:
    change_every_table()
    wait_for_backlog([f"bank.public.{table}" for table in TABLES], "bcdc-stage")
    # land what the captured topics hold now (the stage DAG's group), so there is something to load
    for table in TABLES:
        KafkaToS3Operator(
            task_id="stage", topics=[f"bank.public.{table}"], group_id="bcdc-stage", bucket_name="banking-landing",
            deferrable=False,
        ).execute(context={})  # type: ignore[arg-type]  # fmt: skip
    run_dag_test("cdc_load_bronze")
    run_dag_test("cdc_load_bronze")  # a second run finds everything in the ledger and loads nothing again
    s3 = S3Hook(aws_conn_id="aws_default")
    landed = {t: [k for k in iter_keys(s3, "banking-landing", f"raw/bank.public.{t}/")] for t in TABLES}
    database = json.loads(os.environ["AIRFLOW_CONN_DUCKDB_DEFAULT"])["host"]
    with duckdb.connect(database, read_only=True) as conn:
        ledger = {row[0] for row in conn.execute("SELECT file_key FROM bronze.load_ledger").fetchall()}
        for table in TABLES:
            assert landed[table], f"nothing landed for {table}"
            assert set(landed[table]) <= ledger, f"landed {table} files missing from the ledger"
            rows, distinct = conn.execute(
                f"SELECT count(*), count(DISTINCT (kafka_topic, kafka_partition, kafka_offset)) FROM bronze.{table}"
            ).fetchone()
            in_files = conn.execute(
                "SELECT coalesce(sum(rows_in_file), 0) FROM bronze.load_ledger WHERE bronze_table = ?", [table]
            ).fetchone()[0]
            assert rows == distinct == in_files, f"bronze.{table}: {rows} rows, {distinct} keys, {in_files} in files"
