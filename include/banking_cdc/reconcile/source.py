"""Read the source database's live rows for reconciliation, in one consistent snapshot.

The three tables are read in one ``REPEATABLE READ READ ONLY`` transaction, so customers, accounts and
transactions are one cut of the database (balances agree with their postings). Raw PII is converted to
gold's hashed and masked forms as rows are read and is never kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from banking_cdc.reconcile import pii
from banking_cdc.reconcile.snapshot import Row, SourceSnapshot, SourceTable, normalise
from banking_cdc.reconcile.spec import ACCOUNTS, CUSTOMERS, TABLES, TRANSACTIONS

SQL = {
    CUSTOMERS.table: (
        "SELECT customer_id, customer_ref::text AS customer_ref, first_name, last_name, email, phone, date_of_birth, "
        "city, country_code, tier, kyc_status, created_at, updated_at FROM customers"
    ),
    ACCOUNTS.table: (
        "SELECT account_id, customer_id, iban, account_type, currency, status, balance, opened_at, closed_at, "
        "created_at, updated_at FROM accounts"
    ),
    TRANSACTIONS.table: (
        "SELECT transaction_id, account_id, txn_type, direction, amount, status, transfer_id::text AS transfer_id, "
        "reverses_transaction_id, booked_at, posted_at, created_at, updated_at FROM transactions"
    ),
}


def _customer(row: dict[str, Any]) -> Row:
    """Gold's form of a customer row: PII hashed / masked, birth date reduced to the year."""
    birth = row.pop("date_of_birth")
    first, last, email, phone = (row.pop(c) for c in ("first_name", "last_name", "email", "phone"))
    return row | {
        "first_name_masked": pii.mask_name(first),
        "last_name_masked": pii.mask_name(last),
        "email_hash": pii.hash_pii(email),
        "email_masked": pii.mask_email(email),
        "phone_hash": pii.hash_pii(phone),
        "phone_masked": pii.mask_phone(phone),
        "birth_year": None if birth is None else birth.year,
    }


def _account(row: dict[str, Any]) -> Row:
    """Gold's form of an account row: IBAN hashed and masked."""
    iban = row.pop("iban")
    return row | {"iban_hash": pii.hash_pii(iban), "iban_masked": pii.mask_iban(iban)}


CONVERT: dict[str, Callable[[dict[str, Any]], Row]] = {
    CUSTOMERS.table: _customer,
    ACCOUNTS.table: _account,
    TRANSACTIONS.table: dict,
}
#: source columns read per table besides created_at / updated_at (raw PII included: converted on read)
_SOURCE_COLUMNS = {
    CUSTOMERS.table: ("customer_id", "customer_ref", "first_name", "last_name", "email", "phone", "date_of_birth",
                      "city", "country_code", "tier", "kyc_status"),
    ACCOUNTS.table: ("account_id", "customer_id", "iban", "account_type", "currency", "status", "balance",
                     "opened_at", "closed_at"),
    TRANSACTIONS.table: ("transaction_id", "account_id", "txn_type", "direction", "amount", "status", "transfer_id",
                         "reverses_transaction_id", "booked_at", "posted_at"),
}  # fmt: skip


def snapshot_from_rows(taken_at: datetime, tables: Mapping[str, Iterable[Mapping[str, Any]]]) -> SourceSnapshot:
    """
    Build a source snapshot from source rows (column name -> value, as the source tables hold them).

    Each row becomes gold's form (PII hashed / masked, the raw values dropped) and its last change time
    (``greatest(created_at, updated_at)``, the database clock) is kept for the grace window.

    :param taken_at: The source database's clock at the read.
    :param tables: Source table name -> its rows; every table of :data:`~banking_cdc.reconcile.spec.TABLES`.
    """
    snapshot = SourceSnapshot(taken_at=normalise(taken_at), tables={})
    for spec in TABLES:
        table = SourceTable()
        wanted = (*_SOURCE_COLUMNS[spec.table], "created_at", "updated_at")
        for raw in tables[spec.table]:
            row = {name: normalise(raw[name]) for name in wanted}
            key = row.pop(spec.key)
            updated = row.pop("updated_at")
            table.changed_at[key] = max(row["created_at"], updated)
            if "updated_at" in spec.compared:
                row["updated_at"] = updated
            table.rows[key] = CONVERT[spec.table](row)
        snapshot.tables[spec.table] = table
    return snapshot


def read_source(conn: Any) -> SourceSnapshot:
    """
    Read the live rows of every reconciled table through a DB-API connection (psycopg 3 or psycopg2).

    The connection is left open; its transaction is rolled back (nothing is written).

    :param conn: An open connection to the source database, not in autocommit mode.
    """
    try:
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute("SELECT now()")
            (taken_at,) = _values(cur.fetchone())
            tables: dict[str, list[dict[str, Any]]] = {}
            for spec in TABLES:
                cur.execute(SQL[spec.table])
                names = [d[0] for d in cur.description]
                tables[spec.table] = [dict(zip(names, _values(raw), strict=True)) for raw in cur.fetchall()]
    finally:
        conn.rollback()
    return snapshot_from_rows(taken_at, tables)


def _values(row: Any) -> tuple[Any, ...]:
    """A row as a tuple, whatever the cursor's row factory (tuple, dict, named tuple)."""
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)
