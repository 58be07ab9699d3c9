"""Insert, update and delete on each captured table arrive as Debezium envelopes on the table's topic.

Checked for every table: op c/u/d in order, complete before-images on update and delete (REPLICA
IDENTITY FULL), a tombstone after each delete, and money exact as ``Decimal``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

pytestmark = pytest.mark.integration

CUSTOMER_COLUMNS = {
    "customer_id", "customer_ref", "first_name", "last_name", "email", "phone", "date_of_birth", "address_line",
    "city", "postal_code", "country_code", "tier", "kyc_status", "created_at", "updated_at",
}  # fmt: skip


def _insert_customer(cur: Any, **overrides: Any) -> int:
    values = {
        "customer_ref": str(uuid.uuid4()), "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org",
        "phone": "+44 20 0000 0000", "city": "London", "country_code": "GB",
    }  # fmt: skip
    values.update(overrides)
    cur.execute(
        f"INSERT INTO customers ({', '.join(values)}) VALUES ({', '.join(['%s'] * len(values))}) RETURNING customer_id",
        list(values.values()),
    )
    return int(cur.fetchone()[0])


def _insert_account(cur: Any, customer_id: int) -> int:
    cur.execute(
        "INSERT INTO accounts (customer_id, iban, account_type, opened_at) VALUES (%s, %s, 'checking', now()) "
        "RETURNING account_id",
        (customer_id, f"DE{uuid.uuid4().int % 10**20:020d}"),
    )
    return int(cur.fetchone()[0])


def _assert_lifecycle(events: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> None:
    ops = [value["op"] if value is not None else "tombstone" for _, value in events]
    assert ops == ["c", "u", "d", "tombstone"]
    create, update, delete, _ = (value for _, value in events)
    assert create is not None and update is not None and delete is not None
    assert create["before"] is None
    # complete before-images: every column, equal to the row as it was
    assert update["before"] == create["after"]
    assert delete["before"] == update["after"]
    assert delete["after"] is None
    for value in (create, update, delete):
        assert value["source"]["table"] in ("customers", "accounts", "transactions")
        assert isinstance(value["source"]["lsn"], int)
        assert isinstance(value["source"]["txId"], int)
    assert create["source"]["lsn"] < update["source"]["lsn"] < delete["source"]["lsn"]


def test_customer_insert_update_delete(source_conn: Any, read_events: Callable[..., Any]) -> None:
    with source_conn.cursor() as cur:
        customer_id = _insert_customer(cur)
        source_conn.commit()
        cur.execute(
            "UPDATE customers SET email = 'ada.l@example.org', tier = 'gold' WHERE customer_id = %s", (customer_id,)
        )
        source_conn.commit()
        cur.execute("DELETE FROM customers WHERE customer_id = %s", (customer_id,))
        source_conn.commit()
    events = read_events("bank.public.customers", {"customer_id": customer_id}, 4)
    _assert_lifecycle(events)
    create, update, delete = events[0][1], events[1][1], events[2][1]
    assert set(create["after"]) == CUSTOMER_COLUMNS
    assert update["after"]["email"] == "ada.l@example.org" and update["after"]["tier"] == "gold"
    assert delete["before"]["phone"] == "+44 20 0000 0000"  # not a zero-filled or placeholder before-image


def test_account_insert_update_delete(source_conn: Any, read_events: Callable[..., Any]) -> None:
    with source_conn.cursor() as cur:
        account_id = _insert_account(cur, _insert_customer(cur))
        source_conn.commit()
        cur.execute("UPDATE accounts SET status = 'frozen' WHERE account_id = %s", (account_id,))
        source_conn.commit()
        cur.execute("DELETE FROM accounts WHERE account_id = %s", (account_id,))
        source_conn.commit()
    events = read_events("bank.public.accounts", {"account_id": account_id}, 4)
    _assert_lifecycle(events)
    assert events[1][1]["before"]["status"] == "active"
    assert events[1][1]["after"]["status"] == "frozen"
    assert Decimal(events[2][1]["before"]["balance"]) == Decimal("0.00")


@pytest.mark.parametrize("amount", ["0.01", "0.10", "0.20", "9999999999999999.99", "1234567.89"])
def test_transaction_insert_update_delete_keeps_money_exact(
    source_conn: Any, read_events: Callable[..., Any], amount: str
) -> None:
    with source_conn.cursor() as cur:
        account_id = _insert_account(cur, _insert_customer(cur))
        cur.execute(
            "INSERT INTO transactions (account_id, txn_type, direction, amount, booked_at) "
            "VALUES (%s, 'deposit', 'credit', %s, now()) RETURNING transaction_id",
            (account_id, Decimal(amount)),
        )
        transaction_id = int(cur.fetchone()[0])
        source_conn.commit()
        cur.execute("UPDATE transactions SET status = 'cancelled' WHERE transaction_id = %s", (transaction_id,))
        source_conn.commit()
        cur.execute("DELETE FROM transactions WHERE transaction_id = %s", (transaction_id,))
        source_conn.commit()
    events = read_events("bank.public.transactions", {"transaction_id": transaction_id}, 4)
    _assert_lifecycle(events)
    for raw in (events[0][1]["after"]["amount"], events[1][1]["before"]["amount"], events[2][1]["before"]["amount"]):
        assert isinstance(raw, str)  # decimal.handling.mode=string: never a float on the wire
        assert Decimal(raw) == Decimal(amount)


def test_small_amounts_add_up_exactly(source_conn: Any, read_events: Callable[..., Any]) -> None:
    with source_conn.cursor() as cur:
        account_id = _insert_account(cur, _insert_customer(cur))
        ids = []
        for amount in ("0.10", "0.20"):
            cur.execute(
                "INSERT INTO transactions (account_id, txn_type, direction, amount, booked_at) "
                "VALUES (%s, 'deposit', 'credit', %s, now()) RETURNING transaction_id",
                (account_id, Decimal(amount)),
            )
            ids.append(int(cur.fetchone()[0]))
        source_conn.commit()
    amounts = [
        Decimal(read_events("bank.public.transactions", {"transaction_id": tid}, 1)[0][1]["after"]["amount"])
        for tid in ids
    ]
    assert sum(amounts) == Decimal("0.30")  # 0.1 + 0.2 != 0.3 in binary floating point
