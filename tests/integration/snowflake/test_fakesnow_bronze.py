"""Snowflake bronze against the fakesnow emulator (in-process ``fakesnow.patch()``; no native stack needed).

What runs here, through ``SnowflakeHook`` on the ``snowflake_default`` connection:

* ``10_database.sql``, ``20_landing.sql`` (stage URL ``file://``; the emulator ignores its
  STORAGE_INTEGRATION clause) and ``30_bronze.sql`` exactly as rendered, applied twice;
* ``S3ToSnowflakeBronzeOperator`` on real landing Parquet files built by ``BatchBuilder``: the production
  COPY statement (explicit SELECT on ``$1``, ``PARSE_JSON`` into VARIANT, ``CURRENT_TIMESTAMP()``,
  ``FILES``, ``FORMAT_NAME``, ``ON_ERROR = ABORT_STATEMENT``) with one substitution:
  ``METADATA$FILENAME`` -> ``filename`` (DuckDB's file-name column), because the emulator has no
  METADATA$ columns; batching, the ledger skip, the load-history skip of a second COPY, the ledger MERGE,
  and the rollback of a batch holding a corrupt file.

What the emulator cannot run (covered by golden tests in ``tests/unit/transfers/test_s3_to_snowflake.py``
and listed in the docs as untested against a live account): ``00_admin.sql`` (CREATE ROLE / WAREHOUSE /
STORAGE INTEGRATION and GRANT are parser errors), ``METADATA$FILENAME``, a stage on ``s3://`` (reading
it needs DuckDB's httpfs extension, which cannot be downloaded here), ON_ERROR other than
ABORT_STATEMENT, PATTERN, COPY_HISTORY / time travel, and Snowflake's own result for a file skipped by
load metadata (the emulator reports ``LOAD_SKIPPED``, Snowflake leaves the file out of the result).
The emulator enforces the declared primary keys, which Snowflake does not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakesnow
import pytest
import snowflake.connector

from banking_cdc.settings import DEFAULT_LANDING_BUCKET
from banking_cdc.stage.landing import BatchBuilder, object_key
from banking_cdc.transfers.s3_to_snowflake import S3ToSnowflakeBronzeOperator
from banking_cdc.warehouse.bronze import BronzeError, LandingFile
from banking_cdc.warehouse.snowflake_copy import (
    LedgerEntry,
    check_copy_results,
    copy_columns,
    copy_into_sql,
    merge_ledger,
    parse_copy_result,
)
from banking_cdc.warehouse.snowflake_setup import SnowflakeSetup, apply_setup

pytestmark = pytest.mark.integration

BUCKET = DEFAULT_LANDING_BUCKET
DATABASE = "BANKING"
#: DuckDB's file-name column of a Parquet scan, the emulator's stand-in for METADATA$FILENAME
EMULATOR_SOURCE_FILE = "filename"


class EmulatorBronzeOperator(S3ToSnowflakeBronzeOperator):
    """The production operator; only the ``source_file`` expression differs (no METADATA$ columns in fakesnow)."""

    copy_source_file = EMULATOR_SOURCE_FILE


ROWS: dict[str, Any] = {
    "customers": lambda i: {"customer_id": i, "full_name": f"Customer {i}", "email": f"c{i}@example.com"},
    "accounts": lambda i: {"account_id": i, "customer_id": i, "balance": f"{i}00.10", "status": "open"},
    "transactions": lambda i: {"transaction_id": i, "account_id": 1, "amount": f"{i}.05", "direction": "credit"},
}


def envelope(table: str, i: int, op: str) -> bytes:
    row = ROWS[table](i)
    return json.dumps(
        {
            "before": row if op in ("u", "d") else None,
            "after": None if op == "d" else row,
            "source": {"version": "3.6.1.Final", "lsn": 5000 + i, "txId": 900 + i, "ts_ms": 1_700_000_000_000 + i,
                       "snapshot": "false", "db": "banking", "schema": "public", "table": table},
            "op": op,
            "ts_ms": 1_700_000_000_500 + i,
        }
    ).encode()  # fmt: skip


def landing_file(stage_dir: Path, table: str, partition: int, first: int, count: int) -> tuple[str, int]:
    """Write one landing file (creates, an update, a delete and its tombstone); return (key, rows)."""
    topic = f"bank.public.{table}"
    batch = BatchBuilder(topic=topic, partition=partition, max_message_bytes=100_000)
    for offset in range(first, first + count):
        op = "c" if offset % 4 == 0 else "u" if offset % 4 == 1 else "d"
        message_key = json.dumps({f"{table[:-1]}_id": offset}).encode()
        batch.add(offset, 1_700_000_000_000 + offset, message_key, envelope(table, offset, op))
        if op == "d":
            batch.add(offset + 1, 1_700_000_000_000 + offset, message_key, None)  # tombstone
            break
    body = batch.landing_parquet()
    assert body is not None and batch.first_offset is not None and batch.last_offset is not None
    key = object_key("raw", topic, partition, batch.first_offset, batch.last_offset)
    path = stage_dir / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return key, batch.landed


@pytest.fixture
def stage_dir(tmp_path: Path) -> Path:
    path = tmp_path / "landing"
    path.mkdir()
    return path


@pytest.fixture
def landed(stage_dir: Path) -> dict[str, int]:
    """Landing files of every captured table: key -> rows."""
    files = [
        landing_file(stage_dir, "customers", 0, 0, 3),
        landing_file(stage_dir, "customers", 1, 10, 2),
        landing_file(stage_dir, "accounts", 0, 0, 3),
        landing_file(stage_dir, "transactions", 2, 100, 3),
        landing_file(stage_dir, "transactions", 2, 104, 2),
    ]
    return dict(files)


@pytest.fixture
def snowflake_conn(stage_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The emulator, set up with the pipeline's setup files; yields the test's own connection."""
    # the emulator's COPY needs a current schema even with qualified names (Snowflake does not)
    monkeypatch.setenv(
        "AIRFLOW_CONN_SNOWFLAKE_DEFAULT",
        json.dumps({"conn_type": "snowflake", "login": "loader", "password": "not-a-secret", "schema": "BRONZE",
                    "extra": {"account": "emulator", "database": DATABASE, "warehouse": "LOAD_WH", "role": "LOADER"}}),
    )  # fmt: skip
    with fakesnow.patch():
        conn = snowflake.connector.connect(database=DATABASE)
        apply_setup(conn, SnowflakeSetup(database=DATABASE, stage_url=f"file://{stage_dir}/"))
        yield conn
        conn.close()


