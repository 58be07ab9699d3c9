"""Stage Debezium change events from Kafka to Parquet files in the landing zone, continuously.

One mapped task per captured topic (topics from include/banking_cdc/config/capture.yaml). Each task
defers in the triggerer until its topic has a backlog (min_messages, or max_age_seconds old), stages
it to s3://<landing_bucket>/raw/<topic>/partition=<p>/<first>-<last>.parquet, commits the offsets
only after the files are written, and emits a `bcdc_landing` Asset event listing the new files.
`@continuous` with max_active_runs=1: a new run starts when the last one ends, never two at once.
A topic with nothing pending for 4 minutes ends its task as skipped (no Asset event), so a run that
misses its Deadline Alert (alerts.yaml) means a stuck stage, not a quiet source.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from banking_cdc.assets import LANDING
from banking_cdc.capture.config import CaptureConfig
from banking_cdc.operate.alerts import pipeline_deadline
from banking_cdc.settings import LANDING_BUCKET_TEMPLATE, STAGE_GROUP_TEMPLATE
from banking_cdc.transfers.kafka_to_s3 import KafkaToS3Operator

CAPTURE = CaptureConfig.load()  # packaged file, no network: safe at parse time

with DAG(
    dag_id="cdc_stage",
    description="Kafka change topics -> Parquet landing files (deferrable, exactly-once in effect)",
    schedule="@continuous",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["banking-cdc", "stage"],
    default_args={"owner": "banking-cdc", "retries": 3, "retry_delay": timedelta(seconds=20)},
    deadline=pipeline_deadline("cdc_stage"),
    doc_md=__doc__,
) as dag:
    KafkaToS3Operator.partial(
        task_id="stage_topic",
        # Variable stage_group_id: a fresh group re-stages each topic from its start (benchmarks, rebuilds)
        group_id=STAGE_GROUP_TEMPLATE,
        bucket_name=LANDING_BUCKET_TEMPLATE,
        kafka_config_id="kafka_default",
        aws_conn_id="aws_default",
        min_messages=5_000,
        max_age_seconds=15,
        # a quiet source ends the run (skipped) well inside its deadline: a late run means a stuck stage
        max_idle_seconds=240,
        max_active_tis_per_dag=len(CAPTURE.source.tables),
        outlets=[LANDING],
    ).expand(topics=[[CAPTURE.topic(table)] for table in CAPTURE.source.tables])
