"""Resync operators without services: params are templated and validated before anything is signalled."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from banking_cdc.operate.resync import ResyncError
from banking_cdc.operators.resync import (
    BronzeSnapshotLoadedSensor,
    DebeziumIncrementalSnapshotOperator,
    DebeziumSnapshotCompleteSensor,
)


def test_an_unknown_table_fails_before_any_service_is_called() -> None:
    operator = DebeziumIncrementalSnapshotOperator(task_id="signal", tables="accounts,loans")
    with (
        mock.patch("banking_cdc.operators.resync.topic_watermarks") as watermarks,
        pytest.raises(ResyncError, match="'loans' not captured"),
    ):
        operator.execute(context={})  # type: ignore[arg-type]
    watermarks.assert_not_called()


def test_sensors_default_to_reschedule_mode_with_timeouts() -> None:
    completed = DebeziumSnapshotCompleteSensor(task_id="c", signal={})
    loaded = BronzeSnapshotLoadedSensor(task_id="b", snapshot={})
    assert (completed.mode, loaded.mode) == ("reschedule", "reschedule")
    assert completed.timeout > 0 and loaded.timeout > 0
    assert "signal" in completed.template_fields and "snapshot" in loaded.template_fields
    assert "tables" in DebeziumIncrementalSnapshotOperator.template_fields


def test_bronze_sensor_reports_snapshot_rows_once_the_ledger_covers_the_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import duckdb

    from banking_cdc.capture.config import CaptureConfig
    from banking_cdc.warehouse.duckdb import ensure_duckdb_bronze

    path = tmp_path / "wh.duckdb"
    monkeypatch.setenv("AIRFLOW_CONN_DUCKDB_TEST", json.dumps({"conn_type": "duckdb", "host": str(path)}))
    topic = "bank.public.accounts"
    with duckdb.connect(str(path)) as conn:
        ensure_duckdb_bronze(conn, CaptureConfig.load())
        for offset in range(5, 8):
            conn.execute(
                "INSERT INTO bronze.accounts (kafka_topic, kafka_partition, kafka_offset, is_tombstone, op, "
                "source_snapshot) VALUES (?, 0, ?, false, ?, ?)",
                [topic, offset, "r" if offset < 7 else "u", "incremental" if offset < 7 else "false"],
            )
    snapshot = {"tables": ["accounts"], "signal_id": "s", "topics": {topic: {"0": 5}}, "ends": {topic: {"0": 8}}}
    sensor = BronzeSnapshotLoadedSensor(task_id="b", snapshot=snapshot, duckdb_conn_id="duckdb_test")
    assert sensor.poke(context={}) is False  # type: ignore[arg-type]  # nothing in the ledger yet
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "INSERT INTO bronze.load_ledger (file_key, bronze_table, rows_in_file, rows_loaded, first_offset, "
            "last_offset, "
            "loaded_at) VALUES (?, 'accounts', 3, 3, 5, 7, now())",
            [f"raw/{topic}/partition=0/{5:020d}-{7:020d}.parquet"],
        )
    done = sensor.poke(context={})  # type: ignore[arg-type]
    assert done.is_done and done.xcom_value["snapshot_rows"] == {"accounts": 2}  # type: ignore[union-attr]