def query(conn: Any, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def bronze_count(conn: Any, table: str) -> int:
    return int(query(conn, f"SELECT COUNT(*) FROM {DATABASE}.BRONZE.{table}")[0][0])


def ledger(conn: Any) -> dict[str, tuple[Any, ...]]:
    rows = query(conn, f"SELECT FILE_KEY, BRONZE_TABLE, ROWS_LOADED, ROWS_IN_FILE FROM {DATABASE}.BRONZE.LOAD_LEDGER")
    assert len(rows) == len({r[0] for r in rows}), "the ledger holds one row per file"
    return {r[0]: r[1:] for r in rows}


def load(files: list[str], **kwargs: Any) -> dict[str, Any]:
    """Run the operator on the named files (no sweep: the emulator's stage is a folder, not a bucket)."""
    op = EmulatorBronzeOperator(task_id="load_bronze", file_keys=files, bucket_name=BUCKET, sweep=False, **kwargs)
    return op.execute(context={})


def loaded(manifest: dict[str, Any], already: bool = False) -> list[str]:
    return sorted(f["key"] for f in manifest["loaded"] if f["already_loaded"] is already)


def rows_of(landed: dict[str, int], table: str) -> int:
    return sum(rows for key, rows in landed.items() if f"/bank.public.{table}/" in key)


def test_setup_creates_bronze_tables_from_the_contract_and_is_idempotent(snowflake_conn: Any, stage_dir: Path) -> None:
    # applied once by the fixture; a second application changes nothing and fails on nothing
    apply_setup(snowflake_conn, SnowflakeSetup(database=DATABASE, stage_url=f"file://{stage_dir}/"))
    tables = query(snowflake_conn, "SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'BRONZE'")
    assert {t[0] for t in tables} == {"CUSTOMERS", "ACCOUNTS", "TRANSACTIONS", "LOAD_LEDGER"}
    schemas = query(snowflake_conn, "SELECT SCHEMA_NAME FROM INFORMATION_SCHEMA.SCHEMATA")
    assert {"BRONZE", "SILVER", "GOLD"} <= {s[0] for s in schemas}
    columns = query(
        snowflake_conn,
        "SELECT COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS "
        "WHERE TABLE_SCHEMA = 'BRONZE' AND TABLE_NAME = 'CUSTOMERS' ORDER BY ORDINAL_POSITION",
    )
    assert tuple(c[0] for c in columns) == copy_columns()
    types = dict(columns)
    assert types["BEFORE_JSON"] == types["AFTER_JSON"] == "VARIANT"
    assert types["KAFKA_TIMESTAMP"] == types["LOADED_AT"] == "TIMESTAMP_TZ"
    stages = query(snowflake_conn, f"SHOW STAGES IN SCHEMA {DATABASE}.BRONZE")
    assert any("LANDING_STAGE" in row for row in stages)


def test_loads_every_file_once_and_skips_ledger_files_on_the_next_run(
    snowflake_conn: Any, landed: dict[str, int]
) -> None:
    manifest = load(list(landed))
    assert loaded(manifest) == sorted(landed) and loaded(manifest, already=True) == []
    assert manifest["files_skipped"] == 0 and manifest["files_loaded"] == len(landed)
    assert manifest["rows_loaded"] == sum(landed.values())
    assert manifest["copy_statements"] == 3  # one per table
    for table in ("customers", "accounts", "transactions"):
        assert bronze_count(snowflake_conn, table.upper()) == rows_of(landed, table) == manifest["bronze_rows"][table]
    assert ledger(snowflake_conn) == {
        key: (key.split("/")[1].split(".")[-1], rows, rows) for key, rows in landed.items()
    }

    # the payload is VARIANT: paths and exact decimals; tombstones have no payload; the source file is recorded
    rows = query(
        snowflake_conn,
        f"SELECT KAFKA_OFFSET, OP, IS_TOMBSTONE, AFTER_JSON:balance::NUMBER(18,2), BEFORE_JSON:status::VARCHAR, "
        f"SOURCE_FILE, SOURCE_LSN FROM {DATABASE}.BRONZE.ACCOUNTS ORDER BY KAFKA_OFFSET",
    )
    assert [(r[0], r[1], r[2]) for r in rows] == [(0, "c", False), (1, "u", False), (2, "d", False), (3, None, True)]
    assert str(rows[1][3]) == "100.10" and rows[2][3] is None and rows[2][4] == "open"
    account_key = next(k for k in landed if "/bank.public.accounts/" in k)
    assert all(str(r[5]).endswith(account_key) for r in rows)
    assert rows[0][6] == 5000
    duplicates = query(
        snowflake_conn,
        f"SELECT KAFKA_TOPIC, KAFKA_PARTITION, KAFKA_OFFSET FROM {DATABASE}.BRONZE.TRANSACTIONS "
        "QUALIFY COUNT(*) OVER (PARTITION BY KAFKA_TOPIC, KAFKA_PARTITION, KAFKA_OFFSET) > 1",
    )
    assert duplicates == []

    # the source catalog was kept in Snowflake SQL before the load (the generic silver models read it)
    catalog = query(
        snowflake_conn,
        f"SELECT TABLE_NAME, COLUMN_NAME, KIND, PRECISION, SCALE, KEY_POSITION FROM {DATABASE}.BRONZE.SOURCE_COLUMNS "
        "WHERE TABLE_NAME = 'accounts' AND COLUMN_NAME IN ('account_id', 'balance') ORDER BY COLUMN_NAME",
    )
    assert [tuple(row) for row in catalog] == [
        ("accounts", "account_id", "integer", 64, None, 1), ("accounts", "balance", "decimal", 18, 2, None),
    ]  # fmt: skip
    assert manifest["schema_changes"] == []

    again = load(list(landed))
    assert again["files_skipped"] == len(landed) and again["loaded"] == []
    assert again["rows_loaded"] == 0 and again["copy_statements"] == 0
    assert again["bronze_rows"] == manifest["bronze_rows"]
    assert bronze_count(snowflake_conn, "CUSTOMERS") == rows_of(landed, "customers")


def test_a_second_copy_reports_the_files_as_already_loaded(snowflake_conn: Any, landed: dict[str, int]) -> None:
    files = [k for k in landed if "/bank.public.customers/" in k]
    statement = copy_into_sql("customers", files, schema="BRONZE", source_file=EMULATOR_SOURCE_FILE)
    results = []
    for _ in range(2):
        with snowflake_conn.cursor() as cur:
            cur.execute(statement)
            results.append(parse_copy_result(cur.description, cur.fetchall()))
    assert [(r.status, r.rows_loaded) for r in results[0]] == [("LOADED", landed[k]) for k in files]
    assert [(r.status, r.rows_loaded) for r in results[1]] == [("LOAD_SKIPPED", 0)] * len(files)
    assert set(check_copy_results("BRONZE.CUSTOMERS", files, results[1]).skipped) == set(files)
    assert bronze_count(snowflake_conn, "CUSTOMERS") == rows_of(landed, "customers")

    # the operator, with the ledger lost: the load history skips every file, bronze proves the rows are
    # there, and the ledger is rebuilt with the rows each file holds in bronze
    load(list(landed))
    query(snowflake_conn, f"DELETE FROM {DATABASE}.BRONZE.LOAD_LEDGER")
    manifest = load(list(landed))
    assert loaded(manifest, already=True) == sorted(landed)
    assert loaded(manifest) == [] and manifest["rows_loaded"] == 0 and manifest["files_skipped"] == 0
    assert ledger(snowflake_conn) == {
        key: (key.split("/")[1].split(".")[-1], rows, rows) for key, rows in landed.items()
    }
    assert sum(bronze_count(snowflake_conn, t) for t in ("CUSTOMERS", "ACCOUNTS", "TRANSACTIONS")) == sum(
        landed.values()
    )


def test_ledger_merge_twice_keeps_one_row_per_file(snowflake_conn: Any, landed: dict[str, int]) -> None:
    entries = [
        LedgerEntry(LandingFile.parse(key), "customers", rows, rows, {"status": "LOADED", "rows_loaded": rows})
        for key, rows in landed.items()
    ]
    for _ in range(2):
        with snowflake_conn.cursor() as cur:
            merge_ledger(cur, entries, schema=f"{DATABASE}.BRONZE")
    assert set(ledger(snowflake_conn)) == set(landed)
    statuses = query(snowflake_conn, f"SELECT DISTINCT LOAD_DETAIL:status::VARCHAR FROM {DATABASE}.BRONZE.LOAD_LEDGER")
    assert statuses == [("LOADED",)]


def test_batches_of_at_most_max_files_per_copy(snowflake_conn: Any, stage_dir: Path) -> None:
    files = dict(landing_file(stage_dir, "customers", 0, first, 1) for first in range(0, 50, 10))
    manifest = load(list(files), max_files_per_copy=2, database=DATABASE)
    assert manifest["copy_statements"] == 3
    assert bronze_count(snowflake_conn, "CUSTOMERS") == sum(files.values()) == manifest["rows_loaded"]
    assert set(ledger(snowflake_conn)) == set(files)


def test_a_corrupt_file_fails_naming_it_and_its_batch_rolls_back(
    snowflake_conn: Any, landed: dict[str, int], stage_dir: Path
) -> None:
    corrupt = object_key("raw", "bank.public.transactions", 3, 0, 9)
    (stage_dir / corrupt).parent.mkdir(parents=True, exist_ok=True)
    (stage_dir / corrupt).write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(BronzeError) as failed:
        load([*landed, corrupt])
    message = str(failed.value)
    assert corrupt in message and "BRONZE.TRANSACTIONS" in message
    assert not any(key in message for key in landed), "only the corrupt file is named"
    # customers and accounts were committed before; the transactions batch (good files too) rolled back
    assert bronze_count(snowflake_conn, "CUSTOMERS") == rows_of(landed, "customers")
    assert bronze_count(snowflake_conn, "ACCOUNTS") == rows_of(landed, "accounts")
    assert bronze_count(snowflake_conn, "TRANSACTIONS") == 0
    assert {v[0] for v in ledger(snowflake_conn).values()} == {"customers", "accounts"}

    # fixed (here: re-landed as a real file), the next run completes and loads only what is missing
    (stage_dir / corrupt).unlink()
    fixed, rows = landing_file(stage_dir, "transactions", 3, 0, 3)
    manifest = load([*landed, fixed])
    assert loaded(manifest) == sorted([*(k for k in landed if "transactions" in k), fixed])
    assert manifest["files_skipped"] == 3
    assert bronze_count(snowflake_conn, "TRANSACTIONS") == rows_of(landed, "transactions") + rows
    assert len(ledger(snowflake_conn)) == len(landed) + 1


class EmulatorReplayOperator(EmulatorBronzeOperator):
    """The bronze loader in replay mode (what the landing replay runs), on the emulator."""

    replay_mode = True


def test_replay_restores_lost_rows_exactly_once_and_adds_nothing_else(
    snowflake_conn: Any, landed: dict[str, int]
) -> None:
    load(list(landed))
    before = {t: bronze_count(snowflake_conn, t) for t in ("CUSTOMERS", "ACCOUNTS", "TRANSACTIONS")}
    lost = next(k for k in landed if "/bank.public.transactions/" in k)
    query(snowflake_conn, f"DELETE FROM {DATABASE}.BRONZE.TRANSACTIONS WHERE KAFKA_OFFSET < 104")
    assert bronze_count(snowflake_conn, "TRANSACTIONS") == before["TRANSACTIONS"] - landed[lost]

    op = EmulatorReplayOperator(task_id="replay", file_keys=list(landed), bucket_name=BUCKET, sweep=False)
    manifest = op.execute(context={})
    assert {t: bronze_count(snowflake_conn, t) for t in before} == before  # the lost rows are back, once
    assert manifest["rows_loaded"] == landed[lost] and manifest["rows_in_files"] == sum(landed.values())
    assert {f["key"]: f["rows_loaded"] for f in manifest["loaded"]} == {
        k: (landed[k] if k == lost else 0) for k in landed
    }
    duplicates = query(
        snowflake_conn,
        f"SELECT KAFKA_OFFSET FROM {DATABASE}.BRONZE.TRANSACTIONS GROUP BY KAFKA_OFFSET HAVING COUNT(*) > 1",
    )
    assert duplicates == []
    assert set(ledger(snowflake_conn)) == set(landed)  # the ledger keeps one row per file

    again = op.execute(context={})
    assert again["rows_loaded"] == 0 and {t: bronze_count(snowflake_conn, t) for t in before} == before


def test_the_seam_reads_the_ledger_and_bronze_on_snowflake(snowflake_conn: Any, landed: dict[str, int]) -> None:
    from datetime import UTC, datetime, timedelta

    from banking_cdc.warehouse.snowflake import SnowflakeWarehouse

    load(list(landed))
    warehouse = SnowflakeWarehouse(snowflake_conn, schema=f"{DATABASE}.BRONZE")
    rows = warehouse.ledger()
    assert {r.file_key: (r.bronze_table, r.rows_in_file, r.rows_loaded) for r in rows} == {
        key: (key.split("/")[1].split(".")[-1], n, n) for key, n in landed.items()
    }
    transactions = warehouse.ledger(bronze_table="transactions", last_offset_from=104)
    assert [(r.first_offset, r.last_offset) for r in transactions] == [(104, 105)]
    assert warehouse.ledger_keys("raw/bank.public.customers/") == {k for k in landed if "customers" in k}
    now = datetime.now(UTC)
    assert warehouse.rows_loaded_between(now - timedelta(hours=1), now + timedelta(minutes=1)) == {
        t: rows_of(landed, t) for t in ("customers", "accounts", "transactions")
    }
    ((count,),) = warehouse.query(f"SELECT COUNT(*) FROM {warehouse.bronze_relation('accounts')} WHERE OP = ?", ["c"])
    assert count == 1
