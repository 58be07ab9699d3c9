"""cdc_stage under `airflow dags test`: defers, fires, and lands each captured topic's backlog."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from tests.dags.dag_test_runner import run_dag_test
from tests.source_changes import change_every_table

pytestmark = pytest.mark.integration

TOPICS = ("bank.public.customers", "bank.public.accounts", "bank.public.transactions")


def _landed_keys() -> set[str]:
    s3 = S3Hook(aws_conn_id="aws_default")
    return {key for topic in TOPICS for key in s3.list_keys(bucket_name="banking-landing", prefix=f"raw/{topic}/")}


def _asset_event_files(database: Path) -> set[str]:
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.name = 'bcdc_landing'"
        ).fetchall()
    return {key for (extra,) in rows for key in json.loads(extra or "{}").get("files", [])}


def test_cdc_stage_lands_a_backlog_of_every_captured_topic(airflow_db: Path, capture_ready: dict[str, object]) -> None:
    change_every_table()  # so that every mapped task has a backlog to wait for
    before = _landed_keys()

    output = run_dag_test("cdc_stage")
    assert output.count("): staging") + output.count("staging now") == len(TOPICS)
    new = _landed_keys() - before
    for topic in TOPICS:
        assert any(key.startswith(f"raw/{topic}/partition=") for key in new), f"nothing landed for {topic}"
    # each mapped task emitted a bcdc_landing Asset event whose extra lists the files it wrote
    announced = _asset_event_files(airflow_db / "airflow.db")
    assert new <= announced, f"files landed but not announced: {sorted(new - announced)[:5]}"
