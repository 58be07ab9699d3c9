"""warehouse_setup under `airflow dags test`: DuckDB by default, Snowflake branch skipped, idempotent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest

from tests.dags.dag_test_runner import run_dag_test

pytestmark = pytest.mark.integration


def test_warehouse_setup_creates_duckdb_bronze_twice_without_change(airflow_db: Path) -> None:
    for _ in range(2):
        output = run_dag_test("warehouse_setup", timeout=300)
        assert "Skipping tasks [('setup_snowflake', -1)]" in output  # no warehouse_backend Variable: DuckDB
    with duckdb.connect(json.loads(os.environ["AIRFLOW_CONN_DUCKDB_DEFAULT"])["host"], read_only=True) as conn:
        tables = {row[0] for row in conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables"
        ).fetchall()}  # fmt: skip
    assert {"bronze.customers", "bronze.accounts", "bronze.transactions", "bronze.load_ledger"} <= tables
