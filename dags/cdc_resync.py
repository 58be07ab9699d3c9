"""Resync captured tables: a Debezium incremental snapshot through the signal table, then rebuild dbt.

Params: `tables` (source tables from capture.yaml; an unknown name fails naming it), `rebuild_dbt`
(default true) and `full_refresh` (default false). The run signals Debezium (`execute-snapshot`,
`INCREMENTAL`; the signal id is fixed per run, so a retry never signals twice), waits for Debezium's
`COMPLETED` notification, waits until the running `cdc_stage` and `cdc_load_bronze` DAGs have landed and
loaded every snapshot event into bronze, then runs `dbt build --select stg_<table>+` for each table.
Silver merges by (LSN, offset), so the incremental build is correct and leaves gold's values unchanged
when nothing was missing; `full_refresh` is only for a changed model. DuckDB work runs in `duckdb_writer`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task
from cosmos.operators.local import DbtBuildLocalOperator

from banking_cdc.operate.alerts import pipeline_deadline
from banking_cdc.operators.resync import (
    BronzeSnapshotLoadedSensor,
    DebeziumIncrementalSnapshotOperator,
    DebeziumSnapshotCompleteSensor,
)
from banking_cdc.transform.dbt_project import AIRFLOW_DBT_VARS, DUCKDB_POOL, cosmos_configs

_cosmos = cosmos_configs()

with DAG(
    dag_id="cdc_resync",
    description="Re-capture tables with a Debezium incremental snapshot, then rebuild their dbt models",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["banking-cdc", "operate"],
    default_args={"owner": "banking-cdc", "retries": 2, "retry_delay": timedelta(seconds=20)},
    deadline=pipeline_deadline("cdc_resync"),
    params={
        "tables": Param(
            ["accounts"],
            type="array",
            items={"type": "string"},
            minItems=1,
            description="source tables to resync (capture.yaml source.tables)",
        ),
        "rebuild_dbt": Param(True, type="boolean", description="rebuild stg_<table>+ after the snapshot is in bronze"),
        "full_refresh": Param(False, type="boolean", description="dbt --full-refresh (only after a model change)"),
    },
    doc_md=__doc__,
) as dag:
    signal = DebeziumIncrementalSnapshotOperator(task_id="signal_snapshot", tables="{{ params.tables | join(',') }}")
    completed = DebeziumSnapshotCompleteSensor(task_id="wait_snapshot_completed", signal=signal.output)
    in_bronze = BronzeSnapshotLoadedSensor(
        task_id="wait_snapshot_in_bronze", snapshot=completed.output, pool=DUCKDB_POOL
    )

    @task.short_circuit
    def rebuild_requested(params: Any = None) -> bool:
        """Skip the dbt rebuild when the `rebuild_dbt` param is false."""
        return bool(params["rebuild_dbt"])

    rebuild = DbtBuildLocalOperator(
        task_id="dbt_build_affected",
        project_dir=str(_cosmos["project_config"].dbt_project_path),
        profile_config=_cosmos["profile_config"],
        invocation_mode=_cosmos["execution_config"].invocation_mode,
        select="{{ ti.xcom_pull(task_ids='signal_snapshot')['dbt_select'] }}",
        full_refresh="{{ params.full_refresh }}",
        vars=dict(AIRFLOW_DBT_VARS),
        install_deps=False,
        pool=DUCKDB_POOL,
    )
    in_bronze >> rebuild_requested() >> rebuild
