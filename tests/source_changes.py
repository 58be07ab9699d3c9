"""Test helper: one fresh change on every captured table of the source database."""

from __future__ import annotations

import uuid
from typing import Any

from airflow.providers.postgres.hooks.postgres import PostgresHook


def change_every_table(conn: Any | None = None) -> int:
    """
    Insert a customer, an account and a deposit (one change event per topic); return the customer id.

    What it leaves: a customer awaiting KYC with an active account whose only transaction is a pending deposit.

    :param conn: An open DB-API connection to write through (committed, left open); by default the source
        database of the ``postgres_source`` connection.
    """
    own = conn is None
    if conn is None:
        conn = PostgresHook(postgres_conn_id="postgres_source").get_conn()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO customers (customer_ref, first_name, last_name, email, country_code) "
                "VALUES (%s, 'Pipe', 'Line', 'pipe@example.org', 'BE') RETURNING customer_id",
                (str(uuid.uuid4()),),
            )
            (customer_id,) = cur.fetchone()
            cur.execute(
                "INSERT INTO accounts (customer_id, iban, account_type, opened_at) "
                "VALUES (%s, %s, 'savings', now()) RETURNING account_id",
                (customer_id, f"BE{uuid.uuid4().int % 10**14:014d}"),
            )
            (account_id,) = cur.fetchone()
            cur.execute(
                "INSERT INTO transactions (account_id, txn_type, direction, amount, booked_at) "
                "VALUES (%s, 'deposit', 'credit', 12.34, now())",
                (account_id,),
            )
        conn.commit()
    finally:
        if own:
            conn.close()
    return int(customer_id)


def wait_for_backlog(topics: list[str], group: str, timeout: float = 90.0) -> None:
    """Wait until every topic has events the consumer group has not committed (Debezium streams asynchronously)."""
    import json
    import os
    import time

    from confluent_kafka import Consumer

    from banking_cdc.hooks.kafka_group import backlog_offsets

    extra = json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]
    consumer = Consumer({"bootstrap.servers": extra["bootstrap.servers"], "group.id": group})
    deadline = time.monotonic() + timeout
    try:
        while True:
            offsets = backlog_offsets(consumer, topics, timeout=10)
            waiting = [t for t in topics if sum(high - start for start, high in offsets[t].values()) == 0]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"no change event reached {waiting} within {timeout:.0f}s")
            time.sleep(0.5)
    finally:
        consumer.close()
