"""PostgreSQL of the native stack: logical WAL, and a pgoutput replication slot that can be read."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.providers.postgres.hooks.postgres import PostgresHook

pytestmark = pytest.mark.integration


@pytest.fixture
def pg(stack: dict[str, str]) -> Iterator[Any]:
    conn = PostgresHook(postgres_conn_id="postgres_source").get_conn()
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


def test_source_database_has_logical_wal(pg: Any) -> None:
    with pg.cursor() as cur:
        cur.execute("SELECT current_database(), current_setting('wal_level'), current_setting('server_version_num')")
        database, wal_level, version = cur.fetchone()
    assert database == "banking"
    assert wal_level == "logical"
    assert int(version) // 10000 == 15


def test_logical_replication_slot_can_be_created_and_read(pg: Any) -> None:
    suffix = uuid.uuid4().hex[:8]
    table, publication, slot = f"smoke_{suffix}", f"smoke_pub_{suffix}", f"smoke_slot_{suffix}"
    with pg.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, amount numeric(18,2) NOT NULL)")
        try:
            cur.execute(f"CREATE PUBLICATION {publication} FOR TABLE {table}")
            cur.execute("SELECT lsn FROM pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
            try:
                cur.execute(f"INSERT INTO {table} VALUES (1, 12345678.91), (2, 0.01)")
                cur.execute(
                    "SELECT lsn, data FROM pg_logical_slot_get_binary_changes("
                    "%s, NULL, NULL, 'proto_version', '1', 'publication_names', %s)",
                    (slot, publication),
                )
                messages = [bytes(data) for _, data in cur.fetchall()]
                # a second read returns nothing: the slot advanced past what it delivered
                cur.execute(
                    "SELECT count(*) FROM pg_logical_slot_get_binary_changes("
                    "%s, NULL, NULL, 'proto_version', '1', 'publication_names', %s)",
                    (slot, publication),
                )
                (again,) = cur.fetchone()
            finally:
                cur.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        finally:
            cur.execute(f"DROP PUBLICATION IF EXISTS {publication}")
            cur.execute(f"DROP TABLE {table}")

    kinds = [chr(message[0]) for message in messages]
    # pgoutput protocol: Begin, Relation, Insert x2, Commit
    assert kinds == ["B", "R", "I", "I", "C"]
    inserts = b"".join(message for message in messages if message[:1] == b"I")
    # the exact decimal text travels in the WAL message, not a float
    assert b"12345678.91" in inserts
    assert b"0.01" in inserts
    assert again == 0
