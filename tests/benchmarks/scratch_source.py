"""A scratch source database for the capture benchmarks (debezium_snapshot.py, backfill.py).

The source schema of the product (``apply_source_schema``, its own publication) in a new database of the
native stack's PostgreSQL, filled with 1,000 customers, 2,000 accounts and ``rows`` posted deposits; and
the clean-up of that database with the replication slot a benchmark connector created on it.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tests.stack_env import STATE

PUBLICATION = "bench_publication"


def create_database(pg: dict[str, Any], dbname: str) -> Any:
    """
    Create ``dbname``, owned by the source user, as the stack's superuser; return that autocommit
    superuser connection (to the ``postgres`` database), for :func:`drop_source`.

    :param pg: The ``postgres_source`` connection (host, port, login).
    :param dbname: The scratch database's name.
    """
    import psycopg2

    superuser = json.loads((STATE / "secrets.json").read_text())["pg_superuser_password"]
    root = psycopg2.connect(host=pg["host"], port=pg["port"], user="postgres", password=superuser, dbname="postgres")
    root.autocommit = True
    with root.cursor() as cur:
        cur.execute(f"CREATE DATABASE {dbname} OWNER {pg['login']}")
    return root


def write_source(pg: dict[str, Any], dbname: str, rows: int) -> float:
    """
    Create the source schema in ``dbname`` and fill it; return the seconds the inserts took.

    :param pg: The ``postgres_source`` connection (host, port, login, password).
    :param dbname: An existing, empty database owned by ``pg['login']``.
    :param rows: Transaction rows to write.
    """
    import psycopg2

    from banking_cdc.capture.source_schema import apply_source_schema

    conn = psycopg2.connect(host=pg["host"], port=pg["port"], user=pg["login"], password=pg["password"], dbname=dbname)
    try:
        apply_source_schema(conn, publication=PUBLICATION)
        began = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO customers (customer_ref, first_name, last_name, email, country_code) "
                "SELECT gen_random_uuid(), 'F' || g, 'L' || g, 'c' || g || '@example.org', 'DE' "
                "FROM generate_series(1, 1000) g"
            )
            cur.execute(
                "INSERT INTO accounts (customer_id, iban, account_type, opened_at) "
                "SELECT 1 + g % 1000, 'DE' || lpad(g::text, 20, '0'), 'checking', now() FROM generate_series(1, 2000) g"
            )
            cur.execute(
                "INSERT INTO transactions (account_id, txn_type, direction, amount, status, booked_at, posted_at) "
                "SELECT 1 + g %% 2000, 'deposit', 'credit', round((random() * 10000)::numeric, 2) + 0.01, 'posted', "
                "now(), now() FROM generate_series(1, %s) g",
                (rows,),
            )
        conn.commit()
        return time.perf_counter() - began
    finally:
        conn.close()


def drop_source(root: Any, dbname: str, slot: str) -> None:
    """
    Drop the benchmark's replication slot (once its connector has let go of it) and database.

    :param root: An autocommit superuser connection to the ``postgres`` database.
    :param dbname: The scratch database.
    :param slot: The slot the benchmark connector created.
    """
    with root.cursor() as cur:
        for _ in range(20):
            cur.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,))
            row = cur.fetchone()
            if row is None:
                break
            if not row[0]:
                cur.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
                break
            time.sleep(1)
        cur.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
