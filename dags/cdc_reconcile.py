"""Reconcile gold with the source database; the task fails on any difference.

Compares, per table, the source PostgreSQL (through `postgres_source`) with the warehouse's gold layer:
row counts, sums of money to the cent (per status and direction, balances, daily activity), current
dimension rows vs live source rows (PII as gold's hashes), SCD2 versions vs tracked changes in bronze,
and deleted keys closed; and every captured table (capture.yaml) against its generic silver model
`silver.current_<table>`: row count, each key's current row, exact numeric sums (strict mode only). The
report (keys and counts only) is in the task log and its XCom.

Param `grace_minutes`: 0 = strict (the source is quiet and the pipeline has caught up: everything must
match); N = leave out keys changed in the last N minutes (the source moves while gold lags). Manual
(schedule None): run it after `banking_dbt_transform` once the source is quiet, or with a grace while it
moves. DuckDB allows one process at a time, so the task runs in the pool `duckdb_writer`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from banking_cdc.operate.alerts import pipeline_deadline
from banking_cdc.operators.reconcile import ReconcileOperator
from banking_cdc.transform.dbt_project import DUCKDB_POOL

with DAG(
    dag_id="cdc_reconcile",
    description="Gold vs source: counts, money to the cent, current rows, SCD2 versions, deleted keys",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["banking-cdc", "reconciliation"],
    default_args={"owner": "banking-cdc", "retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "grace_minutes": Param(
            5,
            type="integer",
            minimum=0,
            description="0 = strict (quiet source); N = leave out keys changed in the last N minutes",
        )
    },
    deadline=pipeline_deadline("cdc_reconcile"),
    doc_md=__doc__,
) as dag:
    ReconcileOperator(
        task_id="reconcile",
        postgres_conn_id="postgres_source",
        duckdb_conn_id="duckdb_default",
        grace_minutes="{{ params.grace_minutes }}",
        pool=DUCKDB_POOL,
    )
