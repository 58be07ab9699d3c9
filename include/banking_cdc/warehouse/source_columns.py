"""``bronze.source_columns``: the source catalog of the captured tables, kept in the warehouse for dbt.

The bronze load refreshes it from the source on every run (:func:`sync_source_columns`), before loading, so it
knows every column of the rows it loads (a column is added in the source before any row carries it). The
generic silver models read it when they run (``banking_dbt/macros/current_state.sql``) to type each column.

One row per column ever captured: its type and decode kind (:class:`~banking_cdc.capture.catalog.SourceColumn`),
``changed_at`` (when its row last changed: the models rebuild a table from all of bronze when its catalog moved),
``dropped_at`` (the column left the source: kept, null from then on) and ``problem`` (a narrowing or incompatible
type change: the table's model fails naming it until the type is compatible again). The same SQL runs on DuckDB
and Snowflake (``?`` placeholders, identifiers through :meth:`Warehouse.identifier`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from banking_cdc.capture.catalog import CatalogChange, SourceColumn, compare
from banking_cdc.warehouse.base import Warehouse

log = logging.getLogger(__name__)

TABLE = "source_columns"
#: the warehouse types of the catalog's columns: DuckDB, Snowflake
_TYPES = {
    "text": ("VARCHAR", "VARCHAR"),
    "int": ("INTEGER", "NUMBER(10,0)"),
    "bool": ("BOOLEAN", "BOOLEAN"),
    "time": ("TIMESTAMPTZ", "TIMESTAMP_TZ"),
}
#: (name, DuckDB type, Snowflake type) of the catalog's columns, in table order
COLUMNS: tuple[tuple[str, str, str], ...] = tuple(
    (name, *_TYPES[code])
    for group, code in (
        ("table_name column_name", "text"),
        ("ordinal", "int"),
        ("pg_type kind", "text"),
        ("precision scale", "int"),
        ("nullable", "bool"),
        ("key_position", "int"),
        ("problem", "text"),
        ("dropped_at changed_at", "time"),
    )
    for name in group.split()
)
_NAMES = [name for name, _d, _s in COLUMNS]
_TYPE_FIELDS = ("pg_type", "kind", "precision", "scale")


def _relation(warehouse: Warehouse) -> str:
    return warehouse.bronze_relation(TABLE)


def table_ddl(dialect: str, relation: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` of the catalog table in ``dialect`` (``duckdb`` or ``snowflake``)."""
    snowflake = dialect == "snowflake"
    columns = ", ".join(
        f"{name.upper() if snowflake else name} {snow if snowflake else duck}" for name, duck, snow in COLUMNS
    )
    return f"CREATE TABLE IF NOT EXISTS {relation} ({columns})"


def ensure_table(warehouse: Warehouse) -> None:
    """Create ``bronze.source_columns`` if missing."""
    warehouse.execute(table_ddl(warehouse.dialect, _relation(warehouse)))


def stored_rows(warehouse: Warehouse) -> list[dict[str, Any]]:
    """Every stored row, as dicts keyed by column name."""
    names = ", ".join(warehouse.identifier(name) for name in _NAMES)
    return warehouse.query_records(f"SELECT {names} FROM {_relation(warehouse)}")


def _number(value: Any) -> int | None:
    return None if value is None else int(value)


def _column(row: dict[str, Any]) -> SourceColumn:
    return SourceColumn(
        row["table_name"], row["column_name"], int(row["ordinal"]), row["pg_type"], row["kind"],
        _number(row["precision"]), _number(row["scale"]), bool(row["nullable"]), _number(row["key_position"]),
    )  # fmt: skip


def next_rows(
    stored: Sequence[dict[str, Any]], current: Sequence[SourceColumn], now: datetime
) -> tuple[dict[str, list[dict[str, Any]]], list[CatalogChange]]:
    """
    The rows of every table whose catalog changed, and the schema changes (pure: tested without a warehouse).

    :param stored: The stored rows.
    :param current: The source's columns (tables absent from the source are left as they are).
    :param now: The time written as ``changed_at`` / ``dropped_at``.
    :return: ``{table: its complete new rows}`` for the tables to rewrite, and the changes to report.
    """
    active = [_column(row) for row in stored if row["dropped_at"] is None]
    changes = compare(active, current)
    by_change = {(c.table, c.column): c for c in changes}
    old = {(row["table_name"], row["column_name"]): row for row in stored}
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in sorted({column.table for column in current}):
        rows = []
        for column in (c for c in current if c.table == table):
            previous = old.get((table, column.name))
            change = by_change.get((table, column.name))
            row = {
                "table_name": table, "column_name": column.name, "ordinal": column.ordinal, "pg_type": column.pg_type,
                "kind": column.kind, "precision": column.precision, "scale": column.scale,
                "nullable": column.nullable, "key_position": column.key_position, "problem": None,
                "dropped_at": None, "changed_at": now,
            }  # fmt: skip
            if previous is not None and previous["dropped_at"] is None:
                row["changed_at"] = previous["changed_at"]
                if change is not None and change.change == "narrowed":
                    # keep the wider stored type; the model fails naming the problem until it is compatible again
                    row.update({field: previous[field] for field in _TYPE_FIELDS})
                    row["problem"] = str(change)
                    if previous["problem"] != row["problem"]:
                        row["changed_at"] = now
                elif change is not None or previous["problem"] is not None:
                    row["changed_at"] = now
            rows.append(row)
        names = {row["column_name"] for row in rows}
        for previous in (row for row in stored if row["table_name"] == table and row["column_name"] not in names):
            dropped = dict(previous)
            if dropped["dropped_at"] is None:
                dropped["dropped_at"] = dropped["changed_at"] = now
            rows.append(dropped)
        before = sorted((r for r in stored if r["table_name"] == table), key=lambda r: r["column_name"])
        if _comparable(before) != _comparable(sorted(rows, key=lambda r: r["column_name"])):
            tables[table] = rows
    return tables, changes


def _comparable(rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(row[name] for name in _NAMES if name not in ("changed_at", "dropped_at")) for row in rows]


def sync_source_columns(warehouse: Warehouse, current: Sequence[SourceColumn], now: datetime) -> list[CatalogChange]:
    """
    Make ``bronze.source_columns`` follow the source; return the schema changes (logged as warnings).

    :param warehouse: An open (writable) warehouse.
    :param current: The source's columns of the captured tables (:func:`~banking_cdc.capture.catalog.read_catalog`).
    :param now: The time of this observation.
    """
    ensure_table(warehouse)
    tables, changes = next_rows(stored_rows(warehouse), current, now)
    timestamp = "CAST(? AS TIMESTAMP_TZ)" if warehouse.dialect == "snowflake" else "CAST(? AS TIMESTAMPTZ)"
    placeholders = ", ".join(timestamp if name in ("dropped_at", "changed_at") else "?" for name in _NAMES)
    names = ", ".join(warehouse.identifier(name) for name in _NAMES)
    for table, rows in tables.items():
        warehouse.execute(f"DELETE FROM {_relation(warehouse)} WHERE {warehouse.identifier('table_name')} = ?", [table])
        for row in rows:
            values = [row[name].isoformat() if isinstance(row[name], datetime) else row[name] for name in _NAMES]
            warehouse.execute(f"INSERT INTO {_relation(warehouse)} ({names}) VALUES ({placeholders})", values)
    for change in changes:
        log.warning("Schema change in the source: %s", change)
    return changes
