"""Pipeline-wide names and defaults, each written once: every module, DAG and tool imports them from here.

Nothing here touches the network or the metadata database: it is safe at DAG parse time. Values a
deployment changes are Airflow Variables (templated into operator arguments, read when a task runs) or
environment variables; this module holds their names and defaults, never secrets.
"""

from __future__ import annotations

import os
from pathlib import Path

from banking_cdc.exceptions import BankingCdcError

# ------------------------------------------------------------------------------------ Airflow connections

AWS_CONN_ID = "aws_default"
KAFKA_CONN_ID = "kafka_default"
KAFKA_CONNECT_CONN_ID = "kafka_connect_default"
POSTGRES_CONN_ID = "postgres_source"
DUCKDB_CONN_ID = "duckdb_default"
SNOWFLAKE_CONN_ID = "snowflake_default"
#: PostgreSQL database of the metrics table (monitoring)
METRICS_CONN_ID = "bcdc_metrics"

# ------------------------------------------------------------------------------------------ configuration files

#: environment variables naming a capture / monitoring configuration file to read instead of the packaged one
CAPTURE_CONFIG_ENV = "BCDC_CAPTURE_CONFIG"
MONITORING_CONFIG_ENV = "BCDC_MONITORING_CONFIG"

# ------------------------------------------------------------------------------------------ landing zone

#: bucket of the landing zone when the Airflow Variable ``landing_bucket`` is not set
DEFAULT_LANDING_BUCKET = "banking-landing"
#: Airflow Variable naming the landing bucket
LANDING_BUCKET_VARIABLE = "landing_bucket"
#: the landing bucket as an operator argument (rendered when the task runs)
LANDING_BUCKET_TEMPLATE = f"{{{{ var.value.get('{LANDING_BUCKET_VARIABLE}', '{DEFAULT_LANDING_BUCKET}') }}}}"
#: key prefix of landed change files, and of quarantined (poison) messages
LANDING_PREFIX = "raw"
QUARANTINE_PREFIX = "quarantine"

# ----------------------------------------------------------------------------------------------- Kafka

#: consumer group of the stage (Kafka -> landing); its committed offsets are the stage's progress
DEFAULT_STAGE_GROUP = "bcdc-stage"
STAGE_GROUP_VARIABLE = "stage_group_id"
STAGE_GROUP_TEMPLATE = f"{{{{ var.value.get('{STAGE_GROUP_VARIABLE}', '{DEFAULT_STAGE_GROUP}') }}}}"
#: consumer group the resync uses to read watermarks and notifications (never commits)
RESYNC_GROUP = "bcdc-resync"

# ------------------------------------------------------------------------------------------- warehouse

#: one-slot pool shared by every task that writes (or opens) the DuckDB warehouse: DuckDB has one writer
DUCKDB_POOL = "duckdb_writer"
#: the warehouse switch: this environment variable (Airflow also serves it as the Variable ``warehouse_backend``)
WAREHOUSE_VARIABLE = "warehouse_backend"
WAREHOUSE_ENV = f"AIRFLOW_VAR_{WAREHOUSE_VARIABLE.upper()}"
DEFAULT_WAREHOUSE = "duckdb"
WAREHOUSES: tuple[str, ...] = ("duckdb", "snowflake")

# ----------------------------------------------------------------------------------------------- dbt

#: environment variable naming the dbt project folder (holds dbt_project.yml and the committed manifest)
DBT_PROJECT_ENV = "BCDC_DBT_PROJECT_DIR"
DBT_PROJECT_NAME = "banking_dbt"

# ------------------------------------------------------------------------------------------ monitoring

#: metric names (``<family>.<measure>``): a contract with the health page, the metrics table and whoever reads
#: the Airflow metrics; described in :data:`banking_cdc.monitoring.metrics.METRICS`
CONSUMER_LAG = "kafka.consumer_lag"
SLOT_WAL = "postgres.slot_retained_wal_bytes"
SLOT_ACTIVE = "postgres.slot_active"
CONNECTOR_STATE = "connect.connector_state"
TASK_STATE = "connect.task_state"
UNLOADED_FILES = "landing.unloaded_files"
UNLOADED_BYTES = "landing.unloaded_bytes"
FRESHNESS = "gold.freshness_seconds"
THROUGHPUT = "bronze.load_rows_per_s"
SOURCE_CHANGES = "capture.source_changes"
TOPIC_END = "capture.topic_end_offset"
TABLE_PUBLISHED = "capture.table_published"
UNSTREAMED = "capture.unstreamed_changes"
#: values the typed silver models kept out of silver (silver.rejects), per model
REJECTED_VALUES = "silver.rejected_values"
NEW_REJECTS = "silver.new_rejected_values"
REJECTED_KEYS = "silver.rejected_keys"
#: one dbt test task's outcome, recorded by the dbt test listener
DBT_TEST = "dbt.test_task"
#: a pipeline task failing (1, with its error line) or recovered (0), recorded by the task failure listener
TASK_FAILING = "airflow.task_failing"


class SettingsError(BankingCdcError):
    """A pipeline-wide setting cannot take effect; the message names it."""


def dbt_project_dir() -> Path:
    """
    The dbt project folder: ``$BCDC_DBT_PROJECT_DIR``, else ``$AIRFLOW_HOME/banking_dbt`` (the Astro image),
    else ``banking_dbt`` beside the source tree of this package (a checkout with the package installed editable).

    DAG files call this instead of finding the project from their own path: a DAG-only deploy unpacks
    ``dags/`` apart from the project. Safe at parse time (no I/O beyond ``stat``).

    :raises SettingsError: naming ``BCDC_DBT_PROJECT_DIR`` when it is set to a folder without dbt_project.yml,
        or when no candidate holds one.
    """
    explicit = os.environ.get(DBT_PROJECT_ENV, "").strip()
    if explicit:
        path = Path(explicit)
        if not (path / "dbt_project.yml").is_file():
            raise SettingsError(f"{DBT_PROJECT_ENV}={explicit!r} has no dbt_project.yml")
        return path
    candidates = [
        Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow")) / DBT_PROJECT_NAME,
        Path(__file__).resolve().parents[2] / DBT_PROJECT_NAME,
    ]
    for candidate in candidates:
        if (candidate / "dbt_project.yml").is_file():
            return candidate
    raise SettingsError(
        f"no dbt project found (looked in {', '.join(str(c) for c in candidates)}): set {DBT_PROJECT_ENV}"
    )
