"""Benchmark: landing Parquet -> DuckDB bronze rows/s (S3ToDuckDBBronzeOperator), vs a bare DuckDB insert.

Writes ``--rows`` Debezium-shaped ``transactions`` rows as landing files of ``--rows-per-file`` under a
scratch prefix of the landing bucket, then loads them with the operator into a scratch DuckDB file
(per-file transactions, ledger, primary key on the Kafka coordinates, JSON cast of the row images).
Baseline in the same run: the same Arrow tables appended to a table without key, ledger or JSON cast
(the ceiling of DuckDB on this machine). Needs the native stack (object store); cleans up after itself.

    .venv/bin/python tests/benchmarks/bronze_duckdb.py --rows 5000000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))
sys.path.insert(0, str(ROOT))

from stage_throughput import envelope  # noqa: E402

from tests.stack_env import load_stack_env  # noqa: E402

TOPIC = "bank.public.transactions"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--rows-per-file", type=int, default=100_000)
    args = parser.parse_args()
    load_stack_env()

    import duckdb
    import pyarrow.parquet as pq
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from banking_cdc.transfers.s3_to_duckdb import S3ToDuckDBBronzeOperator
    from banking_cdc.utils.landing import BatchBuilder, object_key
    from banking_cdc.utils.object_store import iter_keys

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
            tables.append(pq.read_table(__import__("io").BytesIO(payload)))
        print(f"landing: {args.rows:,} rows in {len(tables)} files written in {time.perf_counter() - began:.1f}s")

        operator = S3ToDuckDBBronzeOperator(
            task_id="bench", bucket_name=bucket, landing_prefix=prefix, duckdb_conn_id="duckdb_bench", sweep=True
        )
        began = time.perf_counter()
        manifest = operator.execute(context={})  # type: ignore[arg-type]
        loaded_s = time.perf_counter() - began
        assert manifest["rows_loaded"] == args.rows, manifest["rows_loaded"]

        with duckdb.connect(str(workdir / "baseline.duckdb")) as conn:
            conn.register("first", tables[0])
            conn.execute("CREATE TABLE raw AS SELECT * FROM first LIMIT 0")
            conn.unregister("first")
            began = time.perf_counter()
            for table in tables:
                conn.register("batch", table)
                conn.execute("INSERT INTO raw SELECT * FROM batch")
                conn.unregister("batch")
            baseline_s = time.perf_counter() - began

        rate, base = args.rows / loaded_s, args.rows / baseline_s
        print(f"operator (S3 read, ledger, PK, JSON): {args.rows:,} rows in {loaded_s:.1f}s = {rate:,.0f} rows/s")
        print(f"baseline (bare append, in memory):    {args.rows:,} rows in {baseline_s:.1f}s = {base:,.0f} rows/s")
        print(f"ratio operator / baseline: {rate / base:.2f}")
    finally:
        keys = list(iter_keys(s3, bucket, f"{prefix}/"))
        for start in range(0, len(keys), 1000):
            s3.delete_objects(bucket=bucket, keys=keys[start : start + 1000])
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
