"""Create the warehouse's schemas, bronze tables and load ledger, idempotently (run after each deploy).

The warehouse is the one the switch names (`AIRFLOW_VAR_WAREHOUSE_BACKEND`). DuckDB (default): schemas
bronze / silver / gold, one bronze table per captured table, the load ledger. Snowflake: database, schemas,
the Parquet file format, the landing stage and the bronze tables, from include/banking_cdc/sql/snowflake/10..30
(00_admin.sql, roles, grants, warehouses and the storage integration, is run once by an administrator, not by
this DAG).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from banking_cdc.operate.alerts import pipeline_deadline
from banking_cdc.settings import DUCKDB_POOL

with DAG(
    dag_id="warehouse_setup",
    description="Warehouse schemas, bronze tables and load ledger (DuckDB or Snowflake by configuration)",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["banking-cdc", "bronze", "setup"],
    default_args={"owner": "banking-cdc", "retries": 2, "retry_delay": timedelta(seconds=15)},
    deadline=pipeline_deadline("warehouse_setup"),
    doc_md=__doc__,
) as dag:

    @task(pool=DUCKDB_POOL)
    def setup_warehouse() -> dict[str, object]:
        """Create what is missing in the warehouse the switch names; return the backend and bronze row counts."""
        from airflow.sdk import Variable

        from banking_cdc.capture.config import CaptureConfig
        from banking_cdc.settings import DEFAULT_LANDING_BUCKET, LANDING_BUCKET_VARIABLE
        from banking_cdc.warehouse.snowflake_setup import SnowflakeSetup
        from banking_cdc.warehouse.switch import open_warehouse

        capture = CaptureConfig.load()
        bucket = Variable.get(LANDING_BUCKET_VARIABLE, default=DEFAULT_LANDING_BUCKET)
        with open_warehouse(snowflake_setup=SnowflakeSetup(stage_url=f"s3://{bucket}/")) as warehouse:
            warehouse.setup(capture)
            return {"backend": warehouse.backend, "bronze_rows": warehouse.bronze_rows(capture.source.tables)}

    setup_warehouse()
