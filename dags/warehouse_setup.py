"""Create the warehouse's schemas, bronze tables and load ledger, idempotently (run after each deploy).

DuckDB (default): schemas bronze / silver / gold, one bronze table per captured table, the load ledger.
Snowflake (`warehouse_backend` = `snowflake`): database, schemas, the Parquet file format, the landing
stage and the bronze tables, from include/banking_cdc/sql/snowflake/10..30 (00_admin.sql, roles, grants,
warehouses and the storage integration, is run once by an administrator, not by this DAG).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from banking_cdc.operate.alerts import pipeline_deadline

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

    @task.branch
    def choose_warehouse() -> str:
        """Follow the `warehouse_backend` Variable (read at run time)."""
        from banking_cdc.warehouse.switch import warehouse_backend

        return f"setup_{warehouse_backend()}"

    @task(pool="duckdb_writer")
    def setup_duckdb() -> list[str]:
        """Create the DuckDB schemas, bronze tables and ledger."""
        from banking_cdc.hooks.duckdb import DuckDBHook
        from banking_cdc.transfers.s3_to_duckdb import ensure_duckdb_bronze
        from banking_cdc.capture.config import CaptureConfig

        with DuckDBHook(duckdb_conn_id="duckdb_default").get_conn() as conn:
            ensure_duckdb_bronze(conn, CaptureConfig.load())
            return [
                row[0]
                for row in conn.execute(
                    "SELECT table_schema || '.' || table_name FROM information_schema.tables ORDER BY 1"
                ).fetchall()
            ]

    @task
    def setup_snowflake() -> None:
        """Apply the pipeline's Snowflake setup files (10..30) as the objects' owner."""
        from contextlib import closing

        from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook
        from airflow.sdk import Variable

        from banking_cdc.transfers.s3_to_snowflake import SnowflakeSetup, apply_setup

        bucket = Variable.get("landing_bucket", default="banking-landing")
        with closing(SnowflakeHook(snowflake_conn_id="snowflake_default").get_conn()) as conn:
            apply_setup(conn, SnowflakeSetup(stage_url=f"s3://{bucket}/"))

    choose_warehouse() >> [setup_duckdb(), setup_snowflake()]
