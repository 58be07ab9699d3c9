"""Load landing files into warehouse bronze as soon as they land (scheduled on the landing Asset).

Loads exactly the files named by the triggering `bcdc_landing` Asset events, plus any landing file the
load ledger does not hold yet (a paginated listing: nothing is missed if an event was). Files already
loaded are skipped; a file that fails is named in the error. The warehouse is chosen at run time by the
Airflow Variable `warehouse_backend` (`duckdb` by default, or `snowflake`): the DAG never changes.
DuckDB allows one writer, so its load runs in the one-slot pool `duckdb_writer`. Emits `bcdc_bronze`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from banking_cdc.assets import BRONZE, LANDING
from banking_cdc.transfers.s3_to_duckdb import S3ToDuckDBBronzeOperator
from banking_cdc.transfers.s3_to_snowflake import S3ToSnowflakeBronzeOperator
from banking_cdc.operate.alerts import pipeline_deadline

BUCKET = "{{ var.value.get('landing_bucket', 'banking-landing') }}"
#: priority in the one-slot pool `duckdb_writer`, above any dbt task's (at most its downstream count)
LOAD_PRIORITY = 1000

with DAG(
    dag_id="cdc_load_bronze",
    description="Landing Parquet -> warehouse bronze, idempotent, on every landing Asset event",
    schedule=[LANDING],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["banking-cdc", "bronze"],
    default_args={"owner": "banking-cdc", "retries": 2, "retry_delay": timedelta(seconds=15)},
    deadline=pipeline_deadline("cdc_load_bronze"),
    doc_md=__doc__,
) as dag:

    @task
    def files_from_events(triggering_asset_events: Any = None) -> list[str]:
        """The landing files announced by the Asset events that triggered this run."""
        from banking_cdc.assets import landed_files

        return landed_files(triggering_asset_events, LANDING)

    @task.branch
    def choose_warehouse() -> str:
        """Follow the `warehouse_backend` Variable (read at run time, never at parse time)."""
        from banking_cdc.warehouse.switch import warehouse_backend

        return f"load_{warehouse_backend()}"

    files = files_from_events()
    load_duckdb = S3ToDuckDBBronzeOperator(
        task_id="load_duckdb",
        file_keys=files,
        bucket_name=BUCKET,
        aws_conn_id="aws_default",
        duckdb_conn_id="duckdb_default",
        pool="duckdb_writer",
        # first in line for the one writer slot: a load never waits behind a whole queued dbt run
        priority_weight=LOAD_PRIORITY,
        weight_rule="absolute",
        outlets=[BRONZE],
    )
    load_snowflake = S3ToSnowflakeBronzeOperator(
        task_id="load_snowflake",
        file_keys=files,
        bucket_name=BUCKET,
        snowflake_conn_id="snowflake_default",
        aws_conn_id="aws_default",
        outlets=[BRONZE],
    )
    files >> choose_warehouse() >> [load_duckdb, load_snowflake]
