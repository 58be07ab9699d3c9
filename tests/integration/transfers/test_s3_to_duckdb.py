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

from banking_cdc.stage.landing import BatchBuilder, object_key
from banking_cdc.transfers.s3_to_duckdb import S3ToDuckDBBronzeOperator
from banking_cdc.warehouse.bronze import BronzeError
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


def distinct_coordinates(path: Path) -> tuple[int, int, int]:
    """(rows, distinct (topic, partition, offset), sum of the ledger's rows_loaded) of bronze.transactions."""
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(
            "SELECT count(*), count(DISTINCT (kafka_topic, kafka_partition, kafka_offset)), "
            "(SELECT sum(rows_loaded) FROM bronze.load_ledger) FROM bronze.transactions"
        ).fetchone()


def test_kafka_coordinates_are_unique_in_bronze(prefix: str, warehouse: Path) -> None:
    first = load(prefix, file_keys=[put_batch(prefix, 0, 0, 30)])
    assert first["loaded"][0]["overlapping"] is False  # appended without a duplicate check
    # a replay that landed the same offsets under another range: rows already in bronze are ignored
    replay = load(prefix, file_keys=[put_batch(prefix, 0, 20, 20)])
    assert replay["loaded"][0]["rows_in_file"] == 20 and replay["loaded"][0]["rows_loaded"] == 10
    assert replay["loaded"][0]["overlapping"] is True
    assert counts(warehouse) == (40, 2)
    # inside a loaded range (nothing new), straddling one, adjacent to one, and in one run with its overlap
    more = load(
        prefix,
        file_keys=[
            put_batch(prefix, 0, 10, 15),
            put_batch(prefix, 0, 35, 25),
            put_batch(prefix, 0, 60, 10),
            put_batch(prefix, 1, 0, 10),
            put_batch(prefix, 1, 5, 10),
        ],
    )
    by_first = {(f["key"].split("/")[-2], int(f["key"].rsplit("/", 1)[1][:20])): f for f in more["loaded"]}
    assert [(f["rows_loaded"], f["overlapping"]) for _, f in sorted(by_first.items())] == [
        (0, True), (20, True), (10, False), (10, False), (5, True),
    ]  # fmt: skip
    assert distinct_coordinates(warehouse) == (85, 85, 85)
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        keyed = conn.execute(
            "SELECT count(*) FROM duckdb_constraints() WHERE schema_name = 'bronze' "
            "AND table_name = 'transactions' AND constraint_type = 'PRIMARY KEY'"
        ).fetchone()[0]
    assert keyed == 0  # uniqueness is the loader's, not an index's (docs/ARCHITECTURE.md, Bronze)


LEGACY_DDL = """
CREATE SCHEMA bronze;
CREATE TABLE bronze.transactions (
    kafka_topic VARCHAR NOT NULL, kafka_partition INTEGER NOT NULL, kafka_offset BIGINT NOT NULL,
    kafka_timestamp TIMESTAMPTZ, kafka_key VARCHAR, is_tombstone BOOLEAN, op VARCHAR, event_ts_ms BIGINT,
    source_ts_ms BIGINT, source_lsn BIGINT, source_tx_id BIGINT, source_snapshot VARCHAR, source_db VARCHAR,
    source_schema VARCHAR, source_table VARCHAR, before_json JSON, after_json JSON, source_file VARCHAR,
    loaded_at TIMESTAMPTZ,
    PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)
);
"""


def test_a_warehouse_created_with_the_primary_key_keeps_loading(prefix: str, warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute(LEGACY_DDL)  # bronze.transactions as the earlier DDL created it
    manifest = load(prefix, file_keys=[put_batch(prefix, 0, 0, 30), put_batch(prefix, 0, 20, 20)])
    assert [f["rows_loaded"] for f in manifest["loaded"]] == [30, 10]
    assert distinct_coordinates(warehouse) == (40, 40, 40)
    with duckdb.connect(str(warehouse)) as conn, pytest.raises(duckdb.ConstraintException):
        conn.execute(
            "INSERT INTO bronze.transactions (kafka_topic, kafka_partition, kafka_offset, is_tombstone) "
            "VALUES (?, 0, 5, false)",
            [TOPIC],
        )


def test_a_file_whose_rows_leave_its_key_fails_naming_it(prefix: str, warehouse: Path) -> None:
    good = put_batch(prefix, 0, 0, 10)
    batch = BatchBuilder(topic=TOPIC, partition=1, max_message_bytes=10_000)
    for offset in range(100, 110):
        batch.add(offset, 1_700_000_000_000, None, envelope(offset))
    wrong = object_key(prefix, TOPIC, 0, 100, 109)  # partition 1's rows under a partition 0 key
    S3Hook(aws_conn_id="aws_default").load_bytes(batch.landing_parquet() or b"", key=wrong, bucket_name=BUCKET)
    with pytest.raises(BronzeError, match=rf"{wrong}: rows do not match the key's coordinates \(kafka_partition"):
        load(prefix, file_keys=[good, wrong])
    assert counts(warehouse) == (10, 1)


def test_invalid_json_fails_the_file_naming_it_and_payloads_stay_json(prefix: str, warehouse: Path) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    good = put_batch(prefix, 0, 0, 10)
    batch = BatchBuilder(topic=TOPIC, partition=0, max_message_bytes=10_000)
    for offset in range(10, 20):
        batch.add(offset, 1_700_000_000_000, None, envelope(offset))
    table = pq.read_table(io.BytesIO(batch.landing_parquet() or b""))
    after = table["after_json"].to_pylist()
    after[3] = '{"amount": 1.10'  # truncated JSON text
    table = table.set_column(table.schema.get_field_index("after_json"), "after_json", pa.array(after, pa.string()))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    bad = object_key(prefix, TOPIC, 0, 10, 19)
    S3Hook(aws_conn_id="aws_default").load_bytes(sink.getvalue(), key=bad, bucket_name=BUCKET)
    with pytest.raises(BronzeError, match=rf"{bad}: load into bronze.transactions failed .*JSON"):
        load(prefix, file_keys=[good, bad])
    assert counts(warehouse) == (10, 1)
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'bronze' "
                "AND table_name = 'transactions' AND column_name LIKE '%_json'"
            ).fetchall()
        )
        compression = {
            row[0]
            for row in conn.execute(
                "SELECT compression FROM pragma_storage_info('bronze.transactions') "
                "WHERE column_name = 'after_json' AND segment_type <> 'VALIDITY'"
            ).fetchall()
        }
    assert types == {"before_json": "JSON", "after_json": "JSON"}
    assert compression == {"ZSTD"}
