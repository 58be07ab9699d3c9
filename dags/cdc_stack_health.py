"""Health of every service the CDC pipeline talks to: PostgreSQL, Kafka, Kafka Connect, object store.

Run it after deploying or when something looks wrong: each task makes one real round trip with
its service through an Airflow connection and fails naming the service.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from banking_cdc.operate.alerts import pipeline_deadline
from banking_cdc.operators.health import (
    KafkaConnectHealthOperator,
    KafkaHealthOperator,
    ObjectStoreHealthOperator,
    PostgresHealthOperator,
)
from banking_cdc.settings import LANDING_BUCKET_TEMPLATE

with DAG(
    dag_id="cdc_stack_health",
    description="Round-trip health checks of the pipeline's services",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["banking-cdc", "health"],
    default_args={"owner": "banking-cdc", "retries": 2, "retry_delay": timedelta(seconds=10)},
    deadline=pipeline_deadline("cdc_stack_health"),
    doc_md=__doc__,
) as dag:
    PostgresHealthOperator(task_id="postgres", postgres_conn_id="postgres_source")
    KafkaHealthOperator(task_id="kafka", kafka_config_id="kafka_default")
    KafkaConnectHealthOperator(task_id="kafka_connect", kafka_connect_conn_id="kafka_connect_default")
    ObjectStoreHealthOperator(
        task_id="object_store",
        aws_conn_id="aws_default",
        bucket_name=LANDING_BUCKET_TEMPLATE,
    )
