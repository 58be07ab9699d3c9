"""warehouse_setup under `airflow dags test`: DuckDB by default, Snowflake branch skipped, idempotent."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.integration


def test_warehouse_setup_creates_duckdb_bronze_twice_without_change(airflow_db: Path) -> None:
    for _ in range(2):
        result = subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), "dags", "test", "warehouse_setup"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-4000:]
        assert re.search(r"DagRun Finished: dag_id=warehouse_setup.*state=success", output), output[-4000:]
        assert "Skipping tasks [('setup_snowflake', -1)]" in output  # no warehouse_backend Variable: DuckDB
    with duckdb.connect(json.loads(os.environ["AIRFLOW_CONN_DUCKDB_DEFAULT"])["host"], read_only=True) as conn:
        tables = {row[0] for row in conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables"
        ).fetchall()}  # fmt: skip
    assert {"bronze.customers", "bronze.accounts", "bronze.transactions", "bronze.load_ledger"} <= tables
