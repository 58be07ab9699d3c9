"""Generate banking activity in the source database (demo, tests, load): the workload generator as a task.

Steady mode by default: `rate` operations per second for `duration` seconds, every kind of change a bank
makes (sign-ups, profile and tier changes, erasures, account openings/freezes/closures, deposits,
withdrawals, transfers, reversals, pending -> posted/cancelled, deletion of cancelled ones). Seedable:
the same seed into a fresh database gives identical rows. The source invariants are checked afterwards.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from banking_cdc.operate.alerts import pipeline_deadline
from banking_cdc.operators.generator import WorkloadGeneratorOperator

with DAG(
    dag_id="banking_workload",
    description="Seedable banking workload into the source database",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["banking-cdc", "generator"],
    default_args={"owner": "banking-cdc", "retries": 2, "retry_delay": timedelta(seconds=10)},
    deadline=pipeline_deadline("banking_workload"),
    params={
        "seed": Param(42, type="integer", description="same seed, fresh database -> identical rows"),
        "rate": Param(50, type="number", exclusiveMinimum=0, description="operations per second"),
        "duration": Param(60, type="number", exclusiveMinimum=0, description="seconds to run"),
    },
    doc_md=__doc__,
) as dag:
    WorkloadGeneratorOperator(
        task_id="generate",
        postgres_conn_id="postgres_source",
        seed="{{ params.seed }}",
        rate="{{ params.rate }}",
        duration="{{ params.duration }}",
        verify=True,
    )
