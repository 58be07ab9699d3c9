"""Transform bronze into silver, SCD2 snapshots and gold with dbt, one Airflow task per dbt node.

An Airflow DAG rendered by astronomer-cosmos from the committed manifest of `banking_dbt/`: every model,
snapshot and test is its own task (each model followed by its tests; tests spanning several models
detached after all of them), with retries from dbt_project.yml meta. Scheduled on the `bcdc_bronze`
Asset: it runs as soon as new change events reach bronze. DuckDB allows one writer, so on DuckDB every
task runs in the one-slot pool `duckdb_writer` (shared with the bronze loader).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cosmos import DbtDag

from banking_cdc.assets import BRONZE
from banking_cdc.operate.alerts import pipeline_deadline
from banking_cdc.transform.dbt_project import cosmos_configs

dag = DbtDag(
    dag_id="banking_dbt_transform",
    description="bronze -> silver -> SCD2 snapshots -> gold, task per dbt model / snapshot / test",
    schedule=[BRONZE],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["banking-cdc", "dbt"],
    default_args={"owner": "banking-cdc", "retries": 2, "retry_delay": timedelta(seconds=20)},
    deadline=pipeline_deadline("banking_dbt_transform"),
    doc_md=__doc__,
    **cosmos_configs(),
)
