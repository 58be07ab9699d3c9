"""The source schema: applying it again changes nothing; constraints guard the money invariants."""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal
from typing import Any

import pytest

from banking_cdc.capture.source_schema import apply_source_schema

pytestmark = pytest.mark.integration

PG_DUMP = "/usr/lib/postgresql/15/bin/pg_dump"


def _schema_dump() -> str:
    conn = json.loads(os.environ["AIRFLOW_CONN_POSTGRES_SOURCE"])
    result = subprocess.run(
        [PG_DUMP, "--schema-only", "--no-owner", "-h", conn["host"], "-p", str(conn["port"]), "-U", conn["login"],
         conn["schema"]],
        capture_output=True, text=True, env={**os.environ, "PGPASSWORD": conn["password"]}, check=True,
    )  # fmt: skip
    # pg_dump brackets its output with \restrict / \unrestrict lines holding a random key
    return "\n".join(line for line in result.stdout.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def test_applying_the_schema_twice_changes_nothing(source_conn: Any) -> None:
    before = _schema_dump()
    assert "CREATE TABLE public.transactions" in before
    apply_source_schema(source_conn, publication="bcdc_publication")
    apply_source_schema(source_conn, publication="bcdc_publication")
    assert _schema_dump() == before


def test_captured_tables_have_full_replica_identity_and_are_published(source_conn: Any) -> None:
    with source_conn.cursor() as cur:
        cur.execute(
            "SELECT relname, relreplident FROM pg_class WHERE relname IN ('customers', 'accounts', 'transactions')"
        )
        assert dict(cur.fetchall()) == {"customers": "f", "accounts": "f", "transactions": "f"}
        cur.execute("SELECT tablename FROM pg_publication_tables WHERE pubname = 'bcdc_publication' ORDER BY 1")
        assert [row[0] for row in cur.fetchall()] == [
            "accounts", "customers", "debezium_heartbeat", "debezium_signal", "transactions",
        ]  # fmt: skip


def test_updated_at_is_maintained_by_the_database(source_conn: Any) -> None:
    with source_conn.cursor() as cur:
        cur.execute(
            "INSERT INTO customers (customer_ref, first_name, last_name, email, country_code, updated_at) "
            "VALUES (gen_random_uuid(), 'T', 'U', 't@u.v', 'NL', '2000-01-01') RETURNING customer_id, updated_at"
        )
        customer_id, _ = cur.fetchone()
        cur.execute("UPDATE customers SET tier = 'silver', updated_at = '2000-01-01' WHERE customer_id = %s "
                    "RETURNING updated_at", (customer_id,))  # fmt: skip
        (touched,) = cur.fetchone()
        source_conn.rollback()
    assert touched.year >= 2026  # the trigger overrides what the writer sent


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("UPDATE accounts SET balance = -0.01 WHERE account_id = {account}", "accounts_balance_non_negative"),
        ("UPDATE accounts SET status = 'closed', closed_at = now(), balance = 5 WHERE account_id = {account}",
         "accounts_closed_empty"),
        ("INSERT INTO transactions (account_id, txn_type, direction, amount, booked_at) "
         "VALUES ({account}, 'deposit', 'credit', 0, now())", "transactions_amount_positive"),
        ("INSERT INTO transactions (account_id, txn_type, direction, amount, booked_at) "
         "VALUES ({account}, 'deposit', 'debit', 1, now())", "transactions_deposit_credit"),
        ("INSERT INTO transactions (account_id, txn_type, direction, amount, booked_at) "
         "VALUES ({account}, 'transfer', 'debit', 1, now())", "transactions_transfer_id"),
    ],
)  # fmt: skip
def test_constraints_reject_invalid_money_states(source_conn: Any, statement: str, constraint: str) -> None:
    with source_conn.cursor() as cur:
        cur.execute(
            "INSERT INTO customers (customer_ref, first_name, last_name, email, country_code) "
            "VALUES (gen_random_uuid(), 'C', 'K', 'c@k.l', 'FR') RETURNING customer_id"
        )
        (customer,) = cur.fetchone()
        cur.execute(
            "INSERT INTO accounts (customer_id, iban, account_type, opened_at, balance) "
            "VALUES (%s, 'FR' || gen_random_uuid(), 'savings', now(), %s) RETURNING account_id",
            (customer, Decimal("10.00")),
        )
        (account,) = cur.fetchone()
        with pytest.raises(Exception, match=constraint) as err:
            cur.execute(statement.format(account=account))
        assert type(err.value).__name__ == "CheckViolation"
    source_conn.rollback()
