"""Benchmark: rows/s of the generator's bulk mode into PostgreSQL, against a raw COPY baseline in the same run.

1. Creates a fresh database (as the superuser of the native stack; the schema is applied as ``banking``), runs
   ``--bulk`` for the requested size and measures rows/s (customers + accounts + transactions).
2. Baseline: the same number of rows, pre-rendered in memory (exported from the tables just loaded), copied with a
   plain ``COPY`` into equivalent tables without constraints, indexes or triggers.
3. Prints both rates and their ratio, then drops the database.

    .venv/bin/python tests/benchmarks/generator_bulk.py                      # about 1,000,000 rows
    .venv/bin/python tests/benchmarks/generator_bulk.py --customers 20000 --transactions 400000
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import uuid
from pathlib import Path

import psycopg2
from psycopg2.extensions import make_dsn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "include"))

from banking_cdc.capture.source_schema import BANKING_TABLES, apply_source_schema  # noqa: E402
from banking_cdc.generator import GeneratorConfig, check_invariants, run  # noqa: E402

STATE = Path(os.environ.get("BCDC_STATE_DIR", ROOT / ".state"))


def source_connection() -> dict[str, object]:
    """The ``postgres_source`` connection of the native stack (from its env file), as a dict."""
    for line in (STATE / "airflow.env").read_text().splitlines():
        if line.startswith("export AIRFLOW_CONN_POSTGRES_SOURCE="):
            value = line.split("=", 1)[1].strip().strip("'")
            return dict(json.loads(value))
    raise SystemExit(f"AIRFLOW_CONN_POSTGRES_SOURCE not found in {STATE / 'airflow.env'}: run `dev/stack up`")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--accounts-per-customer", type=int, default=2)
    parser.add_argument("--transactions", type=int, default=850_000, help="transaction rows (default: 1M rows total)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    source = source_connection()
    admin_dsn = make_dsn(
        host="127.0.0.1",
        port=source["port"],
        user="postgres",
        password=json.loads((STATE / "secrets.json").read_text())["pg_superuser_password"],
        dbname="postgres",
    )
    name = f"gen_bench_{uuid.uuid4().hex[:10]}"
    dsn = make_dsn(
        host=source["host"], port=source["port"], user=source["login"], password=source["password"], dbname=name
    )
    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    started = time.perf_counter()
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE {name} OWNER "{source["login"]}"')
        conn = psycopg2.connect(dsn)
        try:
            apply_source_schema(conn)
            config = GeneratorConfig(
                bulk=True,
                customers=args.customers,
                accounts_per_customer=args.accounts_per_customer,
                transactions=args.transactions,
                seed=args.seed,
                dsn=dsn,
                progress=False,
            )
            summary = run(config)
            rows, elapsed = summary["rows_written"], summary["elapsed_seconds"]
            generator_rate = rows / elapsed

            # baseline: pre-rendered rows, plain COPY into unconstrained copies of the tables
            buffers = {}
            with conn.cursor() as cur:
                for table in BANKING_TABLES:
                    buffer = io.StringIO()
                    cur.copy_expert(f"COPY {table} TO STDOUT", buffer)
                    buffers[table] = buffer
                    # same columns and types; no keys, checks, NOT NULLs, indexes, triggers or foreign keys
                    cur.execute(f"CREATE TABLE raw_{table} AS SELECT * FROM {table} WITH NO DATA")
            conn.commit()
            began = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute("SET synchronous_commit TO off")
                for table, buffer in buffers.items():
                    buffer.seek(0)
                    cur.copy_expert(f"COPY raw_{table} FROM STDIN", buffer)
            conn.commit()
            baseline_elapsed = time.perf_counter() - began
            baseline_rate = rows / baseline_elapsed
            began = time.perf_counter()
            violations = check_invariants(conn)
            check_elapsed = time.perf_counter() - began
        finally:
            conn.close()
    finally:
        dropping = time.perf_counter()
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
        now = time.perf_counter()
        print(f"(database dropped in {now - dropping:.1f} s; whole benchmark {now - started:.1f} s)")

    counts = ", ".join(f"{table} {summary['rows'][table]['insert']}" for table in BANKING_TABLES)
    print(f"rows: {rows} ({counts})")
    print(f"generator bulk: {rows} rows in {elapsed:.2f} s = {generator_rate:,.0f} rows/s")
    print(f"baseline raw COPY (pre-rendered, unconstrained tables): {rows} rows in {baseline_elapsed:.2f} s")
    print(f"baseline: {baseline_rate:,.0f} rows/s")
    print(f"ratio generator/baseline: {generator_rate / baseline_rate:.2f}")
    print(f"invariants: {'all hold' if not violations else violations[:5]} (checked in {check_elapsed:.1f} s)")
    return 0 if not violations else 1


if __name__ == "__main__":
    sys.exit(main())
