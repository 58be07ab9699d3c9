"""Generic silver for a table the project did not create: source -> Debezium -> landing -> bronze -> dbt, exact.

The table (composite key, numeric(20,6), timestamptz, date, RTL text and emoji, uuid, jsonb, boolean, an int
array, nullable columns) lives in a schema of the test's own with a connector of its own (tests/support/
user_source.py). Its generic model is generated into a copy of the dbt project from that capture
configuration, exactly as `make dbt-manifest` writes the project's own; the bronze load keeps the catalog.
Then a column is added while the table is written (it reaches silver, and the load reports it), and a
narrowing fails the table's model naming the column.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.settings import DEFAULT_LANDING_BUCKET
from banking_cdc.transform import current_models
from tests.support.user_source import LEDGER_DDL, RATES_DDL, UserSource, topic_end, wait_for_value

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


class Chain:
    """Stage the user's topics, load them into a DuckDB file of the test's own, build its generic models."""

    def __init__(self, source: UserSource, work: Path) -> None:
        self.source = source
        self.work = work
        self.database = work / "warehouse.duckdb"
        self.prefix = f"current-state-test-{uuid.uuid4().hex[:10]}/raw"
        self.group = f"current-state-test-{uuid.uuid4().hex[:10]}"
        self.project = work / "banking_dbt"
        shutil.copytree(ROOT / "banking_dbt", self.project, ignore=shutil.ignore_patterns("target", "logs"))
        os.environ["AIRFLOW_CONN_DUCKDB_ANYTABLE"] = json.dumps({"conn_type": "duckdb", "host": str(self.database)})

    def land_and_load(self) -> dict[str, Any]:
        from banking_cdc.transfers.kafka_to_s3 import KafkaToS3Operator
        from banking_cdc.transfers.s3_to_duckdb import S3ToDuckDBBronzeOperator

        capture = CaptureConfig.load(self.source.path)
        for table in capture.source.tables:
            KafkaToS3Operator(
                task_id="stage", topics=[capture.topic(table)], group_id=self.group,
                bucket_name=DEFAULT_LANDING_BUCKET, landing_prefix=self.prefix, deferrable=False,
            ).execute(context={})  # type: ignore[arg-type]  # fmt: skip
        return S3ToDuckDBBronzeOperator(
            task_id="load", bucket_name=DEFAULT_LANDING_BUCKET, landing_prefix=self.prefix,
            duckdb_conn_id="duckdb_anytable", capture_config_path=str(self.source.path),
        ).execute(context={})  # type: ignore[arg-type]  # fmt: skip

    def dbt_build(self) -> subprocess.CompletedProcess[str]:
        current_models.write(self.project, CaptureConfig.load(self.source.path))
        project = str(self.project)
        return subprocess.run(
            [str(BIN / "dbt"), "build", "--select", "tag:current_state", "--project-dir", project,
             "--profiles-dir", project, "--target", "duckdb", "--target-path", str(self.work / "target"),
             "--log-path", str(self.work / "logs")],
            capture_output=True, text=True, env={**os.environ, "BCDC_DUCKDB_PATH": str(self.database)}, timeout=600,
        )  # fmt: skip

    def run_pass(self, memo: str, schema_changes: list[str]) -> subprocess.CompletedProcess[str]:
        """Mark, stage and load (the load reports exactly ``schema_changes``), then build the generic models."""
        mark(self.source, memo)
        assert self.land_and_load()["schema_changes"] == schema_changes
        return self.dbt_build()

    def exact_silver(self, built: subprocess.CompletedProcess[str]) -> dict[tuple[int, int], dict[str, Any]]:
        """Silver after a successful build, asserted equal to the source row by row."""
        assert built.returncode == 0, built.stdout[-4000:]
        silver = self.silver()
        assert_same(silver, source_rows(self.source))
        return silver

    def silver(self) -> dict[tuple[int, int], dict[str, Any]]:
        with duckdb.connect(str(self.database), read_only=True) as conn:
            cursor = conn.execute("SELECT * FROM silver.current_ledger_entries")
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return {(row["book_id"], row["entry_no"]): row for row in rows}

    def cleanup(self) -> None:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from banking_cdc.stage.listing import iter_keys

        s3 = S3Hook(aws_conn_id="aws_default")
        keys = list(iter_keys(s3, DEFAULT_LANDING_BUCKET, self.prefix.split("/")[0] + "/"))
        for start in range(0, len(keys), 500):
            s3.delete_objects(bucket=DEFAULT_LANDING_BUCKET, keys=keys[start : start + 500])


def source_rows(source: UserSource) -> dict[tuple[int, int], dict[str, Any]]:
    conn = source.hook.get_conn()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {source.name}.ledger_entries")
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()
    return {(row["book_id"], row["entry_no"]): row for row in rows}


def mark(source: UserSource, memo: str) -> None:
    """Commit a marker row and wait until its event is in the topic: every earlier change is there too."""
    source.sql(
        "INSERT INTO {schema}.ledger_entries (book_id, entry_no, amount, booked_at, memo, entry_ref) "
        "VALUES (0, 0, 0, now(), %s, gen_random_uuid()) "
        "ON CONFLICT (book_id, entry_no) DO UPDATE SET memo = EXCLUDED.memo",
        parameters=(memo,),
    )
    wait_for_value(f"{source.name}.{source.name}.ledger_entries", lambda v: (v.get("after") or {}).get("memo") == memo)


def assert_same(silver: dict[tuple[int, int], dict[str, Any]], source: dict[tuple[int, int], dict[str, Any]]) -> None:
    live = {key: row for key, row in silver.items() if not row["is_deleted"]}
    assert sorted(live) == sorted(source)
    for key, expected in source.items():
        actual = live[key]
        for column, value in expected.items():
            got = actual[column]
            if column == "attributes":
                got = json.loads(got) if isinstance(got, str) else got
            if column == "tags" and isinstance(got, str):
                got = json.loads(got)
            assert got == value, f"{key} {column}: silver {got!r} != source {value!r}"


def test_any_table_reaches_generic_silver_exactly_and_follows_its_schema(
    user_source: UserSource, tmp_path: Path
) -> None:
    user_source.sql(LEDGER_DDL)
    user_source.configure(["ledger_entries"])
    user_source.setup()
    chain = Chain(user_source, tmp_path)
    try:
        for _ in range(60):  # one row updated many times, some deleted, some inserted
            user_source.sql(
                "UPDATE {schema}.ledger_entries SET amount = amount + 0.000001, reconciled = NOT reconciled "
                "WHERE book_id = 3 AND entry_no = 2"
            )
        user_source.sql("DELETE FROM {schema}.ledger_entries WHERE entry_no IN (3, 4)")
        user_source.sql(
            "INSERT INTO {schema}.ledger_entries VALUES (9, 9, 12345678901234.123456, now(), NULL, 'שלום 👋', "
            "gen_random_uuid(), '{{\"nested\": {{\"a\": [1, 2]}}}}', true, '{{}}')"
        )
        silver = chain.exact_silver(chain.run_pass("first pass", []))
        assert {key for key, row in silver.items() if row["is_deleted"]} == {(1, 3), (2, 4)}
        assert silver[(9, 9)]["amount"] == Decimal("12345678901234.123456")

        # a column is added while the table is written: it reaches silver on the next run, and is reported
        user_source.sql("ALTER TABLE {schema}.ledger_entries ADD COLUMN fee numeric(10,4)")
        user_source.sql("UPDATE {schema}.ledger_entries SET fee = entry_no / 7.0 WHERE entry_no % 2 = 0")
        silver = chain.exact_silver(chain.run_pass("second pass", ["ledger_entries.fee added (numeric(10,4))"]))
        assert silver[(3, 2)]["fee"] == Decimal("0.2857")

        # a widened type is followed: silver's column widens, values stay exact
        user_source.sql("ALTER TABLE {schema}.ledger_entries ALTER COLUMN fee TYPE numeric(14,4)")
        user_source.sql("UPDATE {schema}.ledger_entries SET fee = 1234567890.1234 WHERE book_id = 3 AND entry_no = 2")
        widened = chain.run_pass("wider", ["ledger_entries.fee widened from numeric(10,4) to numeric(14,4)"])
        silver = chain.exact_silver(widened)
        assert silver[(3, 2)]["fee"] == Decimal("1234567890.1234")

        # a narrowing is not applied: the table's model fails naming the column and both types
        user_source.sql("UPDATE {schema}.ledger_entries SET fee = 1 WHERE book_id = 3 AND entry_no = 2")
        user_source.sql("ALTER TABLE {schema}.ledger_entries ALTER COLUMN fee TYPE numeric(8,4)")
        built = chain.run_pass("third pass", ["ledger_entries.fee narrowed from numeric(14,4) to numeric(8,4)"])
        assert built.returncode != 0
        assert "ledger_entries.fee narrowed from numeric(14,4) to numeric(8,4)" in built.stdout, built.stdout[-3000:]
    finally:
        chain.cleanup()


def write_for(source: UserSource, seconds: float, seed: int) -> dict[str, int]:
    """
    Random inserts, updates (a hot key updated hundreds of times) and deletes by a plain client; half-way through,
    ``ALTER TABLE ... ADD COLUMN fee numeric(10,4)``, which later updates set.
    """
    import random
    import time

    rng = random.Random(seed)
    conn = source.hook.get_conn()
    conn.autocommit = True
    counts = {"insert": 0, "update": 0, "delete": 0, "fee_set": 0}
    table = f"{source.name}.ledger_entries"
    next_no = 1000
    deadline = time.monotonic() + seconds
    altered = False
    try:
        with conn.cursor() as cur:
            while time.monotonic() < deadline:
                if not altered and time.monotonic() > deadline - seconds / 2:
                    cur.execute(f"ALTER TABLE {table} ADD COLUMN fee numeric(10,4)")
                    altered = True
                if altered and rng.random() < 0.2:
                    cur.execute(
                        f"UPDATE {table} SET fee = %s WHERE (book_id, entry_no) = "
                        f"(SELECT book_id, entry_no FROM {table} ORDER BY random() LIMIT 1)",
                        (Decimal(rng.randint(0, 10**8)) / 10**4,),
                    )
                    counts["fee_set"] += 1
                    continue
                roll = rng.random()
                if roll < 0.35:
                    next_no += 1
                    cur.execute(
                        f"INSERT INTO {table} VALUES (%s, %s, %s, now(), current_date, %s, gen_random_uuid(), "
                        "%s::jsonb, false, ARRAY[%s])",
                        (rng.randint(1, 5), next_no, Decimal(rng.randint(1, 10**9)) / 10**6, f"€ {next_no} ✓",
                         json.dumps({"n": next_no}), next_no),
                    )  # fmt: skip
                    counts["insert"] += 1
                elif roll < 0.9:
                    hot = rng.random() < 0.5
                    cur.execute(
                        f"UPDATE {table} SET amount = amount + %s, memo = %s, attributes = attributes || %s::jsonb "
                        "WHERE (book_id, entry_no) = (SELECT book_id, entry_no FROM " + table +
                        " ORDER BY CASE WHEN %s THEN entry_no ELSE random() * 1e9 END LIMIT 1)",
                        (Decimal("0.000001"), f"u{counts['update']}", json.dumps({"u": counts["update"]}), hot),
                    )  # fmt: skip
                    counts["update"] += 1
                else:
                    cur.execute(
                        f"DELETE FROM {table} WHERE (book_id, entry_no) = "
                        f"(SELECT book_id, entry_no FROM {table} ORDER BY random() LIMIT 1)"
                    )
                    counts["delete"] += 1
    finally:
        conn.close()
    return counts


def test_concurrent_writes_reach_generic_silver_and_reconcile_exactly(user_source: UserSource, tmp_path: Path) -> None:
    """
    A table added by configuration while a plain client writes it for 60 s (inserts, hot keys updated hundreds of
    times, deletes) and the chain runs: afterwards generic reconciliation finds 0 differences in either table.
    """
    import threading
    import time

    from banking_cdc.reconcile.generic import generic_checks
    from banking_cdc.warehouse.duckdb import DuckDBWarehouse

    user_source.sql(LEDGER_DDL)
    user_source.sql(RATES_DDL)
    user_source.configure(["fx_rates"])
    user_source.setup()  # a pipeline that already runs, capturing another table
    chain = Chain(user_source, tmp_path)
    counts: dict[str, int] = {}
    writer = threading.Thread(target=lambda: counts.update(write_for(user_source, 60, seed=5)))
    try:
        writer.start()
        # the bank's table is added by configuration alone while it is written: its initial load (an
        # incremental snapshot) overlaps the streamed changes
        user_source.configure(["fx_rates", "ledger_entries"])
        added = user_source.setup()
        assert added["initial_load"]["added"] == ["ledger_entries"]
        assert added["loaded"]["rows_scanned"][f"{user_source.name}.ledger_entries"] >= 40
        runs = 0
        while writer.is_alive():  # the chain runs while the bank writes: incremental builds on partial data
            time.sleep(10)
            chain.land_and_load()
            assert chain.dbt_build().returncode == 0
            runs += 1
        writer.join()
        assert runs >= 3 and counts["update"] > 200, (runs, counts)
        mark(user_source, "after the writes")
        chain.land_and_load()
        built = chain.dbt_build()
        assert built.returncode == 0, built.stdout[-4000:]

        capture = CaptureConfig.load(user_source.path)
        conn = user_source.hook.get_conn()
        try:
            with DuckDBWarehouse("duckdb_anytable", read_only=True) as warehouse:
                results = generic_checks(capture, conn, warehouse)
                fee = warehouse.query(
                    "SELECT count(fee), any_value(typeof(fee)) FROM silver.current_ledger_entries WHERE fee IS NOT NULL"
                )[0]
            assert [r.label for r in results if not r.ok] == []
            assert fee[0] > 0 and fee[1] == "DECIMAL(10,4)"  # the column added while written reached silver
            assert {r.check for r in results} == {"row_count", "current_rows", "numeric_sum", "rejected_keys"}
            assert [r.source_value for r in results if r.check == "rejected_keys"] == [0, 0]  # nothing held back
            assert {r.table for r in results} == {"current_fx_rates", "current_ledger_entries"}
            rows = next(r for r in results if r.check == "row_count" and r.table == "current_ledger_entries")
            assert rows.source_value == rows.gold_value > 40

            # the check can fail: one amount off by a millionth in silver
            with duckdb.connect(str(chain.database)) as db:
                db.execute("UPDATE silver.current_ledger_entries SET amount = amount + 0.000001 "
                           "WHERE NOT is_deleted AND entry_no = (SELECT min(entry_no) FROM "
                           "silver.current_ledger_entries WHERE NOT is_deleted)")  # fmt: skip
            with DuckDBWarehouse("duckdb_anytable", read_only=True) as warehouse:
                failing = {(r.check, r.scope) for r in generic_checks(capture, conn, warehouse) if not r.ok}
            assert failing == {("current_rows", ""), ("numeric_sum", "amount")}
        finally:
            conn.close()

        # ledger_entries is removed by configuration: its changes stop; fx_rates keeps flowing to silver
        user_source.configure(["fx_rates"])
        removed = user_source.setup()
        assert removed["schema"]["removed"] == [f"{user_source.name}.ledger_entries"]
        ledger_topic = f"{user_source.name}.{user_source.name}.ledger_entries"
        ledger_end = topic_end(ledger_topic)
        user_source.sql("UPDATE {schema}.ledger_entries SET memo = 'not captured any more'")
        user_source.sql("UPDATE {schema}.fx_rates SET rate = 7.5 WHERE pair = 'EUR3'")
        wait_for_value(f"{user_source.name}.{user_source.name}.fx_rates", lambda v: (v.get("after") or {}).get(
            "rate") == "7.50000000")  # fmt: skip
        assert topic_end(ledger_topic) == ledger_end
        chain.land_and_load()
        assert chain.dbt_build().returncode == 0
        with duckdb.connect(str(chain.database), read_only=True) as db:
            rate = db.execute("SELECT rate FROM silver.current_fx_rates WHERE pair = 'EUR3'").fetchone()[0]
        assert rate == Decimal("7.5")
    finally:
        writer.join()
        chain.cleanup()
