"""Load landing files into warehouse bronze as soon as they land (scheduled on the landing Asset).

Loads exactly the files named by the triggering `bcdc_landing` Asset events, plus any landing file the
load ledger does not hold yet (a paginated listing: nothing is missed if an event was). Files already
loaded are skipped; a file that fails is named in the error. The warehouse is the one the switch names
(`AIRFLOW_VAR_WAREHOUSE_BACKEND`: `duckdb` by default, or `snowflake`), read when the task runs; dbt follows
the same switch, so loads and transforms never split. DuckDB allows one writer, so the load runs in the
one-slot pool `duckdb_writer` (first in line). Emits `bcdc_bronze`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from banking_cdc.assets import BRONZE, LANDING
from banking_cdc.operate.alerts import pipeline_deadline
from banking_cdc.settings import DUCKDB_POOL, LANDING_BUCKET_TEMPLATE
from banking_cdc.transfers.s3_to_warehouse import S3ToWarehouseBronzeOperator

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

    S3ToWarehouseBronzeOperator(
        task_id="load_bronze",
        file_keys=files_from_events(),
        bucket_name=LANDING_BUCKET_TEMPLATE,
        pool=DUCKDB_POOL,
        # first in line for the one writer slot: a load never waits behind a whole queued dbt run
        priority_weight=LOAD_PRIORITY,
        weight_rule="absolute",
        outlets=[BRONZE],
    )
