"""Read the warehouse's gold layer (and the bronze facts the SCD2 and grace rules need).

Warehouse access sits behind :class:`GoldReader`, one implementation per backend: DuckDB (the embedded
default) today; for Snowflake :func:`gold_reader` raises :class:`ReconcileUnsupportedError` until its reader
is written (the queries are plain SQL except the JSON paths and the hash: Snowflake's ``:`` paths, ``MD5``).

DuckDB allows one process at a time: an Airflow task running this must use the one-slot pool
``duckdb_writer`` (:data:`banking_cdc.transform.dbt_project.DUCKDB_POOL`). The file is opened read-only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from banking_cdc.exceptions import BankingCdcError
from banking_cdc.reconcile.snapshot import GoldSnapshot, GoldTable, KeyVersions, normalise
from banking_cdc.reconcile.spec import TABLES, TableSpec


class ReconcileSourceError(BankingCdcError):
    """A database could not be read (connection, missing table); the message names it."""


class ReconcileUnsupportedError(BankingCdcError):
    """The configured warehouse backend has no reconciliation reader yet."""


class GoldReader(Protocol):
    """Reads one warehouse backend's gold layer into a :class:`GoldSnapshot`."""

    #: backend name for the report
    backend: str

    def read(self) -> GoldSnapshot:
        """Read gold (and bronze facts); raise :class:`ReconcileSourceError` naming what is missing."""
        ...


def tracked_changes_sql(spec: TableSpec) -> str:
    """
    DuckDB SQL: per key, the tracked changes in bronze (consecutive distinct tracked states in commit order).

    Same rules as the staging models: tombstones and truncates ignored; a delete's state is its
    before-image with the delete flag; events ordered by (source LSN, Kafka offset), so duplicates from
    at-least-once delivery change nothing.
    """
    image = "CASE WHEN op = 'd' THEN before_json ELSE after_json END"
    parts = ", ".join(f"coalesce(image ->> '{column}', '~null~')" for column in spec.tracked)
    return f"""
        WITH events AS (
            SELECT {image} AS image, op, source_lsn, kafka_offset
            FROM bronze.{spec.table}
            WHERE NOT is_tombstone AND op IN ('c', 'u', 'd', 'r')
        ),
        states AS (
            SELECT
                CAST(image ->> '{spec.key}' AS BIGINT) AS key,
                md5(concat_ws('|', {parts}, CAST(op = 'd' AS VARCHAR))) AS state,
                source_lsn,
                kafka_offset
            FROM events
        ),
        flagged AS (
            SELECT key, state, lag(state) OVER (PARTITION BY key ORDER BY source_lsn, kafka_offset) AS previous
            FROM states
        )
        SELECT key, count(*) FILTER (WHERE previous IS NULL OR previous <> state) AS changes
        FROM flagged
        GROUP BY key
    """


def deletes_sql(spec: TableSpec) -> str:
    """DuckDB SQL: per key, the commit time (epoch ms) of its newest delete event in bronze."""
    return f"""
        SELECT CAST(before_json ->> '{spec.key}' AS BIGINT) AS key, max(source_ts_ms) AS deleted_ms
        FROM bronze.{spec.table}
        WHERE op = 'd' AND NOT is_tombstone
        GROUP BY 1
    """


class DuckDBGoldReader:
    """
    Gold of the embedded DuckDB warehouse, through :class:`~banking_cdc.hooks.duckdb.DuckDBHook`.

    :param duckdb_conn_id: Airflow connection whose ``host`` is the database file.
    """

    backend = "duckdb"

    def __init__(self, duckdb_conn_id: str = "duckdb_default") -> None:
        self.duckdb_conn_id = duckdb_conn_id

    def read(self) -> GoldSnapshot:
        import duckdb

        from banking_cdc.hooks.duckdb import DuckDBHook

        hook = DuckDBHook(duckdb_conn_id=self.duckdb_conn_id)
        path = hook.database_path
        if not path.exists():
            raise ReconcileSourceError(f"DuckDB warehouse {path} (connection {self.duckdb_conn_id!r}) does not exist")
        try:
            conn = hook.get_conn(read_only=True)
        except duckdb.Error as exc:
            raise ReconcileSourceError(
                f"cannot open DuckDB warehouse {path} read-only: {exc} (another process holds it? tasks that open "
                "it share the pool duckdb_writer)"
            ) from exc
        try:
            return read_duckdb_gold(conn, path=str(path))
        finally:
            conn.close()


