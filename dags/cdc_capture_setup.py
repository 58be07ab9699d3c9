"""Set up change-data capture: source tables and publication, Kafka topics, Debezium connector, initial loads.

Idempotent: run it after every deploy. A second run changes nothing (no DDL effect, no topic change,
no connector write, so no task restart). What is captured, the topics and the connector come from
include/banking_cdc/config/capture.yaml, the one list of captured tables; the database password from the
postgres_source connection. Every configured table is checked first (exists, primary key or declared key
columns, REPLICA IDENTITY FULL, readable by the connector's user) and the run fails naming each problem.
A table added to capture.yaml gets its existing rows through a Debezium incremental snapshot, and the run
waits until Debezium reports it completed; a table removed leaves the publication and the connector.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from banking_cdc.operate.alerts import pipeline_deadline
from banking_cdc.operators.capture import (
    ApplySourceSchemaOperator,
    EnsureDebeziumConnectorOperator,
    EnsureKafkaTopicsOperator,
)
from banking_cdc.operators.initial_load import InitialLoadOperator
from banking_cdc.operators.resync import DebeziumSnapshotCompleteSensor

with DAG(
    dag_id="cdc_capture_setup",
    description="Source schema, change topics and the Debezium connector, applied idempotently",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["banking-cdc", "capture", "setup"],
    default_args={"owner": "banking-cdc", "retries": 2, "retry_delay": timedelta(seconds=15)},
    deadline=pipeline_deadline("cdc_capture_setup"),
    doc_md=__doc__,
) as dag:
    schema = ApplySourceSchemaOperator(task_id="apply_source_schema", postgres_conn_id="postgres_source")
    topics = EnsureKafkaTopicsOperator(task_id="ensure_topics", kafka_config_id="kafka_default")
    connector = EnsureDebeziumConnectorOperator(
        task_id="ensure_connector",
        kafka_connect_conn_id="kafka_connect_default",
        postgres_conn_id="postgres_source",
    )
    initial_load = InitialLoadOperator(task_id="start_initial_load", connector=connector.output)
    DebeziumSnapshotCompleteSensor(task_id="wait_initial_load", signal=initial_load.output)
    [schema, topics] >> connector
