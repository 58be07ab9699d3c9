"""Replay from landing into DuckDB bronze against the real object store: lost rows come back exactly once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from banking_cdc.transfers.landing_replay import LandingReplayOperator, main
from banking_cdc.warehouse.bronze import BronzeError
from tests.integration.transfers.conftest import BUCKET
from tests.integration.transfers.test_s3_to_duckdb import load, prefix, put_batch, warehouse  # noqa: F401

pytestmark = pytest.mark.integration

_COLUMNS = (
    "kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, kafka_key, is_tombstone, op, event_ts_ms, "
    "source_ts_ms, source_lsn, source_tx_id, source_snapshot, source_table, CAST(before_json AS VARCHAR), "
    "CAST(after_json AS VARCHAR), source_file"
)


def bronze(path: Path) -> list[tuple[Any, ...]]:
    """Every bronze.transactions row (all columns but loaded_at), in Kafka order."""
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(f"SELECT {_COLUMNS} FROM bronze.transactions ORDER BY 1, 2, 3").fetchall()


def replay(landing: str, start: datetime, end: datetime, tables: Any = "transactions") -> dict[str, Any]:
    return LandingReplayOperator(
        task_id="replay", start=start.isoformat(), end=end.isoformat(), tables=tables, bucket_name=BUCKET,
        landing_prefix=landing, duckdb_conn_id="duckdb_test",
    ).execute(context={})  # type: ignore[arg-type]  # fmt: skip


def now() -> datetime:
    return datetime.now(UTC)


def test_replay_restores_deleted_rows_exactly_once_and_a_second_replay_is_a_no_op(
    prefix: str,  # noqa: F811
    warehouse: Path,  # noqa: F811
) -> None:
    began = now() - timedelta(seconds=5)
    keys = [put_batch(prefix, 0, 0, 40), put_batch(prefix, 0, 40, 30), put_batch(prefix, 2, 0, 25)]
    assert load(prefix, file_keys=keys)["rows_loaded"] == 95
    original = bronze(warehouse)
    # bronze loses a file's rows and its ledger row, and half of another file's rows (ledger row kept)
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("DELETE FROM bronze.transactions WHERE source_file = ?", [keys[0]])
        conn.execute("DELETE FROM bronze.load_ledger WHERE file_key = ?", [keys[0]])
        conn.execute("DELETE FROM bronze.transactions WHERE kafka_partition = 2 AND kafka_offset % 2 = 0")
    assert len(bronze(warehouse)) == 95 - 40 - 13

    report = replay(prefix, began, now() + timedelta(minutes=1))
    assert (report["files_seen"], report["rows_inserted"], report["rows_already_present"]) == (3, 53, 42)
    assert bronze(warehouse) == original  # every row back, each once, identical
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        ledger = conn.execute("SELECT file_key, rows_in_file FROM bronze.load_ledger ORDER BY 1").fetchall()
    assert ledger == sorted([(keys[0], 40), (keys[1], 30), (keys[2], 25)])  # the lost ledger row is back

    again = replay(prefix, began, now() + timedelta(minutes=1))
    assert (again["files_seen"], again["rows_inserted"], again["rows_already_present"]) == (3, 0, 95)
    assert bronze(warehouse) == original


def test_replay_after_a_dropped_bronze_table_restores_it(prefix: str, warehouse: Path) -> None:  # noqa: F811
    began = now() - timedelta(seconds=5)
    keys = [put_batch(prefix, 1, 0, 20), put_batch(prefix, 1, 20, 20)]
    load(prefix, file_keys=keys)
    original = bronze(warehouse)
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("DROP TABLE bronze.transactions")  # the ledger still says both files are loaded
    assert load(prefix, file_keys=keys)["rows_loaded"] == 0  # the normal load trusts the ledger: nothing back
    report = replay(prefix, began, now() + timedelta(minutes=1), tables=["transactions"])
    assert (report["files_seen"], report["rows_inserted"], report["rows_already_present"]) == (2, 40, 0)
    assert bronze(warehouse) == original


def test_replay_selects_files_by_landing_time_and_table(prefix: str, warehouse: Path) -> None:  # noqa: F811
    put_batch(prefix, 0, 0, 10)
    earlier = replay(prefix, now() - timedelta(hours=2), now() - timedelta(hours=1))
    assert earlier["files_seen"] == 0 and earlier["rows_inserted"] == 0
    other_table = replay(prefix, now() - timedelta(hours=1), now() + timedelta(minutes=1), tables="accounts")
    assert other_table["files_seen"] == 0
    with pytest.raises(BronzeError, match="'nope' not captured"):
        replay(prefix, now() - timedelta(hours=1), now(), tables="nope")
    with pytest.raises(BronzeError, match="replay range is empty"):
        replay(prefix, now(), now() - timedelta(hours=1))


def test_cli_replays_and_prints_the_report(
    prefix: str,  # noqa: F811
    warehouse: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    began = now() - timedelta(seconds=5)
    put_batch(prefix, 0, 0, 12)
    code = main(
        ["--start", began.isoformat(), "--end", (now() + timedelta(minutes=1)).isoformat(), "--tables", "transactions",
         "--landing-prefix", prefix, "--duckdb-conn-id", "duckdb_test"]
    )  # fmt: skip
    out = capsys.readouterr().out
    report = json.loads(out[out.index('{\n  "start"') :])
    assert code == 0
    assert (report["files_seen"], report["rows_inserted"], report["rows_already_present"]) == (1, 12, 0)
    assert len(bronze(warehouse)) == 12
