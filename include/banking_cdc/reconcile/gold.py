"""Read the warehouse's gold layer (and the bronze facts the SCD2 and grace rules need), on either warehouse.

:class:`WarehouseGoldReader` reads through the warehouse seam (:func:`banking_cdc.warehouse.switch.open_warehouse`):
the same queries on DuckDB and Snowflake except a few spellings, chosen by the warehouse's dialect
(:class:`Dialect`: JSON paths, a filtered count, the value at the newest row).

DuckDB allows one process at a time: an Airflow task running this must use the one-slot pool
``duckdb_writer`` (:data:`banking_cdc.settings.DUCKDB_POOL`). The file is opened read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from banking_cdc.exceptions import BankingCdcError
from banking_cdc.reconcile.snapshot import GoldSnapshot, GoldTable, KeyVersions, normalise
from banking_cdc.reconcile.spec import TABLES, TableSpec
from banking_cdc.settings import DUCKDB_CONN_ID, SNOWFLAKE_CONN_ID
from banking_cdc.warehouse.switch import WarehouseChoice

if TYPE_CHECKING:
    from banking_cdc.warehouse.base import Warehouse


class ReconcileSourceError(BankingCdcError):
    """A database could not be read (connection, missing table); the message names it."""


class ReconcileUnsupportedError(BankingCdcError):
    """The warehouse backend named has no reconciliation reader."""


class GoldReader(Protocol):
    """Reads one warehouse backend's gold layer into a :class:`GoldSnapshot`."""

    #: backend name for the report
    backend: str

    def read(self) -> GoldSnapshot:
        """Read gold (and bronze facts); raise :class:`ReconcileSourceError` naming what is missing."""
        ...


@dataclass(frozen=True)
class Dialect:
    """
    The spellings that differ between the warehouses' SQL.

    :param name: ``duckdb`` or ``snowflake``.
    :param bronze_schema: Schema of the bronze tables (qualified on Snowflake when the loader's is).
    """

    name: str = "duckdb"
    bronze_schema: str = "bronze"

    def json_text(self, expression: str, field: str) -> str:
        """A JSON (DuckDB) / VARIANT (Snowflake) field as text."""
        if self.name == "snowflake":
            return f"{expression}:{field}::VARCHAR"
        return f"{expression} ->> '{field}'"

    def count_if(self, condition: str) -> str:
        """The number of rows of a group where ``condition`` holds."""
        return f"COUNT_IF({condition})" if self.name == "snowflake" else f"count(*) FILTER (WHERE {condition})"

    def value_at_max(self, value: str, order: str) -> str:
        """``value`` of the row of a group with the largest ``order``."""
        return f"MAX_BY({value}, {order})" if self.name == "snowflake" else f"arg_max({value}, {order})"


DUCKDB = Dialect()


def tracked_changes_sql(spec: TableSpec, dialect: Dialect = DUCKDB) -> str:
    """
    Per key, the tracked changes in bronze (consecutive distinct tracked states in commit order).

    Same rules as the staging models: tombstones and truncates ignored; a delete's state is its
    before-image with the delete flag; events ordered by (source LSN, Kafka offset), so duplicates from
    at-least-once delivery change nothing.
    """
    image = "CASE WHEN op = 'd' THEN before_json ELSE after_json END"
    parts = ", ".join(f"coalesce({dialect.json_text('image', column)}, '~null~')" for column in spec.tracked)
    return f"""
        WITH events AS (
            SELECT {image} AS image, op, source_lsn, kafka_offset
            FROM {dialect.bronze_schema}.{spec.table}
            WHERE NOT is_tombstone AND op IN ('c', 'u', 'd', 'r')
        ),
        states AS (
            SELECT
                CAST({dialect.json_text("image", spec.key)} AS BIGINT) AS key,
                md5(concat_ws('|', {parts}, CAST(op = 'd' AS VARCHAR))) AS state,
                source_lsn,
                kafka_offset
            FROM events
        ),
        flagged AS (
            SELECT key, state, lag(state) OVER (PARTITION BY key ORDER BY source_lsn, kafka_offset) AS previous
            FROM states
        )
        SELECT key, {dialect.count_if("previous IS NULL OR previous <> state")} AS changes
        FROM flagged
        GROUP BY key
    """


def deletes_sql(spec: TableSpec, dialect: Dialect = DUCKDB) -> str:
    """Per key, the commit time (epoch ms) of its newest delete event in bronze."""
    return f"""
        SELECT CAST({dialect.json_text("before_json", spec.key)} AS BIGINT) AS key, max(source_ts_ms) AS deleted_ms
        FROM {dialect.bronze_schema}.{spec.table}
        WHERE op = 'd' AND NOT is_tombstone
        GROUP BY 1
    """


