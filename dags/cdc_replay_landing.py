"""Replay landing files of a time range into bronze, without Kafka (the warehouse the switch names).

Params: `start` and `end` (ISO 8601; files whose object landed in [start, end)), `tables` (empty: every
captured table). Every selected file is loaded through the anti-join on bronze's Kafka coordinates, even
when the ledger already holds it: rows bronze lost (a dropped table, a restore from an older backup) come
back exactly once, rows still present are counted, never added; a replay of loaded files is a no-op whose
report says so. Emits `bcdc_bronze`, so the dbt DAG merges restored rows. Runs in `duckdb_writer` (DuckDB has
one writer).
The same from a shell: `python -m banking_cdc.transfers.landing_replay --start ... --end ...`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from banking_cdc.assets import BRONZE
from banking_cdc.operate.alerts import pipeline_deadline
from banking_cdc.settings import DUCKDB_POOL, LANDING_BUCKET_TEMPLATE
from banking_cdc.transfers.landing_replay import LandingReplayOperator

with DAG(
    dag_id="cdc_replay_landing",
    description="Reload landing files of a time range into bronze, exactly once per Kafka coordinate",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["banking-cdc", "operate"],
    default_args={"owner": "banking-cdc", "retries": 2, "retry_delay": timedelta(seconds=15)},
    deadline=pipeline_deadline("cdc_replay_landing"),
    params={
        "start": Param("2026-01-01T00:00:00+00:00", type="string", description="first landing time (inclusive)"),
        "end": Param("2100-01-01T00:00:00+00:00", type="string", description="end of the range (exclusive)"),
        "tables": Param([], type="array", items={"type": "string"}, description="source tables; empty = all"),
    },
    doc_md=__doc__,
) as dag:
    LandingReplayOperator(
        task_id="replay_landing",
        start="{{ params.start }}",
        end="{{ params.end }}",
        tables="{{ params.tables | join(',') }}",
        bucket_name=LANDING_BUCKET_TEMPLATE,
        aws_conn_id="aws_default",
        duckdb_conn_id="duckdb_default",
        pool=DUCKDB_POOL,
        outlets=[BRONZE],
    )
