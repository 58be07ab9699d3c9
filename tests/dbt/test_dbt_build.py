"""`dbt build` of banking_dbt on DuckDB from bronze fixtures: first build, incremental build, the truth.

The fixture (tests/dbt/bronze_fixture.py) is a seeded Debezium change history with every edge case
the models handle, plus the source tables' final state. The project is built on ~90% of the landing
rows, then again after the last ~10% arrive (the incremental path), and the result is compared with
the source's final state and with a full-refresh build of the same bronze.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.dbt.bronze_fixture import BronzeFixture, load_bronze, split_parts, synthesize

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "banking_dbt"


def dbt(database: Path, target_path: Path, *args: str) -> Any:
    """Run dbt in-process on ``database``; assert success; return the result."""
    from dbt.cli.main import dbtRunner

    os.environ["BCDC_DUCKDB_PATH"] = str(database)
    result = dbtRunner().invoke(
        [
            *args,
            "--project-dir", str(PROJECT),
            "--profiles-dir", str(PROJECT),
            "--target", "duckdb",
            "--target-path", str(target_path),
            "--log-path", str(target_path / "logs"),
            "--quiet",
        ]
    )  # fmt: skip
    failed = [
        f"{r.node.unique_id}: {r.status} {r.message}"
        for r in (result.result or [])
        if str(r.status) not in ("success", "pass")
    ]
    assert result.success, f"dbt {' '.join(args)} failed: {result.exception or failed}"
    return result


@pytest.fixture(scope="module")
def fixture() -> BronzeFixture:
    return synthesize(seed=11, customers=60, events=2_500)


@pytest.fixture(scope="module")
def incremental(fixture: BronzeFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Build on the first ~90% of the rows, then again (incrementally) after the rest arrive.

    The cut is at a loader-run boundary (every topic loaded up to the same commit), as when bronze is
    quiescent; the balance test of the first build then holds exactly."""
    work = tmp_path_factory.mktemp("dbt-incremental")
    database, target = work / "warehouse.duckdb", work / "target"
    base, tail = split_parts(fixture, tail_share=0.1)
    load_bronze(database, fixture, parts=base)
    dbt(database, target, "build")
    load_bronze(database, fixture, parts=tail)
    dbt(database, target, "build")
    yield {"database": database, "target": target}


