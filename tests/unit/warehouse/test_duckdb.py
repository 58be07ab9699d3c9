"""The DuckDB bronze loader's pure parts: ledger ranges, the coordinates check, the DDL."""

from __future__ import annotations

import random

import duckdb
import pyarrow as pa
import pytest

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.warehouse.bronze import LandingFile
from banking_cdc.warehouse.coordinates import LoadedRanges, coordinates_problem
from banking_cdc.warehouse.duckdb import (
    duckdb_bronze_ddl,
    ensure_duckdb_bronze,
    legacy_keyed_tables,
    rebuild_keyed_bronze_tables,
)

TOPIC = "bank.public.transactions"


def key(partition: int, first: int, last: int, prefix: str = "raw") -> str:
    return f"{prefix}/{TOPIC}/partition={partition}/{first:020d}-{last:020d}.parquet"


def test_ranges_overlap_only_when_offsets_are_shared() -> None:
    ranges = LoadedRanges.from_ledger([(key(0, 0, 99), 0, 99), (key(0, 200, 299, "backfill"), 200, 299)])
    assert not ranges.overlaps(TOPIC, 0, 100, 199)  # the gap between two loaded files
    assert ranges.overlaps(TOPIC, 0, 99, 100) and ranges.overlaps(TOPIC, 0, 150, 200)
    assert ranges.overlaps(TOPIC, 0, 0, 1000) and ranges.overlaps(TOPIC, 0, 250, 260)
    assert not ranges.overlaps(TOPIC, 1, 0, 99) and not ranges.overlaps("other", 0, 0, 99)
    assert not ranges.overlaps(TOPIC, 0, 300, 400)
    ranges.add(TOPIC, 0, 100, 199)  # merges the three into one
    assert ranges.overlaps(TOPIC, 0, 150, 150) and not ranges.overlaps(TOPIC, 0, 300, 300)


def test_ranges_agree_with_a_brute_force_set() -> None:
    rng = random.Random(7)
    ranges, loaded = LoadedRanges(), set()
    for _ in range(400):
        first = rng.randrange(0, 500)
        last = first + rng.randrange(0, 30)
        assert ranges.overlaps(TOPIC, 0, first, last) == bool(loaded & set(range(first, last + 1)))
        if rng.random() < 0.5:
            ranges.add(TOPIC, 0, first, last)
            loaded |= set(range(first, last + 1))


def test_an_unparseable_ledger_key_makes_every_file_overlapping() -> None:
    ranges = LoadedRanges.from_ledger([("somewhere/else.parquet", 0, 9)])
    assert ranges.overlaps(TOPIC, 5, 1_000, 2_000)


def landing(partition: int, offsets: list[int], topic: str = TOPIC) -> pa.Table:
    return pa.table(
        {
            "kafka_topic": pa.array([topic] * len(offsets), pa.string()).dictionary_encode(),
            "kafka_partition": pa.array([partition] * len(offsets), pa.int32()),
            "kafka_offset": pa.array(offsets, pa.int64()),
        }
    )


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        (landing(0, [10, 12, 19]), None),  # gaps (quarantined offsets) are fine
        (landing(0, []), None),
        (landing(1, [10, 11]), "kafka_partition [1] is not 0"),
        (landing(0, [10, 11], topic="bank.public.accounts"), "kafka_topic ['bank.public.accounts'] is not"),
        (landing(0, [9, 11]), "kafka_offset 9..11 is outside 10..19"),
        (landing(0, [11, 20]), "kafka_offset 11..20 is outside 10..19"),
        (landing(0, [11, 11, 12]), "1 repeated kafka_offset(s)"),
        (landing(0, [11, 12]).set_column(2, "kafka_offset", pa.array([11, None], pa.int64())), "null kafka_offset"),
    ],
)
def test_coordinates_problem(table: pa.Table, problem: str | None) -> None:
    found = coordinates_problem(table, LandingFile.parse(key(0, 10, 19)))
    assert found == problem if problem is None else problem in (found or "")


def test_ddl_has_no_primary_key_on_bronze_and_zstd_row_images() -> None:
    capture = CaptureConfig.load()
    statements = duckdb_bronze_ddl(capture)
    bronze = [s for s in statements if s.startswith("CREATE TABLE IF NOT EXISTS bronze.transactions")]
    assert len(bronze) == 1 and "PRIMARY KEY" not in bronze[0]
    assert "after_json JSON USING COMPRESSION zstd" in bronze[0]
    assert "kafka_offset BIGINT NOT NULL" in bronze[0]
    with duckdb.connect() as conn:
        ensure_duckdb_bronze(conn, capture)
        ensure_duckdb_bronze(conn, capture)  # idempotent
        assert legacy_keyed_tables(conn, capture) == []
        conn.execute("DROP TABLE bronze.accounts")
        conn.execute(
            "CREATE TABLE bronze.accounts (kafka_topic VARCHAR, kafka_offset BIGINT, PRIMARY KEY (kafka_topic))"
        )
        assert legacy_keyed_tables(conn, capture) == ["accounts"]


def test_rebuild_drops_the_earlier_primary_key_and_keeps_the_rows() -> None:
    capture = CaptureConfig.load()
    with duckdb.connect() as conn:
        ensure_duckdb_bronze(conn, capture)
        conn.execute("DROP TABLE bronze.transactions")  # recreated as the earlier DDL did
        legacy = duckdb_bronze_ddl(capture)[3 + capture.source.tables.index("transactions")]
        legacy = legacy.replace(" USING COMPRESSION zstd", "").replace(
            "\n)", ",\n    PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)\n)"
        )
        conn.execute(legacy)
        conn.execute(
            "INSERT INTO bronze.transactions (kafka_topic, kafka_partition, kafka_offset, after_json) "
            'SELECT ?, 0, range, \'{"amount":"1.10"}\' FROM range(5)',
            [TOPIC],
        )
        conn.execute("CREATE VIEW silver.v AS SELECT * FROM bronze.transactions")
        assert legacy_keyed_tables(conn, capture) == ["transactions"]
        assert rebuild_keyed_bronze_tables(conn, capture) == ["transactions"]
        assert legacy_keyed_tables(conn, capture) == [] and rebuild_keyed_bronze_tables(conn, capture) == []
        assert conn.execute("SELECT count(*), max(after_json->>'amount') FROM silver.v").fetchone() == (5, "1.10")
        (sql,) = conn.execute("SELECT sql FROM duckdb_tables() WHERE table_name = 'transactions'").fetchone()
        assert "PRIMARY KEY" not in sql and "after_json JSON USING COMPRESSION ZSTD" in sql
