"""In-flight rows: a transaction that reaches bronze a load cycle before its account (topics load
independently), and loads that land while a per-node dbt run is in progress (var bronze_cut).

The referential data tests marked ``meta.settled_by`` (macros/settled.sql) and
``assert_no_orphan_transactions`` skip rows loaded within ``referential_grace_minutes``, the grace the
Airflow DAG passes: a dbt run between the two loads passes, with the transaction merged without an
account version. Strict (grace 0) the same tests fail, naming the orphan's tests. Once the account
arrives, the next incremental build gives the transaction its account and customer versions and every
test passes strictly.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.dbt.bronze_fixture import BronzeFixture, load_bronze, synthesize
from tests.dbt.test_dbt_build import PROJECT, dbt

pytestmark = pytest.mark.integration

ORPHAN_TXN, NEW_ACCOUNT = 990_000_001, 990_000_001
GRACE = json.dumps({"referential_grace_minutes": 5, "balance_check_grace_minutes": 5})
#: the tests that read the orphan transaction (directly or through its gold row)
ORPHAN_TESTS = (
    "relationships_stg_transactions_account_id__account_id__ref_stg_accounts_",
    "not_null_fct_transactions_account_sk",
    "not_null_fct_transactions_customer_sk",
    "assert_no_orphan_transactions",
)


@pytest.fixture(scope="module")
def fixture() -> BronzeFixture:
    return synthesize(seed=5, customers=40, events=1_500)


@pytest.fixture(scope="module")
def built(fixture: BronzeFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    work = tmp_path_factory.mktemp("dbt-in-flight")
    database = work / "warehouse.duckdb"
    load_bronze(database, fixture, parts=(0.0, 1.0))
    dbt(database, work / "target", "build")
    yield database
    shutil.rmtree(work, ignore_errors=True)


def _iso(ms: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _append_copy(conn: Any, table: str, where: str, patch: dict[str, Any], source_ts_ms: int) -> None:
    """Append to bronze.<table> a copy of one existing change event matching ``where``, with its row image
    patched, the next offset of its partition, a newer LSN and commit time, loaded now."""
    columns = [row[0] for row in conn.execute(f"DESCRIBE bronze.{table}").fetchall()]
    replaced = {
        "kafka_offset": (
            f"(SELECT max(kafka_offset) + 1 FROM bronze.{table} b WHERE b.kafka_partition = e.kafka_partition)"
        ),
        "source_lsn": f"(SELECT max(source_lsn) + 1000 FROM bronze.{table})",
        "source_ts_ms": str(source_ts_ms),
        "event_ts_ms": str(source_ts_ms + 50),
        "op": "'c'",
        "before_json": "NULL",
        "after_json": f"CAST(json_merge_patch(e.after_json, '{json.dumps(patch)}') AS JSON)",
        "loaded_at": "now()",
        "source_file": f"'in-flight/{table}.parquet'",
    }
    select = ", ".join(replaced.get(column, f"e.{column}") for column in columns)
    conn.execute(f"INSERT INTO bronze.{table} SELECT {select} FROM bronze.{table} e WHERE {where} LIMIT 1")


def _failed_tests(database: Path, target: Path, variables: str) -> list[str]:
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(
        ["test", "--vars", variables, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
         "--target", "duckdb", "--target-path", str(target), "--log-path", str(target / "logs"), "--quiet"]
    )  # fmt: skip
    assert result.result is not None, result.exception
    return sorted(r.node.name for r in result.result if str(r.status) != "pass")


def test_a_transaction_ahead_of_its_account(built: Path, tmp_path: Path) -> None:
    database = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built, database)
    with duckdb.connect(str(database)) as conn:
        (newest,) = conn.execute("SELECT max(source_ts_ms) FROM bronze.transactions").fetchone()
        account_ts, txn_ts = newest + 60_000, newest + 61_000
        _append_copy(
            conn, "transactions", "e.op = 'c'",
            {"transaction_id": ORPHAN_TXN, "account_id": NEW_ACCOUNT, "txn_type": "deposit", "direction": "credit",
             "status": "pending", "posted_at": None, "transfer_id": None, "reverses_transaction_id": None,
             "booked_at": _iso(txn_ts), "created_at": _iso(txn_ts), "updated_at": _iso(txn_ts)},
            txn_ts,
        )  # fmt: skip
    target = tmp_path / "target"

    # the transaction's load: a dbt run with the Airflow grace passes (the account is in flight)
    dbt(database, target, "build", "--vars", GRACE)
    with duckdb.connect(str(database)) as conn:
        assert conn.execute(
            "SELECT account_sk IS NULL AND customer_sk IS NULL FROM gold.fct_transactions WHERE transaction_id = ?",
            [ORPHAN_TXN],
        ).fetchone() == (True,)
    # strict, the same state fails exactly the tests that read the orphan
    failed = _failed_tests(database, target, json.dumps({"referential_grace_minutes": 0}))
    assert failed and all(name.startswith(ORPHAN_TESTS) for name in failed), failed
    assert {next(n for n in failed if n.startswith(prefix)) for prefix in ORPHAN_TESTS} <= set(failed)

    # the account's load (committed before the transaction): the next build completes the transaction
    with duckdb.connect(str(database)) as conn:
        _append_copy(
            conn, "accounts", "e.op IN ('c', 'r') AND e.after_json ->> 'status' = 'active'",
            {"account_id": NEW_ACCOUNT, "iban": "DE00990000001990000001", "balance": "0.00", "status": "active",
             "closed_at": None, "opened_at": _iso(account_ts), "created_at": _iso(account_ts),
             "updated_at": _iso(account_ts)},
            account_ts,
        )  # fmt: skip
    dbt(database, target, "build")  # strict: grace 0
    with duckdb.connect(str(database)) as conn:
        row = conn.execute(
            "SELECT f.account_sk = a.account_sk, f.customer_sk IS NOT NULL FROM gold.fct_transactions f "
            "JOIN gold.dim_accounts a ON a.account_id = f.account_id AND a.is_current "
            "WHERE f.transaction_id = ?",
            [ORPHAN_TXN],
        ).fetchone()
    assert row == (True, True)


def test_rows_loaded_after_the_cut_wait_for_the_next_run(built: Path, tmp_path: Path) -> None:
    database = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built, database)
    with duckdb.connect(str(database)) as conn:
        (newest_load,) = conn.execute("SELECT max(loaded_at) FROM bronze.transactions").fetchone()
        (newest,) = conn.execute("SELECT max(source_ts_ms) FROM bronze.transactions").fetchone()
        _append_copy(
            conn, "transactions", "e.op = 'c' AND e.after_json ->> 'status' = 'pending'",
            {"transaction_id": ORPHAN_TXN + 1, "booked_at": _iso(newest + 1_000), "created_at": _iso(newest + 1_000),
             "updated_at": _iso(newest + 1_000)},
            newest + 1_000,
        )  # fmt: skip
    cut = (newest_load + timedelta(seconds=1)).isoformat()  # the run started before this load
    target = tmp_path / "target"

    def in_silver_and_gold() -> tuple[int, int]:
        with duckdb.connect(str(database)) as conn:
            return tuple(
                conn.execute(f"SELECT count(*) FROM {model} WHERE transaction_id = ?", [ORPHAN_TXN + 1]).fetchone()[0]
                for model in ("silver.stg_transactions", "gold.fct_transactions")
            )  # type: ignore[return-value]

    dbt(database, target, "build", "--vars", json.dumps({"bronze_cut": cut}))
    assert in_silver_and_gold() == (0, 0)
    dbt(database, target, "build")  # the next run (no cut: every load)
    assert in_silver_and_gold() == (1, 1)


def test_a_first_run_before_any_load_then_a_normal_run(built: Path, tmp_path: Path) -> None:
    """The first Airflow run can start before a topic's first load: its models are built empty. The next run
    must fill them (an empty incremental model's high-water mark is the epoch, not NULL)."""
    database = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built, database)
    with duckdb.connect(str(database)) as conn:
        for (schema,) in conn.execute(
            "SELECT DISTINCT schema_name FROM duckdb_tables() WHERE schema_name <> 'bronze'"
        ).fetchall():
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    target = tmp_path / "target"
    # a cut before every load (unit tests excluded: their fixtures are loaded in 2026, after this cut)
    cut = json.dumps({"bronze_cut": "2000-01-01T00:00:00+00:00"})
    dbt(database, target, "build", "--vars", cut, "--exclude", "test_type:unit")
    gold = ("dim_customers", "dim_accounts", "fct_transactions", "fct_daily_account_balances", "fct_daily_activity")

    def counts(path: Path) -> dict[str, int]:
        with duckdb.connect(str(path)) as conn:
            return {model: conn.execute(f"SELECT count(*) FROM gold.{model}").fetchone()[0] for model in gold}

    assert counts(database) == dict.fromkeys(gold, 0)
    dbt(database, target, "build")
    expected = counts(built)
    assert all(expected.values()) and counts(database) == expected
