"""The source database's schema: the banking demo tables, the connector's heartbeat and signal tables, the publication.

What is captured is ``capture.yaml``'s ``source.tables`` (see :mod:`banking_cdc.capture.source_setup`); the
banking tables here are the demo's and the generator's, created only when ``source.create_demo_tables`` is on.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files
from typing import Any

#: the banking demo tables the generator writes, in foreign-key order (not a list of what is captured)
BANKING_TABLES: tuple[str, ...] = ("customers", "accounts", "transactions")
HEARTBEAT_TABLE = "debezium_heartbeat"
SIGNAL_TABLE = "debezium_signal"
SOURCE_SCHEMA = "public"


def banking_tables_sql() -> str:
    """Return the idempotent DDL of the banking demo tables (``sql/source_schema.sql``)."""
    return files("banking_cdc").joinpath("sql/source_schema.sql").read_text(encoding="utf-8")


def connector_tables_sql(
    schema: str = SOURCE_SCHEMA, heartbeat: str = HEARTBEAT_TABLE, signal: str = SIGNAL_TABLE
) -> str:
    """
    Return the idempotent DDL of the tables the connector itself writes and reads (validated identifiers).

    :param schema: Their schema.
    :param heartbeat: The heartbeat table: the connector's ``heartbeat.action.query`` writes here, so the slot
        keeps advancing (and WAL is released) while the captured tables are quiet.
    :param signal: The signal table (``signal.data.collection``): an ``execute-snapshot`` row starts an
        incremental snapshot of chosen tables (initial load of an added table, resync).
    """
    return f"""
CREATE TABLE IF NOT EXISTS {schema}.{heartbeat} (
    id          integer PRIMARY KEY,
    beat_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS {schema}.{signal} (
    id      varchar(64) PRIMARY KEY,
    type    varchar(32) NOT NULL,
    data    varchar(2048)
);
"""


def schema_sql() -> str:
    """Return the idempotent DDL of the demo source: the banking tables and the connector's tables."""
    return banking_tables_sql() + connector_tables_sql()


def publication_sql(publication: str, tables: Sequence[str]) -> str:
    """
    Return idempotent SQL that makes ``publication`` publish exactly ``tables``.

    :param publication: The publication (a validated identifier).
    :param tables: Schema-qualified tables (validated identifiers).
    """
    listed = ", ".join(tables)
    return f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = '{publication}') THEN
        CREATE PUBLICATION {publication} FOR TABLE {listed};
    ELSIF (
        SELECT array_agg(schemaname || '.' || tablename ORDER BY schemaname, tablename)
        FROM pg_publication_tables WHERE pubname = '{publication}'
    ) IS DISTINCT FROM (
        SELECT array_agg(t ORDER BY t) FROM unnest(string_to_array('{listed.replace(" ", "")}', ',')) AS t
    ) THEN
        ALTER PUBLICATION {publication} SET TABLE {listed};
    END IF;
END;
$$;
"""


def apply_source_schema(conn: Any, publication: str | None = None) -> None:
    """
    Create or confirm the demo source (banking and connector tables, optionally a publication of them) in one
    transaction. The capture setup uses :func:`~banking_cdc.capture.source_setup.ensure_source` instead.

    :param conn: An open DB-API connection (psycopg2) to the source database, as its owner.
    :param publication: Name of the publication of the banking tables to ensure, or ``None`` to leave
        publications alone.
    """
    with conn.cursor() as cur:
        cur.execute(schema_sql())
        if publication:
            if not publication.replace("_", "").isalnum():
                raise ValueError(f"publication name {publication!r} must be letters, digits and underscores")
            tables = [f"{SOURCE_SCHEMA}.{name}" for name in (*BANKING_TABLES, HEARTBEAT_TABLE, SIGNAL_TABLE)]
            cur.execute(publication_sql(publication, tables))
    conn.commit()
