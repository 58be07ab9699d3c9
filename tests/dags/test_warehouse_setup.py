"""warehouse_setup under `airflow dags test`: DuckDB when the switch is unset, idempotent."""

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
        assert "'backend': 'duckdb'" in output  # the switch (AIRFLOW_VAR_WAREHOUSE_BACKEND) is unset: DuckDB
    with duckdb.connect(json.loads(os.environ["AIRFLOW_CONN_DUCKDB_DEFAULT"])["host"], read_only=True) as conn:
        tables = {row[0] for row in conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables"
        ).fetchall()}  # fmt: skip
    assert {"bronze.customers", "bronze.accounts", "bronze.transactions", "bronze.load_ledger"} <= tables
