"""The workload generator against a real PostgreSQL: invariants, SCD2-relevant changes, deletes, determinism, bulk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg2
import pytest
from psycopg2.extensions import make_dsn

from banking_cdc.generator import GeneratorConfig, check_invariants, run
from banking_cdc.generator.mix import COVERING_BOUND, OPERATION_WEIGHTS
from banking_cdc.generator.values import EDGE_AMOUNTS
from tests.source_changes import change_every_table

from .conftest import FreshDatabase

pytestmark = pytest.mark.integration

EVENTS = 1500
#: every column except the database-maintained audit columns created_at / updated_at
COLUMNS = {
    "customers": "customer_id, customer_ref, first_name, last_name, email, phone, date_of_birth, address_line, city,"
    " postal_code, country_code, tier, kyc_status",
    "accounts": "account_id, customer_id, iban, account_type, currency, status, balance, opened_at, closed_at",
    "transactions": "transaction_id, account_id, txn_type, direction, amount, status, transfer_id,"
    " reverses_transaction_id, description, booked_at, posted_at",
}
KEYS = {"customers": "customer_id", "accounts": "account_id", "transactions": "transaction_id"}


@pytest.fixture
def connect() -> Iterator[Any]:
    opened: list[Any] = []

    def open_(dsn: str) -> Any:
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        opened.append(conn)
        return conn

    yield open_
    for conn in opened:
        conn.close()


def scalar(conn: Any, sql: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def dump(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    rows = {}
    with conn.cursor() as cur:
        for table, columns in COLUMNS.items():
            cur.execute(f"SELECT {columns} FROM {table} ORDER BY {KEYS[table]}")
            rows[table] = cur.fetchall()
    return rows


def events(dsn: str, seed: int, count: int = EVENTS) -> dict[str, Any]:
    return run(GeneratorConfig(events=count, seed=seed, dsn=dsn, progress=False))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_events_keep_invariants_and_exercise_every_change(seed: int, db: str, connect: Any) -> None:
    summary = events(db, seed)
    conn = connect(db)
    assert check_invariants(conn) == []

    ops, rows = summary["operations"], summary["rows"]
    assert summary["operations_total"] == EVENTS
    assert summary["skipped"] == {}
    # SCD2-tracked columns of customers and accounts changed
    for name in ("customer_tier_change", "customer_email_change", "customer_address_change", "account_freeze"):
        assert ops.get(name, 0) > 0, name
    assert ops.get("customer_kyc_verified", 0) > 0 and ops.get("customer_kyc_rejected", 0) > 0
    assert scalar(conn, "SELECT count(*) FROM customers WHERE updated_at > created_at") > 0
    assert scalar(conn, "SELECT count(*) FROM accounts WHERE status = 'frozen' OR updated_at > created_at") > 0
    # money moved every way, and some of it exactly at the edges
    for name in ("deposit", "withdrawal", "transfer", "reversal", "pending_post", "pending_cancel", "account_close"):
        assert ops.get(name, 0) > 0, name
    assert scalar(conn, "SELECT count(DISTINCT transfer_id) FROM transactions WHERE transfer_id IS NOT NULL") > 0
    assert scalar(conn, "SELECT count(*) FROM transactions WHERE txn_type = 'reversal'") > 0
    assert scalar(conn, "SELECT count(*) FROM accounts WHERE status = 'closed' AND balance = 0") > 0
    edges = ", ".join(str(amount) for amount in EDGE_AMOUNTS)
    assert scalar(conn, f"SELECT count(*) FROM transactions WHERE amount IN ({edges})") > 0

    # deletes happened: counted by the summary, and the rows are gone from the database
    erased, deleted = rows["customers"]["delete"], rows["transactions"]["delete"]
    assert erased == ops["customer_erasure"] > 0
    assert deleted >= ops["cancelled_delete"] > 0
    assert scalar(conn, "SELECT count(*) FROM customers") == rows["customers"]["insert"] - erased
    assert scalar(conn, "SELECT max(customer_id) - count(*) FROM customers") <= erased
    assert scalar(conn, "SELECT count(*) FROM transactions") == rows["transactions"]["insert"] - deleted
    assert scalar(conn, "SELECT count(*) FROM accounts") == rows["accounts"]["insert"] == ops["account_open"]
    # some customers never open an account (prospects, rejected applicants): they are the erasable ones
    assert scalar(conn, "SELECT count(*) FROM customers c WHERE NOT EXISTS (SELECT 1 FROM accounts a"
                  " WHERE a.customer_id = c.customer_id)") > 0  # fmt: skip

    # the summary's money totals are exact
    posted = {
        kind: scalar(conn, f"SELECT coalesce(sum(amount), 0) FROM transactions WHERE status = 'posted' AND {where}")
        for kind, where in (
            ("deposited", "txn_type = 'deposit'"),
            ("withdrawn", "txn_type = 'withdrawal'"),
            ("transferred", "txn_type = 'transfer' AND direction = 'debit'"),
        )
    }
    for kind, total in posted.items():
        assert Decimal(summary["money"][kind]) == total, kind
    # IBANs carry a valid mod-97 checksum
    with conn.cursor() as cur:
        cur.execute("SELECT iban FROM accounts")
        for (iban,) in cur.fetchall():
            rearranged = iban[4:] + iban[:4]
            assert int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1, iban


def kinds_not_done(operations: dict[str, int]) -> list[str]:
    """Generator operations without a count in a summary, counted as the reconcile and end-to-end tests do."""
    done = {name for name, count in operations.items() if count}
    # the summary names KYC decisions and profile changes by their outcome / kind
    refined = {
        "customer_kyc_change": ("customer_kyc_",),
        "customer_profile_update": ("customer_address_", "customer_email_", "customer_phone_", "customer_postal"),
    }
    return [op for op in OPERATION_WEIGHTS
            if op not in done and not any(n.startswith(refined.get(op, (op,))) for n in done)]  # fmt: skip


def leave_prior_state(dsn: str, prior: str, connect: Any) -> None:
    """
    Put a fresh database in a state earlier tests leave the shared source database in.

    ``markers-N``: N calls of :func:`tests.source_changes.change_every_table` (customers awaiting KYC, each with an
    active account holding a pending deposit); ``events``: an earlier workload run; ``bulk``: a backfill.
    Before the generator's opening tour, the 450 operations of seed 8 (the reconcile test's workload) missed
    ``customer_erasure`` after 2 markers, ``account_close`` after 22 and ``account_unfreeze`` after 30.
    """
    if prior.startswith("markers-"):
        conn = connect(dsn)
        for _ in range(int(prior.removeprefix("markers-"))):
            change_every_table(conn)
    elif prior == "events":
        events(dsn, seed=8, count=450)
    elif prior == "bulk":
        run(GeneratorConfig(bulk=True, customers=300, transactions=3000, seed=3, dsn=dsn, progress=False))
    else:
        assert prior == "fresh", prior


@pytest.mark.parametrize("prior", ["fresh", "markers-2", "markers-22", "markers-30", "events", "bulk"])
def test_a_run_of_covering_bound_operations_does_every_kind_whatever_the_database_held(
    prior: str, db: str, connect: Any
) -> None:
    leave_prior_state(db, prior, connect)
    summary = run(GeneratorConfig(events=COVERING_BOUND, seed=8, dsn=db, progress=False, verify=True))
    assert summary["invariants"] == []
    assert summary["operations_total"] == COVERING_BOUND
    assert kinds_not_done(summary["operations"]) == [], summary["operations"]


def test_a_steady_run_does_every_kind_whatever_the_database_held(db: str, connect: Any) -> None:
    leave_prior_state(db, "markers-22", connect)
    summary = run(GeneratorConfig(rate=100, duration=3, seed=8, dsn=db, progress=False, verify=True))
    assert summary["invariants"] == []
    assert summary["operations_total"] >= COVERING_BOUND, summary["rate"]
    assert kinds_not_done(summary["operations"]) == [], summary["operations"]


def cli_in_another_process(dsn: str, *args: str) -> dict[str, Any]:
    """Run the CLI in a fresh interpreter with another string-hash seed (the password travels in PGPASSWORD)."""
    params = psycopg2.extensions.parse_dsn(dsn)
    password = params.pop("password")
    env = {**os.environ, "PYTHONHASHSEED": "4242", "PGPASSWORD": password}
    result = subprocess.run(
        [sys.executable, "-m", "banking_cdc.generator", *args, "--dsn", make_dsn(**params), "--no-progress", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(json.loads(result.stdout))


def test_same_seed_gives_identical_rows_and_another_seed_does_not(fresh_database: FreshDatabase, connect: Any) -> None:
    first, second, other = fresh_database(), fresh_database(), fresh_database()
    events(first, seed=11, count=700)
    # the second run in another process: nothing may depend on per-process hashing
    assert cli_in_another_process(second, "--events", "700", "--seed", "11")["operations_total"] == 700
    events(other, seed=12, count=700)
    rows_first, rows_second, rows_other = dump(connect(first)), dump(connect(second)), dump(connect(other))
    for table in COLUMNS:
        assert rows_first[table], table
        assert rows_first[table] == rows_second[table], table
    assert rows_first["customers"] != rows_other["customers"]
    assert rows_first["transactions"] != rows_other["transactions"]


def test_bulk_loads_the_requested_rows_consistently(db: str, connect: Any) -> None:
    summary = run(
        GeneratorConfig(bulk=True, customers=2000, accounts_per_customer=2, transactions=30_001, dsn=db, progress=False)
    )
    conn = connect(db)
    assert check_invariants(conn) == []
    assert summary["rows"]["customers"]["insert"] == scalar(conn, "SELECT count(*) FROM customers") == 2000
    assert summary["rows"]["accounts"]["insert"] == scalar(conn, "SELECT count(*) FROM accounts") == 4000
    assert summary["rows"]["transactions"]["insert"] == scalar(conn, "SELECT count(*) FROM transactions") == 30_001
    assert scalar(conn, "SELECT count(*) FROM transactions WHERE status <> 'posted'") == 0
    assert scalar(conn, "SELECT count(DISTINCT transfer_id) FROM transactions") == summary["operations"]["transfer"] > 0
    assert summary["operations"]["reversal"] > 0
    assert scalar(conn, "SELECT count(*) FROM accounts WHERE balance > 0") > 0
    assert Decimal(summary["money"]["deposited"]) == scalar(
        conn, "SELECT sum(amount) FROM transactions WHERE txn_type = 'deposit'"
    )
    # identity sequences continue after the loaded ids
    assert scalar(conn, "SELECT nextval(pg_get_serial_sequence('transactions', 'transaction_id'))") == 30_002


def test_bulk_is_deterministic(fresh_database: FreshDatabase, connect: Any) -> None:
    first, second = fresh_database(), fresh_database()
    run(GeneratorConfig(bulk=True, customers=150, transactions=2000, seed=4, dsn=first, progress=False, chunk_rows=500))
    cli_in_another_process(
        second, "--bulk", "--customers", "150", "--transactions", "2000", "--seed", "4", "--chunk-rows", "500"
    )
    assert dump(connect(first)) == dump(connect(second))


def test_bulk_into_a_database_with_steady_data_keeps_invariants(db: str, connect: Any) -> None:
    steady = run(GeneratorConfig(rate=150, duration=2, seed=9, dsn=db, progress=False))
    assert steady["rate"]["target"] == 150
    assert steady["operations_total"] > 0
    conn = connect(db)
    before = {table: scalar(conn, f"SELECT count(*) FROM {table}") for table in COLUMNS}
    bulk = run(GeneratorConfig(bulk=True, customers=500, transactions=6000, seed=9, dsn=db, progress=False))
    assert check_invariants(conn) == []
    for table in COLUMNS:
        assert scalar(conn, f"SELECT count(*) FROM {table}") == before[table] + bulk["rows"][table]["insert"]
    # and the operational workload continues on top of the backfill
    more = events(db, seed=9, count=300)
    assert more["operations_total"] == 300
    assert check_invariants(conn) == []


def test_bulk_without_table_ownership_draws_ids_one_by_one(
    fresh_database: FreshDatabase, connect: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import banking_cdc.generator.db as db_module

    first, second = fresh_database(), fresh_database()
    run(GeneratorConfig(bulk=True, customers=120, transactions=1500, seed=6, dsn=first, progress=False, chunk_rows=400))
    monkeypatch.setattr(db_module, "_may_alter", lambda conn, table: False)
    run(
        GeneratorConfig(bulk=True, customers=120, transactions=1500, seed=6, dsn=second, progress=False, chunk_rows=400)
    )
    assert dump(connect(first)) == dump(connect(second))
    assert check_invariants(connect(second)) == []


def test_concurrent_writers_keep_invariants(db: str, connect: Any) -> None:
    """Two operational generators and a bulk load at once: conflicts are skipped, invariants never break."""
    events(db, seed=21, count=400)
    results: dict[str, dict[str, Any]] = {}
    errors: list[BaseException] = []

    def work(name: str, config: GeneratorConfig) -> None:
        try:
            results[name] = run(config)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=("a", GeneratorConfig(events=800, seed=22, dsn=db, progress=False))),
        threading.Thread(target=work, args=("b", GeneratorConfig(events=800, seed=23, dsn=db, progress=False))),
        threading.Thread(
            target=work,
            args=("bulk", GeneratorConfig(bulk=True, customers=300, seed=24, dsn=db, progress=False, chunk_rows=500)),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert results["a"]["operations_total"] == results["b"]["operations_total"] == 800
    assert check_invariants(connect(db)) == []


def test_database_errors_are_reported_without_row_data(db: str) -> None:
    from banking_cdc.generator.db import redacted_error

    conn = psycopg2.connect(db)
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.Error) as raised:
            cur.execute(
                "INSERT INTO customers (customer_ref, first_name, last_name, email, country_code, tier)"
                " VALUES (gen_random_uuid(), 'Secret', 'Person', 'secret@example.org', 'DE', 'platinum')"
            )
    finally:
        conn.close()
    assert "Secret" in str(raised.value)  # PostgreSQL quotes the failing row ...
    message = str(redacted_error(raised.value, "operation customer_signup"))
    assert "Secret" not in message and "secret@" not in message  # ... the generator does not
    assert message == (
        'operation customer_signup failed: new row for relation "customers" violates check constraint'
        ' "customers_tier_check" (SQLSTATE 23514)'
    )


def test_check_only_reports_a_broken_balance(db: str, connect: Any) -> None:
    events(db, seed=5, count=200)
    conn = connect(db)
    assert run(GeneratorConfig(check_only=True, dsn=db))["violations"] == []
    with conn.cursor() as cur:
        cur.execute(  # an open account (a closed one cannot hold money: the schema refuses, not the check)
            "UPDATE accounts SET balance = balance + 0.01"
            " WHERE account_id = (SELECT min(account_id) FROM accounts WHERE status <> 'closed')"
        )
    violations = check_invariants(conn)
    assert len(violations) == 1
    assert violations[0].startswith("balance mismatch: account ")


def test_operator_runs_through_an_airflow_connection(db: str, connect: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from banking_cdc.operators.generator import WorkloadGeneratorOperator

    params = psycopg2.extensions.parse_dsn(db)
    conn_id = "gen_test_operator"
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": params["host"],
                "port": int(params["port"]),
                "schema": params["dbname"],
                "login": params["user"],
                "password": params["password"],
            }
        ),
    )
    summary = WorkloadGeneratorOperator(
        task_id="generate", postgres_conn_id=conn_id, seed=3, events=200, apply_schema=True
    ).execute(
        context={}  # type: ignore[arg-type]
    )
    assert json.loads(json.dumps(summary)) == summary  # JSON-safe (money as strings)
    assert summary["operations_total"] == 200
    assert isinstance(summary["money"]["deposited"], str)
    bulk = WorkloadGeneratorOperator(
        task_id="backfill", postgres_conn_id=conn_id, bulk=True, customers=100, transactions=1000, verify=True
    ).execute(context={})  # type: ignore[arg-type]
    assert bulk["rows"]["transactions"]["insert"] == 1000
    assert bulk["invariants"] == []
    assert check_invariants(connect(db)) == []
