"""Benchmark: landing Parquet -> DuckDB bronze rows/s (S3ToDuckDBBronzeOperator), vs a bare DuckDB insert.

Writes ``--rows`` Debezium-shaped ``transactions`` rows as landing files of ``--rows-per-file`` under a
scratch prefix of the landing bucket, then loads them with the operator into a scratch DuckDB file
(per-file transactions with the ledger row, unique Kafka coordinates, JSON cast of the row images).
Baseline in the same run: the same Arrow tables (already decoded) appended to a table of a DuckDB file
without ledger, key, JSON cast or column settings (DuckDB's default storage). Needs the native stack
(object store); cleans up after itself.

``--profile`` then breaks the time down on the first ``--profile-files`` files (same run, same Arrow
tables, each variant into a fresh DuckDB file, one transaction per file): object-store GET, Parquet
decode, and the INSERT under each design choice (primary key or not, ``INSERT OR IGNORE``, JSON cast,
column compression, DuckDB settings), split into statement and COMMIT (checkpoint) time.

    .venv/bin/python tests/benchmarks/bronze_duckdb.py --rows 5000000 [--profile]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))
sys.path.insert(0, str(ROOT))

from stage_throughput import envelope  # noqa: E402

from tests.stack_env import load_stack_env  # noqa: E402

TOPIC = "bank.public.transactions"


def bare_append_seconds(path: Path, tables: list[Any]) -> float:
    """The baseline: append the Arrow tables to a table of the same columns in a new DuckDB file at ``path``
    (default storage: no key, no ledger, no JSON cast); return the seconds of the appends."""
    import duckdb

    with duckdb.connect(str(path)) as conn:
        conn.register("first", tables[0])
        conn.execute("CREATE TABLE raw AS SELECT * FROM first LIMIT 0")
        conn.unregister("first")
        began = time.perf_counter()
        for table in tables:
            conn.register("batch", table)
            conn.execute("INSERT INTO raw SELECT * FROM batch")
            conn.unregister("batch")
        return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--rows-per-file", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true", help="break the time down (see the docstring)")
    parser.add_argument("--profile-files", type=int, default=10)
    args = parser.parse_args()
    load_stack_env()

    import duckdb
    import pyarrow.parquet as pq
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from banking_cdc.stage.landing import BatchBuilder, object_key
    from banking_cdc.stage.listing import iter_keys
    from banking_cdc.transfers.s3_to_duckdb import S3ToDuckDBBronzeOperator

    s3 = S3Hook(aws_conn_id="aws_default")
    bucket, prefix = "banking-landing", f"bench-landing-{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="bcdc-bench-"))
    os.environ["AIRFLOW_CONN_DUCKDB_BENCH"] = json.dumps({"conn_type": "duckdb", "host": str(workdir / "wh.duckdb")})
    tables = []
    try:
        began = time.perf_counter()
        for first in range(0, args.rows, args.rows_per_file):
            batch = BatchBuilder(topic=TOPIC, partition=first // args.rows_per_file % 6, max_message_bytes=10_000)
            for offset in range(first, min(first + args.rows_per_file, args.rows)):
                batch.add(offset, 1_795_692_401_504, b'{"transaction_id":%d}' % offset, envelope(offset))
            assert batch.last_offset is not None
            payload = batch.landing_parquet()
            assert payload is not None
            key = object_key(prefix, TOPIC, batch.partition, first, batch.last_offset)
            s3.load_bytes(payload, key=key, bucket_name=bucket, replace=True)
            tables.append(pq.read_table(io.BytesIO(payload)))
        print(f"landing: {args.rows:,} rows in {len(tables)} files written in {time.perf_counter() - began:.1f}s")

        operator = S3ToDuckDBBronzeOperator(
            task_id="bench", bucket_name=bucket, landing_prefix=prefix, duckdb_conn_id="duckdb_bench", sweep=True
        )
        began = time.perf_counter()
        manifest = operator.execute(context={})  # type: ignore[arg-type]
        loaded_s = time.perf_counter() - began
        assert manifest["rows_loaded"] == args.rows, manifest["rows_loaded"]

        baseline_s = bare_append_seconds(workdir / "baseline.duckdb", tables)

        rate, base = args.rows / loaded_s, args.rows / baseline_s
        with duckdb.connect(str(workdir / "wh.duckdb"), read_only=True) as conn:
            rows, distinct = conn.execute(
                "SELECT count(*), count(DISTINCT (kafka_topic, kafka_partition, kafka_offset)) FROM bronze.transactions"
            ).fetchone()
        assert rows == distinct == args.rows, (rows, distinct)
        size = {name: (workdir / name).stat().st_size / 1e6 for name in ("wh.duckdb", "baseline.duckdb")}
        print(
            f"operator (S3 GET, decode, ledger, unique offsets, JSON): {args.rows:,} rows in {loaded_s:.1f}s = "
            f"{rate:,.0f} rows/s ({size['wh.duckdb']:,.0f} MB)"
        )
        print(
            f"baseline (decoded Arrow, bare append, default storage):  {args.rows:,} rows in {baseline_s:.1f}s = "
            f"{base:,.0f} rows/s ({size['baseline.duckdb']:,.0f} MB)"
        )
        print(f"ratio operator / baseline: {rate / base:.2f}")  # fmt: skip
        if args.profile:
            profile(s3, bucket, prefix, tables[: args.profile_files], workdir)
    finally:
        keys = list(iter_keys(s3, bucket, f"{prefix}/"))
        for start in range(0, len(keys), 1000):
            s3.delete_objects(bucket=bucket, keys=keys[start : start + 1000])
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    return 0


def profile(s3: Any, bucket: str, prefix: str, tables: list[Any], workdir: Path) -> None:
    """Time the parts of the load on ``tables`` (see the module docstring)."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from banking_cdc.stage.listing import iter_keys
    from banking_cdc.warehouse.bronze import BRONZE_COLUMNS, LOAD_COLUMNS, PAYLOAD_COLUMNS
    from banking_cdc.warehouse.duckdb import _INSERT_COLUMNS, ZSTD_COLUMNS

    rows = sum(table.num_rows for table in tables)
    print(f"\nprofile: {len(tables)} files, {rows:,} rows (rows/s of each part alone)")
    client = s3.get_conn()
    keys = sorted(iter_keys(s3, bucket, f"{prefix}/"))[: len(tables)]
    began = time.perf_counter()
    bodies = [client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys]
    print(f"  {'object-store GET':58s} {rows / (time.perf_counter() - began):>10,.0f} rows/s")
    began = time.perf_counter()
    for body in bodies:
        pq.read_table(io.BytesIO(body))
    print(f"  {'Parquet decode (pyarrow)':58s} {rows / (time.perf_counter() - began):>10,.0f} rows/s")

    def ddl(key: bool, zstd: frozenset[str], json: bool = True) -> str:
        columns = [
            f"{name} {duck if json or name not in ('before_json', 'after_json') else 'VARCHAR'}"
            f"{' USING COMPRESSION zstd' if name in zstd else ''}"
            for name, duck, _ in (*BRONZE_COLUMNS, *PAYLOAD_COLUMNS, *LOAD_COLUMNS)
        ]
        return ", ".join(columns) + (", PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)" if key else "")

    def select(cast: bool) -> str:
        payloads = [f"CAST({name} AS JSON)" if cast else name for name, _, _ in PAYLOAD_COLUMNS]
        return ", ".join([name for name, _, _ in BRONZE_COLUMNS] + payloads + ["$source_file", "now()"])

    def insert(label: str, columns: str, verb: str = "INSERT", cast: bool = True, settings: tuple[str, ...] = (),
               reader: bool = False) -> None:  # fmt: skip
        path = workdir / "profile.duckdb"
        statement_s = commit_s = 0.0
        with duckdb.connect(str(path)) as conn:
            for setting in settings:
                conn.execute(setting)
            conn.execute(f"CREATE TABLE t ({columns})")
            conn.execute("CREATE TABLE ledger (file_key VARCHAR PRIMARY KEY, rows_loaded BIGINT)")
            began = time.perf_counter()
            for number, table in enumerate(tables):
                start = time.perf_counter()
                conn.execute("BEGIN TRANSACTION")
                source = pa.RecordBatchReader.from_batches(table.schema, table.to_batches()) if reader else table
                conn.register("landing_file", source)
                (loaded,) = conn.execute(
                    f"{verb} INTO t ({_INSERT_COLUMNS}) SELECT {select(cast)} FROM landing_file",
                    {"source_file": f"{prefix}/{number:020d}.parquet"},
                ).fetchone()
                conn.execute("INSERT INTO ledger VALUES (?, ?)", [f"{number}", loaded])
                conn.unregister("landing_file")
                middle = time.perf_counter()
                conn.execute("COMMIT")
                statement_s, commit_s = statement_s + middle - start, commit_s + time.perf_counter() - middle
            total = time.perf_counter() - began
        size = path.stat().st_size / 1e6
        path.unlink()
        print(f"  {label:58s} {rows / total:>10,.0f} rows/s  (statement {statement_s:4.1f}s, "
              f"commit {commit_s:4.1f}s, {size:,.0f} MB)")  # fmt: skip

    def bare() -> None:
        path = workdir / "profile.duckdb"
        total = bare_append_seconds(path, tables)
        path.unlink()
        print(f"  {'baseline: bare append, default storage':58s} {rows / total:>10,.0f} rows/s")

    none: frozenset[str] = frozenset()
    bare()
    insert("earlier: PK, INSERT OR IGNORE, JSON cast", ddl(True, none), "INSERT OR IGNORE")
    insert("PK, INSERT, JSON cast", ddl(True, none))
    insert("no PK, INSERT, JSON cast", ddl(False, none))
    insert("no PK, INSERT, VARCHAR row images (no JSON, no check)", ddl(False, none, json=False), cast=False)
    insert("no PK, JSON cast, zstd row images", ddl(False, frozenset({"before_json", "after_json"})))
    insert("now: no PK, JSON cast, zstd row images + kafka_key", ddl(False, ZSTD_COLUMNS))
    insert("now + PK", ddl(True, ZSTD_COLUMNS))
    insert("now + preserve_insertion_order=false", ddl(False, ZSTD_COLUMNS),
           settings=("SET preserve_insertion_order = false",))  # fmt: skip
    insert("now, from a RecordBatchReader instead of a Table", ddl(False, ZSTD_COLUMNS), reader=True)
    bare()


if __name__ == "__main__":
    sys.exit(main())
