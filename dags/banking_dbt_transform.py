"""Transform bronze into silver, SCD2 snapshots and gold with dbt, one Airflow task per dbt node.

An Airflow DAG rendered by astronomer-cosmos from the committed manifest of `banking_dbt/`: every model,
snapshot and test is its own task (each model followed by its tests; tests spanning several models
detached after all of them), with retries from dbt_project.yml meta. Scheduled on the `bcdc_bronze`
Asset: it runs as soon as new change events reach bronze. DuckDB allows one writer, so on DuckDB every
task runs in the one-slot pool `duckdb_writer` (shared with the bronze loader). Every table of capture.yaml
has a generic silver model `current_<table>`; one missing from the manifest fails this DAG's import, naming it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cosmos import DbtDag

from banking_cdc.assets import BRONZE
from banking_cdc.capture.config import CaptureConfig
from banking_cdc.operate.alerts import pipeline_deadline
from banking_cdc.settings import dbt_project_dir
from banking_cdc.transform.current_models import require_in_manifest
from banking_cdc.transform.dbt_project import cosmos_configs

# every captured table has its generic silver model (else this DAG fails to import, naming the tables)
require_in_manifest(dbt_project_dir(), CaptureConfig.load())

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
