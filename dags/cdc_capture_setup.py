"""Set up change-data capture: source schema and publication, Kafka topics, Debezium connector.

Idempotent: run it after every deploy. A second run changes nothing (no DDL effect, no topic change,
no connector write, so no task restart). What is captured, the topics and the connector come from
include/banking_cdc/config/capture.yaml; the database password from the postgres_source connection.
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
    [schema, topics] >> connector
