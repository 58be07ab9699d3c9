"""Landing -> DuckDB bronze against the real object store: idempotent, corrupt files named, keys unique."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from banking_cdc.transfers.s3_to_duckdb import S3ToDuckDBBronzeOperator
from banking_cdc.utils.bronze import BronzeError
from banking_cdc.utils.landing import BatchBuilder, object_key
from tests.integration.transfers.conftest import BUCKET, envelope

pytestmark = pytest.mark.integration

TOPIC = "bank.public.transactions"


@pytest.fixture
def prefix(stack: dict[str, str]) -> Iterator[str]:
    name = f"test-raw-{uuid.uuid4().hex[:8]}"
    yield name
    s3 = S3Hook(aws_conn_id="aws_default")
    keys = s3.list_keys(bucket_name=BUCKET, prefix=f"{name}/")
    if keys:
        s3.delete_objects(bucket=BUCKET, keys=keys)


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "wh.duckdb"
    monkeypatch.setenv("AIRFLOW_CONN_DUCKDB_TEST", json.dumps({"conn_type": "duckdb", "host": str(path)}))
    return path


def put_batch(prefix: str, partition: int, first: int, count: int) -> str:
    batch = BatchBuilder(topic=TOPIC, partition=partition, max_message_bytes=10_000)
    for offset in range(first, first + count):
        batch.add(offset, 1_700_000_000_000 + offset, json.dumps({"transaction_id": offset}).encode(), envelope(offset))
    assert batch.last_offset is not None
    key = object_key(prefix, TOPIC, partition, first, batch.last_offset)
    S3Hook(aws_conn_id="aws_default").load_bytes(
        batch.landing_parquet() or b"", key=key, bucket_name=BUCKET, replace=True
    )
    return key


def load(prefix: str, **kwargs: Any) -> dict[str, Any]:
    return S3ToDuckDBBronzeOperator(
        task_id="load", bucket_name=BUCKET, landing_prefix=prefix, duckdb_conn_id="duckdb_test", **kwargs
    ).execute(context={})  # type: ignore[arg-type]


def counts(path: Path) -> tuple[int, int]:
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute("SELECT count(*) FROM bronze.transactions").fetchone()[0]
        ledger = conn.execute("SELECT count(*) FROM bronze.load_ledger").fetchone()[0]
    return rows, ledger


def test_loading_the_same_files_twice_leaves_counts_unchanged(prefix: str, warehouse: Path) -> None:
    keys = [put_batch(prefix, 0, 0, 50), put_batch(prefix, 0, 50, 30), put_batch(prefix, 1, 0, 20)]
    first = load(prefix, file_keys=keys)
    assert first["files_loaded"] == 3 and first["rows_loaded"] == 100
    assert counts(warehouse) == (100, 3)
    second = load(prefix, file_keys=keys)
    assert second["files_loaded"] == 0 and second["files_skipped"] == 3
    assert counts(warehouse) == (100, 3)
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        amount, file = conn.execute(
            "SELECT after_json->>'amount', source_file FROM bronze.transactions "
            "WHERE kafka_partition = 0 AND kafka_offset = 7"
        ).fetchone()
        duplicates = conn.execute(
            "SELECT count(*) FROM (SELECT kafka_topic, kafka_partition, kafka_offset FROM bronze.transactions "
            "GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()[0]
    assert Decimal(amount) == Decimal("7.10")  # the exact decimal text survives landing and bronze
    assert file == keys[0]
    assert duplicates == 0


def test_sweep_finds_files_no_event_named(prefix: str, warehouse: Path) -> None:
    put_batch(prefix, 2, 0, 10)
    put_batch(prefix, 2, 10, 10)
    manifest = load(prefix, file_keys=[])
    assert manifest["files_loaded"] == 2 and counts(warehouse) == (20, 2)


def test_corrupt_file_fails_naming_it_others_stay_consistent_and_a_fixed_file_loads(
    prefix: str, warehouse: Path
) -> None:
    good = [put_batch(prefix, 0, 0, 40), put_batch(prefix, 0, 80, 40)]
    corrupt = object_key(prefix, TOPIC, 0, 40, 79)
    s3 = S3Hook(aws_conn_id="aws_default")
    s3.load_bytes(b"PAR1 this is not parquet", key=corrupt, bucket_name=BUCKET, replace=True)

    with pytest.raises(BronzeError, match=rf"1 file\(s\) failed to load .*{corrupt}: cannot read it as Parquet"):
        load(prefix, file_keys=[*good, corrupt])
    assert counts(warehouse) == (80, 2)  # the good files are in bronze and in the ledger, nothing else

    put_batch(prefix, 0, 40, 40)  # the producer of the file fixes it (same key)
    manifest = load(prefix, file_keys=[corrupt])
    assert manifest["files_loaded"] == 1
    assert counts(warehouse) == (120, 3)


def test_kafka_coordinates_are_unique_in_bronze(prefix: str, warehouse: Path) -> None:
    load(prefix, file_keys=[put_batch(prefix, 0, 0, 30)])
    # a replay that landed the same offsets under another range: rows already in bronze are ignored
    replay = load(prefix, file_keys=[put_batch(prefix, 0, 20, 20)])
    assert replay["loaded"][0]["rows_in_file"] == 20 and replay["loaded"][0]["rows_loaded"] == 10
    assert counts(warehouse) == (40, 2)
    with duckdb.connect(str(warehouse)) as conn, pytest.raises(duckdb.ConstraintException):
        conn.execute(
            "INSERT INTO bronze.transactions (kafka_topic, kafka_partition, kafka_offset, is_tombstone) "
            "VALUES (?, 0, 5, false)",
            [TOPIC],
        )
