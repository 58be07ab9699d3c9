"""banking_dbt_transform under `airflow dags test` on DuckDB: every model, snapshot and test task succeeds."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from banking_cdc.monitoring.health_report import DBT_TEST
from banking_cdc.monitoring.store import MetricsStore
from tests.dags.dag_test_runner import run_dag_test
from tests.dbt.bronze_fixture import load_bronze, synthesize

pytestmark = pytest.mark.integration

MANIFEST = json.loads((Path(__file__).resolve().parents[2] / "banking_dbt" / "manifest.json").read_text())


def test_dag_test_builds_gold_task_by_task(airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fixture = synthesize(seed=5, customers=40, events=800)
    database = tmp_path / "warehouse.duckdb"
    load_bronze(database, fixture)
    monkeypatch.setenv("AIRFLOW_CONN_DUCKDB_DEFAULT", json.dumps({"conn_type": "duckdb", "host": str(database)}))
    output = run_dag_test("banking_dbt_transform", timeout=1200)

    run_id = re.search(r"DagRun Finished: dag_id=banking_dbt_transform, .*?run_id=([^,\s]+)", output)[1]  # type: ignore[index]
    states = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "tasks", "states-for-dag-run", "banking_dbt_transform", run_id,
         "--output", "json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    succeeded = {ti["task_id"] for ti in json.loads(states[states.index("[") :]) if ti["state"] == "success"}
    nodes = [n for n in MANIFEST["nodes"].values() if n["package_name"] == "banking_dbt"]
    expected = {f"{n['name']}.run" for n in nodes if n["resource_type"] == "model"}
    expected |= {f"{n['name']}_snapshot" for n in nodes if n["resource_type"] == "snapshot"}
    expected |= {f"{n['name']}.test" for n in nodes if n["resource_type"] == "model"}
    missing = sorted(expected - succeeded)
    assert not missing, f"tasks not reported successful: {missing}\n{output[-3000:]}"

    # the health plugin's listener recorded every test task of this run as passed in the metrics table
    tests = {t for t in succeeded if t.endswith((".test", "_test"))}
    rows = MetricsStore().read(metrics=[DBT_TEST], since=timedelta(hours=2))
    recorded = {(r.subject, r.value, r.status) for r in rows if r.run_id == run_id}
    assert recorded == {(t, 1.0, "success") for t in tests}

    with duckdb.connect(str(database), read_only=True) as conn:
        current = conn.execute("SELECT count(*) FROM gold.dim_customers WHERE is_current").fetchone()[0]
        facts = conn.execute("SELECT count(*) FROM gold.fct_transactions WHERE NOT is_deleted").fetchone()[0]
    assert current == len(fixture.source_state["customers"])
    assert facts == len(fixture.source_state["transactions"])
