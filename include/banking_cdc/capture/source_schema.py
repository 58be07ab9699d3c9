"""The source database's schema: the captured banking tables, heartbeat and signal tables, publication."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

#: the business tables captured by Debezium, in foreign-key order
CAPTURED_TABLES: tuple[str, ...] = ("customers", "accounts", "transactions")
HEARTBEAT_TABLE = "debezium_heartbeat"
SIGNAL_TABLE = "debezium_signal"
SOURCE_SCHEMA = "public"


def schema_sql() -> str:
    """Return the idempotent DDL of the source schema (``sql/source_schema.sql``)."""
    return files("banking_cdc").joinpath("sql/source_schema.sql").read_text(encoding="utf-8")


def publication_sql(publication: str) -> str:
    """Return idempotent SQL that makes ``publication`` publish exactly the captured, heartbeat and signal tables."""
    tables = ", ".join(f"{SOURCE_SCHEMA}.{name}" for name in (*CAPTURED_TABLES, HEARTBEAT_TABLE, SIGNAL_TABLE))
    return f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = '{publication}') THEN
        CREATE PUBLICATION {publication} FOR TABLE {tables};
    ELSIF (
        SELECT array_agg(schemaname || '.' || tablename ORDER BY schemaname, tablename)
        FROM pg_publication_tables WHERE pubname = '{publication}'
    ) IS DISTINCT FROM (
        SELECT array_agg(t ORDER BY t) FROM unnest(string_to_array('{tables.replace(" ", "")}', ',')) AS t
    ) THEN
        ALTER PUBLICATION {publication} SET TABLE {tables};
    END IF;
END;
$$;
"""


def apply_source_schema(conn: Any, publication: str | None = None) -> None:
    """
    Create or confirm the source schema (and optionally the CDC publication) in one transaction.

    :param conn: An open DB-API connection (psycopg2) to the source database, as its owner.
    :param publication: Name of the publication to ensure, or ``None`` to leave publications alone.
    """
    with conn.cursor() as cur:
        cur.execute(schema_sql())
        if publication:
            if not publication.replace("_", "").isalnum():
                raise ValueError(f"publication name {publication!r} must be letters, digits and underscores")
            cur.execute(publication_sql(publication))
    conn.commit()