class WarehouseGoldReader(WarehouseChoice):
    """
    Gold of the warehouse the switch names (or ``backend``), read through the warehouse seam.

    :param backend: ``duckdb`` or ``snowflake``; ``None`` follows the warehouse switch (resolved here).
    :param connections: ``duckdb_conn_id`` / ``snowflake_conn_id``, as for
        :class:`~banking_cdc.warehouse.switch.WarehouseChoice`.
    """

    def __init__(self, backend: str | None = None, **connections: str) -> None:
        super().__init__(warehouse_backend=backend, **connections)
        self.backend: str = self.resolve_backend()

    def read(self) -> GoldSnapshot:
        if self.backend == "duckdb":
            from banking_cdc.hooks.duckdb import DuckDBHook

            path = DuckDBHook(duckdb_conn_id=self.duckdb_conn_id).database_path
            if not path.exists():
                raise ReconcileSourceError(
                    f"DuckDB warehouse {path} (connection {self.duckdb_conn_id!r}) does not exist"
                )
        try:
            warehouse = self.open_warehouse(self.backend)
        except Exception as exc:
            raise ReconcileSourceError(
                f"cannot open the {self.backend} warehouse read-only: {exc} (DuckDB: another process holds it? "
                "tasks that open it share the pool duckdb_writer)"
            ) from exc
        with warehouse:
            return read_gold(warehouse)


def read_gold(warehouse: Warehouse) -> GoldSnapshot:
    """
    Read gold from an open warehouse (read-only is enough).

    :param warehouse: The warehouse, behind the seam; its dialect picks the SQL spellings.
    """
    from banking_cdc.warehouse.base import MissingRelationError

    dialect = Dialect(warehouse.dialect, warehouse.bronze_relation("x").rsplit(".", 1)[0])

    def rows(sql: str) -> list[dict[str, Any]]:
        try:
            records = warehouse.query_records(sql)
        except MissingRelationError as exc:
            raise ReconcileSourceError(
                f"{warehouse.backend}: {exc} (has banking_dbt built gold? run banking_dbt_transform)"
            ) from exc
        return [{name: normalise(value) for name, value in record.items()} for record in records]

    tables: dict[str, GoldTable] = {}
    for spec in TABLES:
        table = GoldTable()
        columns = ", ".join(spec.compared)
        if spec.is_dimension:
            for row in rows(f"SELECT {spec.key} AS key, {columns} FROM gold.{spec.gold_table} WHERE is_current"):
                table.current.setdefault(row.pop("key"), []).append(row)
            for row in rows(
                f"SELECT {spec.key} AS key, count(*) AS versions, {dialect.count_if('is_current')} AS current_rows, "
                f"{dialect.value_at_max('is_deleted', 'valid_from')} AS last_is_deleted "
                f"FROM gold.{spec.gold_table} GROUP BY 1"
            ):
                table.versions[row["key"]] = KeyVersions(
                    versions=row["versions"], current_rows=row["current_rows"], last_is_deleted=row["last_is_deleted"]
                )
                if not row["current_rows"]:
                    table.closed.add(row["key"])
            for row in rows(tracked_changes_sql(spec, dialect)):
                table.tracked_changes[row["key"]] = row["changes"]
        else:
            for row in rows(f"SELECT {spec.key} AS key, is_deleted, {columns} FROM gold.{spec.gold_table}"):
                key = row.pop("key")
                if row.pop("is_deleted"):
                    table.closed.add(key)
                else:
                    table.current.setdefault(key, []).append(row)
        for row in rows(deletes_sql(spec, dialect)):
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


def gold_reader(
    backend: str, duckdb_conn_id: str = DUCKDB_CONN_ID, snowflake_conn_id: str = SNOWFLAKE_CONN_ID
) -> GoldReader:
    """
    The gold reader of a warehouse backend (both read through the warehouse seam).

    :param backend: ``duckdb`` or ``snowflake`` (see :func:`banking_cdc.warehouse.switch.warehouse_backend`).
    :param duckdb_conn_id: Connection of the DuckDB warehouse.
    :param snowflake_conn_id: Connection of the Snowflake warehouse.
    :raises ReconcileUnsupportedError: naming an unknown backend.
    """
    from banking_cdc.warehouse.switch import WarehouseConfigError

    try:
        return WarehouseGoldReader(backend, duckdb_conn_id=duckdb_conn_id, snowflake_conn_id=snowflake_conn_id)
    except WarehouseConfigError as exc:
        raise ReconcileUnsupportedError(f"unknown warehouse backend {backend!r}: {exc}") from exc