def read_duckdb_gold(conn: Any, path: str = "DuckDB") -> GoldSnapshot:
    """
    Read gold from an open DuckDB connection.

    :param conn: A ``duckdb`` connection (read-only is enough).
    :param path: Where the database lives, for error messages.
    """
    import duckdb

    def rows(sql: str) -> list[dict[str, Any]]:
        try:
            cursor = conn.execute(sql)
        except duckdb.CatalogException as exc:
            raise ReconcileSourceError(
                f"{path}: {str(exc).splitlines()[0]} (has banking_dbt built gold? run banking_dbt_transform)"
            ) from exc
        names = [d[0] for d in cursor.description]
        return [{n: normalise(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]

    tables: dict[str, GoldTable] = {}
    for spec in TABLES:
        table = GoldTable()
        columns = ", ".join(spec.compared)
        if spec.is_dimension:
            for row in rows(f"SELECT {spec.key} AS key, {columns} FROM gold.{spec.gold_table} WHERE is_current"):
                table.current.setdefault(row.pop("key"), []).append(row)
            for row in rows(
                f"SELECT {spec.key} AS key, count(*) AS versions, count(*) FILTER (WHERE is_current) AS current_rows, "
                f"arg_max(is_deleted, valid_from) AS last_is_deleted FROM gold.{spec.gold_table} GROUP BY 1"
            ):
                table.versions[row["key"]] = KeyVersions(
                    versions=row["versions"], current_rows=row["current_rows"], last_is_deleted=row["last_is_deleted"]
                )
                if not row["current_rows"]:
                    table.closed.add(row["key"])
            for row in rows(tracked_changes_sql(spec)):
                table.tracked_changes[row["key"]] = row["changes"]
        else:
            for row in rows(f"SELECT {spec.key} AS key, is_deleted, {columns} FROM gold.{spec.gold_table}"):
                key = row.pop("key")
                if row.pop("is_deleted"):
                    table.closed.add(key)
                else:
                    table.current.setdefault(key, []).append(row)
        for row in rows(deletes_sql(spec)):
            table.deleted_at[row["key"]] = datetime.fromtimestamp(row["deleted_ms"] / 1000, tz=UTC)
        tables[spec.table] = table
    balances = {
        row["account_id"]: row["closing_balance"]
        for row in rows(
            "SELECT account_id, closing_balance FROM gold.fct_daily_account_balances "
            "QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY balance_date DESC) = 1"
        )
    }
    activity = {
        (row.pop("activity_date"), row.pop("txn_type")): row
        for row in rows(
            "SELECT activity_date, txn_type, transaction_count, posted_count, pending_count, cancelled_count, "
            "posted_amount, posted_net_amount, active_accounts FROM gold.fct_daily_activity"
        )
    }
    return GoldSnapshot(tables=tables, balances=balances, activity=activity)


#: why a Snowflake warehouse cannot be reconciled yet
SNOWFLAKE_UNSUPPORTED = (
    "reconciliation of a Snowflake warehouse is not supported yet (warehouse_backend='snowflake'); only DuckDB has "
    "a gold reader (banking_cdc.reconcile.gold: add a GoldReader with Snowflake's JSON paths and MD5)"
)


def gold_reader(
    backend: str, duckdb_conn_id: str = "duckdb_default", snowflake_conn_id: str = "snowflake_default"
) -> GoldReader:
    """
    The gold reader of a warehouse backend.

    :param backend: ``duckdb`` or ``snowflake`` (see :func:`banking_cdc.warehouse.switch.warehouse_backend`).
    :param duckdb_conn_id: Connection of the DuckDB warehouse.
    :param snowflake_conn_id: Connection of the Snowflake warehouse (for its reader, not written yet).
    """
    if backend == "duckdb":
        return DuckDBGoldReader(duckdb_conn_id)
    if backend == "snowflake":  # fail before anything is read
        raise ReconcileUnsupportedError(SNOWFLAKE_UNSUPPORTED)
    raise ReconcileUnsupportedError(f"unknown warehouse backend {backend!r}")
