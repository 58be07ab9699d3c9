"""Load landing files into warehouse bronze as soon as they land (scheduled on the landing Asset).

Loads exactly the files named by the triggering `bcdc_landing` Asset events, plus any landing file the
load ledger does not hold yet (a paginated listing: nothing is missed if an event was). Each file is
loaded with its ledger row in one transaction; files already loaded are skipped; a file that fails is
named in the error after the others are loaded. DuckDB allows one writer: the task runs in the
one-slot pool `duckdb_writer`. Emits the `bcdc_bronze` Asset for the dbt DAG.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from banking_cdc.assets import BRONZE, LANDING
from banking_cdc.transfers.s3_to_duckdb import S3ToDuckDBBronzeOperator

with DAG(
    dag_id="cdc_load_bronze",
    description="Landing Parquet -> warehouse bronze, idempotent, on every landing Asset event",
    schedule=[LANDING],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["banking-cdc", "bronze"],
    default_args={"owner": "banking-cdc", "retries": 2, "retry_delay": timedelta(seconds=15)},
    doc_md=__doc__,
) as dag:

    @task
    def files_from_events(triggering_asset_events: Any = None) -> list[str]:
        """The landing files announced by the Asset events that triggered this run."""
        from banking_cdc.utils.asset_events import landed_files

        return landed_files(triggering_asset_events, LANDING)

    S3ToDuckDBBronzeOperator(
        task_id="load_duckdb",
        file_keys=files_from_events(),
        bucket_name="{{ var.value.get('landing_bucket', 'banking-landing') }}",
        aws_conn_id="aws_default",
        duckdb_conn_id="duckdb_default",
        pool="duckdb_writer",
        outlets=[BRONZE],
    )
