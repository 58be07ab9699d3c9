"""The warehouse collector: landing files not in the bronze ledger, bronze rows/s, gold freshness (DuckDB)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.monitoring.metrics import GOLD_MODELS
from banking_cdc.monitoring.store import MetricsStore
from banking_cdc.operators.monitoring import WarehouseMetricsOperator
from banking_cdc.settings import DEFAULT_LANDING_BUCKET
from banking_cdc.stage.landing import object_key
from banking_cdc.warehouse.duckdb import ensure_duckdb_bronze
from tests.integration.monitoring.conftest import new_run_id, recorded

pytestmark = pytest.mark.integration

BUCKET = DEFAULT_LANDING_BUCKET
CAPTURE = CaptureConfig.load()
TOPIC = CAPTURE.topic("accounts")


@pytest.fixture
def landing_prefix(stack: dict[str, str]) -> Iterator[str]:
    prefix = f"monitoring-test-{uuid.uuid4().hex[:8]}"
    yield prefix
    s3 = S3Hook(aws_conn_id="aws_default")
    keys = s3.list_keys(bucket_name=BUCKET, prefix=f"{prefix}/")
    if keys:
        s3.delete_objects(bucket=BUCKET, keys=keys)


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as conn:
        ensure_duckdb_bronze(conn, CAPTURE)
    monkeypatch.setenv("AIRFLOW_CONN_DUCKDB_DEFAULT", json.dumps({"conn_type": "duckdb", "host": str(database)}))
    return database


def operator(tmp_path: Path, prefix: str) -> WarehouseMetricsOperator:
    config = tmp_path / "monitoring.yaml"
    config.write_text(f"landing: {{prefix: {prefix}}}\nthresholds: {{landing.unloaded_files: 1}}\n")
    return WarehouseMetricsOperator(task_id="warehouse", config_path=str(config), warehouse_backend="duckdb")


def add_ledger_row(database: Path, key: str, rows: int, loaded_at: datetime) -> None:
    with duckdb.connect(str(database)) as conn:
        conn.execute(
            "INSERT INTO bronze.load_ledger (file_key, bronze_table, rows_in_file, rows_loaded, first_offset, "
            "last_offset, "
            "loaded_at) VALUES (?, 'accounts', ?, ?, 0, ?, to_timestamp(?))",
            [key, rows, rows, rows - 1, loaded_at.timestamp()],
        )


def test_unloaded_files_throughput_and_freshness_are_recorded(
    store: MetricsStore, warehouse: Path, landing_prefix: str, tmp_path: Path
) -> None:
    s3 = S3Hook(aws_conn_id="aws_default")
    keys = [object_key(landing_prefix, TOPIC, 0, first, first + 9) for first in (0, 10, 20)]
    for size, key in zip((100, 200, 300), keys, strict=True):
        s3.load_bytes(b"x" * size, key=key, bucket_name=BUCKET, replace=True)
    add_ledger_row(warehouse, keys[0], 10, datetime.now(UTC) - timedelta(hours=1))  # outside any window
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("CREATE TABLE gold.fct_transactions AS SELECT now() - INTERVAL 120 SECOND AS _built_at")
        conn.execute("CREATE TABLE gold.fct_daily_activity (_built_at TIMESTAMPTZ)")

    run_id = new_run_id()
    first = operator(tmp_path, landing_prefix).execute({"run_id": run_id})  # type: ignore[arg-type]
    unloaded = recorded(store, run_id, "landing.unloaded_files")
    assert (unloaded[TOPIC].value, unloaded[TOPIC].threshold, unloaded[TOPIC].breached) == (2.0, 1.0, True)
    assert recorded(store, run_id, "landing.unloaded_bytes")[TOPIC].value == 500.0
    assert {t: r.value for t, r in recorded(store, run_id, "landing.unloaded_files").items()} == {
        CAPTURE.topic(table): 2.0 if table == "accounts" else 0.0 for table in CAPTURE.source.tables
    }
    freshness = recorded(store, run_id, "gold.freshness_seconds")
    assert set(freshness) == set(GOLD_MODELS)
    assert freshness["fct_transactions"].value is not None and 119 <= freshness["fct_transactions"].value < 180
    assert (freshness["fct_daily_activity"].value, freshness["fct_daily_activity"].status) == (None, "EMPTY")
    assert {freshness[m].status for m in ("dim_customers", "dim_accounts", "fct_daily_account_balances")} == {"MISSING"}
    assert "landing.unloaded_files bank.public.accounts = 2 (> threshold 1)" in first["breaches"]

    # one file loaded between two observations: rows/s = its rows / seconds between the observations
    add_ledger_row(warehouse, keys[1], 10, datetime.now(UTC))
    run_id_2 = new_run_id()
    operator(tmp_path, landing_prefix).execute({"run_id": run_id_2})  # type: ignore[arg-type]
    (t1,) = {r.observed_at for r in recorded(store, run_id, "bronze.load_rows_per_s").values()}
    rate = recorded(store, run_id_2, "bronze.load_rows_per_s")
    t2 = rate[TOPIC].observed_at
    assert rate[TOPIC].value == pytest.approx(10 / (t2 - t1).total_seconds())
    assert rate[CAPTURE.topic("customers")].value == 0.0
    assert recorded(store, run_id_2, "landing.unloaded_files")[TOPIC].value == 1.0


def test_unopenable_warehouse_is_recorded_as_unreachable(
    store: MetricsStore, tmp_path: Path, landing_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    absent = tmp_path / "absent" / "warehouse.duckdb"  # read-only open of a missing file fails
    monkeypatch.setenv("AIRFLOW_CONN_DUCKDB_DEFAULT", json.dumps({"conn_type": "duckdb", "host": str(absent)}))
    run_id = new_run_id()
    result = operator(tmp_path, landing_prefix).execute({"run_id": run_id})  # type: ignore[arg-type]
    from banking_cdc.transform.dbt_project import checked_silver_models

    for metric in ("landing.unloaded_files", "bronze.load_rows_per_s", "gold.freshness_seconds",
                   "silver.rejected_values", "silver.new_rejected_values", "silver.rejected_keys"):  # fmt: skip
        rows = recorded(store, run_id, metric)
        assert rows and {(r.status, r.breached) for r in rows.values()} == {("UNREACHABLE", True)}, metric
    assert len(result["breaches"]) == 2 * 3 + 3 + len(GOLD_MODELS) + 3 * len(checked_silver_models())
