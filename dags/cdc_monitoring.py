"""Monitoring of the CDC pipeline, every minute: observations into bcdc_ops.pipeline_metrics + Airflow metrics.

Records consumer-group lag per partition, the replication slot's retained WAL and wal_status, the
Debezium connector's and tasks' states, whether every captured table is published and its source changes
reach its topic (capture coverage), landing files not yet in bronze, bronze rows/s and the
freshness of every gold model (docs/ARCHITECTURE.md, "Monitoring", lists the metric names). A service
that is down is recorded as UNREACHABLE without stopping the other collectors. The `verdict` task fails
when a threshold of include/banking_cdc/config/monitoring.yaml is breached or a service is unreachable,
listing the breaches, and e-mails them to the recipients of config/alerts.yaml.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from banking_cdc.operate.alerts import pipeline_deadline
from banking_cdc.operators.monitoring import (
    CaptureCoverageOperator,
    ConnectorStateOperator,
    ConsumerLagOperator,
    MonitoringVerdictOperator,
    PrepareMetricsTableOperator,
    ReplicationSlotOperator,
    WarehouseMetricsOperator,
    breach_email_notifier,
)
from banking_cdc.settings import DUCKDB_POOL, LANDING_BUCKET_TEMPLATE, STAGE_GROUP_TEMPLATE

with DAG(
    dag_id="cdc_monitoring",
    description="Lag, slot WAL, connector state, unloaded landing files, gold freshness -> metrics table + alerts",
    schedule=timedelta(minutes=1),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=5),
    tags=["banking-cdc", "monitoring"],
    default_args={"owner": "banking-cdc", "retries": 2, "retry_delay": timedelta(seconds=10)},
    deadline=pipeline_deadline("cdc_monitoring"),
    doc_md=__doc__,
) as dag:
    prepare = PrepareMetricsTableOperator(task_id="prepare_metrics_table")
    collect = [
        # the groups of monitoring.yaml, plus the stage's own (Variable stage_group_id, as in cdc_stage)
        ConsumerLagOperator(task_id="kafka_lag", group_ids=[STAGE_GROUP_TEMPLATE]),
        ReplicationSlotOperator(task_id="replication_slot"),
        ConnectorStateOperator(task_id="connector_state"),
        # every captured table is published, and its source changes move its topic
        CaptureCoverageOperator(task_id="capture_coverage"),
        # opens the warehouse (DuckDB: one process at a time)
        WarehouseMetricsOperator(task_id="warehouse", bucket_name=LANDING_BUCKET_TEMPLATE, pool=DUCKDB_POOL),
    ]
    verdict = MonitoringVerdictOperator(
        task_id="verdict",
        collector_task_ids=[task.task_id for task in collect],
        on_failure_callback=breach_email_notifier(),
    )
    prepare >> collect >> verdict