@pytest.fixture(scope="module")
def full_refresh(fixture: BronzeFixture, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build over all the files (the reference for the incremental result)."""
    work = tmp_path_factory.mktemp("dbt-full")
    database = work / "warehouse.duckdb"
    load_bronze(database, fixture, parts=(0.0, 1.0))
    dbt(database, work / "target", "build", "--full-refresh")
    return database


def _rows(database: Path, sql: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(database)) as conn:  # same configuration as dbt-duckdb's open instance
        cursor = conn.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_second_build_takes_the_incremental_path(incremental: dict[str, Path]) -> None:
    run = incremental["target"] / "run" / "banking_dbt" / "models"
    # the incremental materialisations' statements of the last run: delete+insert by key, merge by key
    for model in ("stg_customers", "stg_accounts", "stg_transactions"):
        sql = (run / "staging" / f"{model}.sql").read_text().lower()
        assert "delete from" in sql and "insert into" in sql, f"{model} was not built incrementally"
    assert "merge into" in (run / "marts" / "fct_transactions.sql").read_text().lower()


@pytest.mark.parametrize(
    ("table", "key"), [("customers", "customer_id"), ("accounts", "account_id"), ("transactions", "transaction_id")]
)
def test_silver_current_state_equals_the_source(
    incremental: dict[str, Path], fixture: BronzeFixture, table: str, key: str
) -> None:
    truth = {row[key]: row for row in fixture.source_state[table]}
    live = f"SELECT * FROM silver.stg_{table} WHERE NOT is_deleted"
    silver = {row[key]: row for row in _rows(incremental["database"], live)}
    assert sorted(silver) == sorted(truth), f"stg_{table}: keys differ from the source"
    for pk, expected in truth.items():
        actual = {column: silver[pk][column] for column in expected}
        assert actual == expected, f"stg_{table} {key}={pk}"


@pytest.mark.parametrize(
    ("table", "key"), [("customers", "customer_id"), ("accounts", "account_id"), ("transactions", "transaction_id")]
)
@pytest.mark.parametrize("build", ["incremental", "full_refresh"])
def test_generic_current_state_equals_the_source(
    request: pytest.FixtureRequest, fixture: BronzeFixture, build: str, table: str, key: str
) -> None:
    """The generic model (typed from the catalog, nothing written per table) holds the source's current rows."""
    built = request.getfixturevalue(build)
    database = built["database"] if isinstance(built, dict) else built
    truth = {row[key]: row for row in fixture.source_state[table]}
    rows = _rows(database, f"SELECT * FROM silver.current_{table}")
    live = {row[key]: row for row in rows if not row["is_deleted"]}
    assert sorted(live) == sorted(truth), f"current_{table}: keys differ from the source"
    for pk, expected in truth.items():
        actual = {column: live[pk][column] for column in expected}
        assert actual == expected, f"current_{table} {key}={pk}"
    assert len({row["_key"] for row in rows}) == len(rows)
    deleted = {row[key] for row in rows if row["is_deleted"]}
    assert not deleted & set(truth)


def test_deleted_keys_are_flagged_and_erased(incremental: dict[str, Path], fixture: BronzeFixture) -> None:
    live = {row["customer_id"] for row in fixture.source_state["customers"]}
    deleted = _rows(incremental["database"], "SELECT * FROM silver.stg_customers WHERE is_deleted")
    assert deleted, "the fixture erases customers"
    for row in deleted:
        assert row["customer_id"] not in live
        assert row["email"] is None and row["first_name"] is None and row["phone"] is None


def test_gold_facts_and_balances_reconcile_to_the_cent(incremental: dict[str, Path], fixture: BronzeFixture) -> None:
    database = incremental["database"]
    source_tx = {row["transaction_id"]: row for row in fixture.source_state["transactions"]}
    facts = {row["transaction_id"]: row for row in _rows(database, "SELECT * FROM gold.fct_transactions")}
    live = {k: v for k, v in facts.items() if not v["is_deleted"]}
    assert sorted(live) == sorted(source_tx)
    for tx_id, row in live.items():
        assert (row["amount"], row["status"], row["account_id"]) == (
            source_tx[tx_id]["amount"], source_tx[tx_id]["status"], source_tx[tx_id]["account_id"],
        ), tx_id  # fmt: skip
        assert row["account_sk"] is not None and row["customer_sk"] is not None, tx_id
    balances = {row["account_id"]: row["balance"] for row in fixture.source_state["accounts"]}
    closing = {
        row["account_id"]: row["closing_balance"]
        for row in _rows(
            database,
            "SELECT account_id, closing_balance FROM gold.fct_daily_account_balances "
            "QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY balance_date DESC) = 1",
        )
    }
    for account_id, balance in balances.items():
        assert closing.get(account_id, Decimal("0.00")) == balance, f"account {account_id}"
    total = sum((row["balance"] for row in fixture.source_state["accounts"]), Decimal("0"))
    (gold_total,) = _rows(database, "SELECT sum(signed_amount) AS s FROM gold.fct_transactions "
                          "WHERE status = 'posted' AND NOT is_deleted")[0].values()  # fmt: skip
    assert gold_total == total


def test_dimensions_have_one_current_version_per_live_key(incremental: dict[str, Path], fixture: BronzeFixture) -> None:
    database = incremental["database"]
    dimensions = (("customers", "customer_id", "dim_customers"), ("accounts", "account_id", "dim_accounts"))
    for table, key, dimension in dimensions:
        current = _rows(database, f"SELECT {key}, count(*) AS n FROM gold.{dimension} WHERE is_current GROUP BY 1")
        assert {row[key] for row in current} == {row[key] for row in fixture.source_state[table]}, dimension
        assert all(row["n"] == 1 for row in current), dimension
    status = {r["account_id"]: r["status"] for r in _rows(database, "SELECT * FROM gold.dim_accounts WHERE is_current")}
    assert status == {row["account_id"]: row["status"] for row in fixture.source_state["accounts"]}
    # the accounts frozen and re-activated in the second part have more than one version
    versions = _rows(database, "SELECT account_id, count(*) AS n FROM gold.dim_accounts GROUP BY 1 HAVING n > 1")
    assert versions, "no account has SCD2 history"


def test_gold_pii_is_hashed_and_masked(incremental: dict[str, Path], fixture: BronzeFixture) -> None:
    import hashlib

    emails = {row["customer_id"]: row["email"] for row in fixture.source_state["customers"]}
    for row in _rows(incremental["database"], "SELECT * FROM gold.dim_customers WHERE is_current"):
        email = emails[row["customer_id"]]
        assert row["email_hash"] == hashlib.sha256(email.strip().lower().encode()).hexdigest()
        assert row["email_masked"].startswith(email[0] + "***@") and email not in str(row)
    columns = {r["column_name"] for r in _rows(incremental["database"], "DESCRIBE gold.dim_customers")}
    assert not columns & {"email", "phone", "first_name", "last_name", "date_of_birth", "address_line"}


@pytest.mark.parametrize(
    ("relation", "key", "ignored"),
    [
        ("silver.stg_customers", "customer_id", {"_loaded_at"}),
        ("silver.stg_accounts", "account_id", {"_loaded_at"}),
        ("silver.stg_transactions", "transaction_id", {"_loaded_at"}),
        # version surrogate keys differ: the two-step build saw an intermediate state the one-step did not
        ("gold.fct_transactions", "transaction_id", {"_loaded_at", "_built_at", "account_sk", "customer_sk"}),
        ("gold.fct_daily_account_balances", "account_day_key", {"_built_at"}),
        ("gold.fct_daily_activity", "activity_key", {"_built_at"}),
    ],
)
def test_incremental_result_equals_a_full_refresh(
    incremental: dict[str, Path], full_refresh: Path, relation: str, key: str, ignored: set[str]
) -> None:
    def strip(rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
        return {row[key]: {c: v for c, v in row.items() if c not in ignored} for row in rows}

    got = strip(_rows(incremental["database"], f"SELECT * FROM {relation}"))
    want = strip(_rows(full_refresh, f"SELECT * FROM {relation}"))
    assert got.keys() == want.keys()
    assert [k for k in want if got[k] != want[k]] == []
