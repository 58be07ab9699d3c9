"""The warehouse seam: what every warehouse offers the pipeline, and the load ledger they share.

A :class:`Warehouse` sets up bronze, loads landing files (each file's rows and its ledger row in one
transaction, files already in the ledger skipped), reads the ledger, counts bronze rows and answers read-only
queries for monitoring, resync and reconciliation. :class:`~banking_cdc.warehouse.duckdb.DuckDBWarehouse`
and :class:`~banking_cdc.warehouse.snowflake.SnowflakeWarehouse` implement it;
:func:`banking_cdc.warehouse.switch.open_warehouse` opens the one the switch names. Callers never branch on
the backend: what differs (DDL, how a file reaches the table, SQL dialect) lives behind this interface.

The load ledger has one schema on both warehouses (:data:`LEDGER_COLUMNS`): one row per landing file in
bronze with its bronze table, offset range, rows in the file, rows it added, when, and a JSON detail (Snowflake:
the COPY result of the file; DuckDB: null).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.warehouse.bronze import BRONZE_SCHEMA, LEDGER_TABLE, LandingFile

#: the load ledger's columns on both warehouses: (name, DuckDB type, Snowflake type)
LEDGER_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("file_key", "VARCHAR", "VARCHAR"),
    ("bronze_table", "VARCHAR", "VARCHAR"),
    ("rows_in_file", "BIGINT", "NUMBER(19,0)"),
    ("rows_loaded", "BIGINT", "NUMBER(19,0)"),
    ("first_offset", "BIGINT", "NUMBER(19,0)"),
    ("last_offset", "BIGINT", "NUMBER(19,0)"),
    ("loaded_at", "TIMESTAMPTZ", "TIMESTAMP_TZ"),
    ("load_detail", "JSON", "VARIANT"),
)
#: ledger columns that may be null (every other one is NOT NULL)
LEDGER_NULLABLE = frozenset({"load_detail"})
#: the ledger columns a :class:`LedgerRow` holds, in table order (all but the detail)
LEDGER_ROW_COLUMNS: tuple[str, ...] = tuple(name for name, _d, _s in LEDGER_COLUMNS if name != "load_detail")


def ledger_ddl(dialect: str, *, schema: str = BRONZE_SCHEMA) -> str:
    """
    ``CREATE TABLE IF NOT EXISTS`` of the load ledger, keyed by ``file_key``.

    :param dialect: ``duckdb`` or ``snowflake`` (column types and case).
    :param schema: Qualified bronze schema.
    """
    snowflake = dialect == "snowflake"
    columns = []
    for name, duck, snow in LEDGER_COLUMNS:
        nullable = "" if name in LEDGER_NULLABLE else " NOT NULL"
        columns.append(f"    {name.upper() if snowflake else name} {snow if snowflake else duck}{nullable},")
    table = LEDGER_TABLE.upper() if snowflake else LEDGER_TABLE
    key = f"    CONSTRAINT {table}_PK PRIMARY KEY (FILE_KEY)" if snowflake else "    PRIMARY KEY (file_key)"
    return f"CREATE TABLE IF NOT EXISTS {schema}.{table} (\n" + "\n".join(columns) + f"\n{key}\n)"


@dataclass(frozen=True)
class LedgerRow:
    """
    One row of the load ledger: a landing file whose rows are in bronze.

    :param file_key: Object key of the landing file.
    :param bronze_table: Bronze table (unqualified, lower case).
    :param first_offset: First Kafka offset of the file's range.
    :param last_offset: Last Kafka offset of the file's range.
    :param rows_in_file: Rows in the file.
    :param rows_loaded: Rows the file added to bronze (fewer when a replayed range was already there).
    :param loaded_at: When it was loaded.
    """

    file_key: str
    bronze_table: str
    first_offset: int
    last_offset: int
    rows_in_file: int
    rows_loaded: int
    loaded_at: datetime | None = None

    @property
    def landing(self) -> LandingFile:
        """The file's topic and partition, parsed from its key."""
        return LandingFile.parse(self.file_key)


@dataclass
class LoadReport:
    """
    What one load did, the same shape on every warehouse (also the operators' return value, :meth:`manifest`).

    :param backend: ``duckdb`` or ``snowflake``.
    :param loaded: One entry per file now in bronze and the ledger: ``key``, ``table``, ``rows_in_file``,
        ``rows_loaded`` and ``already_loaded`` (its rows were already in bronze: Snowflake's load metadata
        skipped it, or a replay found every row).
    :param skipped: Files the ledger already listed: not loaded again.
    :param failures: One message per file that failed (the others are loaded).
    :param statements: Load statements sent (Snowflake COPY INTO; DuckDB: one INSERT per file).
    :param bronze_rows: Row count of each bronze table after the load.
    """

    backend: str
    loaded: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    statements: int = 0
    bronze_rows: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def files_loaded(self) -> list[str]:
        """Files whose rows this run inserted."""
        return [f["key"] for f in self.loaded if not f["already_loaded"]]

    @property
    def files_already_loaded(self) -> list[str]:
        """Files found already in bronze (recorded in the ledger now)."""
        return [f["key"] for f in self.loaded if f["already_loaded"]]

    @property
    def rows_loaded(self) -> int:
        """Rows inserted by this run."""
        return sum(int(f["rows_loaded"]) for f in self.loaded if not f["already_loaded"])

    def manifest(self) -> dict[str, Any]:
        """JSON-safe summary: the operators' return value and the source of the Asset event's extra."""
        return {
            "backend": self.backend,
            "loaded": self.loaded,
            "files_loaded": len(self.files_loaded),
            "files_already_loaded": len(self.files_already_loaded),
            "files_skipped": len(self.skipped),
            "rows_loaded": self.rows_loaded,
            "rows_in_files": sum(int(f.get("rows_in_file", f["rows_loaded"])) for f in self.loaded),
            "bronze_rows": self.bronze_rows,
            "copy_statements": self.statements,
            "seconds": round(time.monotonic() - self.started, 3),
        }


class Warehouse(ABC):
    """
    One warehouse behind the seam. Use as a context manager; :meth:`close` releases the connection.

    Loads: the caller names the landing files (object keys, already checked to parse); the warehouse skips
    those in the ledger, loads each remaining file together with its ledger row in one transaction, and
    reports failures per file without stopping the others.
    """

    #: ``duckdb`` or ``snowflake``
    backend: ClassVar[str]

    @abstractmethod
    def setup(self, capture: CaptureConfig) -> None:
        """Create the schemas, bronze tables and ledger if missing (idempotent)."""

    @abstractmethod
    def load(self, files: Sequence[LandingFile], capture: CaptureConfig) -> LoadReport:
        """Load ``files`` (in bronze-table order) that the ledger does not hold; failures are reported per file."""

    def ledger(
        self, *, key_prefix: str | None = None, bronze_table: str | None = None, last_offset_from: int | None = None
    ) -> list[LedgerRow]:
        """
        Ledger rows, optionally filtered.

        :param key_prefix: Only files whose key starts with it (a topic's folder).
        :param bronze_table: Only files loaded into this bronze table.
        :param last_offset_from: Only files whose range ends at or after this offset.
        """
        names = ", ".join(self.identifier(name) for name in LEDGER_ROW_COLUMNS)
        sql, params = ledger_select(
            f"SELECT {names} FROM {self.bronze_relation(LEDGER_TABLE)}", key_prefix, bronze_table, last_offset_from
        )
        return [ledger_row(dict(zip(LEDGER_ROW_COLUMNS, row, strict=True))) for row in self.query(sql, params)]

    def identifier(self, name: str) -> str:
        """A (lower-case) table or column name as the warehouse's SQL spells it; Snowflake: upper case."""
        return name

    @abstractmethod
    def bronze_relation(self, table: str) -> str:
        """The qualified name of a bronze table (or the ledger), for the SQL callers pass to :meth:`query`."""

    @abstractmethod
    def rows_loaded_between(self, start: datetime, end: datetime) -> dict[str, int]:
        """Rows the ledger recorded per bronze table with ``start < loaded_at <= end``."""

    @abstractmethod
    def bronze_rows(self, tables: Iterable[str]) -> dict[str, int]:
        """Row count of each bronze table."""

    @abstractmethod
    def newest_built_ms(self, schema: str, table: str) -> int | None:
        """
        ``max(_built_at)`` of a dbt-built table in epoch milliseconds, ``None`` when it is empty.

        :raises MissingRelationError: the table does not exist.
        """

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read-only query in the warehouse's own dialect, ``?`` placeholders; rows as tuples."""

    @abstractmethod
    def query_records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Like :meth:`query`, each row as a dict keyed by its lower-case column names."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """A statement that writes (DDL, DML; ``?`` placeholders), committed; the warehouse must be writable."""
        self.query(sql, params)

    #: the warehouse's SQL dialect (``duckdb`` or ``snowflake``), for callers writing SQL of their own
    @property
    def dialect(self) -> str:
        """The SQL dialect of :meth:`query` (the backend's name)."""
        return self.backend

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def ledger_keys(self, key_prefix: str | None = None) -> set[str]:
        """The keys of the ledger (under ``key_prefix``)."""
        return {row.file_key for row in self.ledger(key_prefix=key_prefix)}

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class MissingRelationError(LookupError):
    """A table or view the caller asked for does not exist in the warehouse."""


def files_by_table(capture: CaptureConfig, files: Sequence[LandingFile]) -> dict[str, list[LandingFile]]:
    """Group files by bronze table, in ``capture.yaml`` table order (files keep their order within a table)."""
    from banking_cdc.warehouse.bronze import bronze_table_for_topic

    grouped: dict[str, list[LandingFile]] = {table: [] for table in capture.source.tables}
    for landing in files:
        grouped[bronze_table_for_topic(capture, landing.topic)].append(landing)
    return {table: group for table, group in grouped.items() if group}


def ledger_row(values: Mapping[str, Any]) -> LedgerRow:
    """A :class:`LedgerRow` from a mapping of (case-insensitive) ledger column names."""
    lower = {str(k).lower(): v for k, v in values.items()}
    return LedgerRow(
        file_key=str(lower["file_key"]),
        bronze_table=str(lower["bronze_table"]).lower(),
        first_offset=int(lower["first_offset"]),
        last_offset=int(lower["last_offset"]),
        rows_in_file=int(lower["rows_in_file"]),
        rows_loaded=int(lower["rows_loaded"]),
        loaded_at=lower.get("loaded_at"),
    )


def ledger_select(
    select: str, key_prefix: str | None, bronze_table: str | None, last_offset_from: int | None
) -> tuple[str, list[Any]]:
    """``select`` with the ledger filters of :meth:`Warehouse.ledger` as portable SQL (``?`` placeholders)."""
    conditions: list[str] = []
    params: list[Any] = []
    if key_prefix is not None:
        conditions.append("LEFT(file_key, ?) = ?")
        params += [len(key_prefix), key_prefix]
    if bronze_table is not None:
        conditions.append("LOWER(bronze_table) = ?")
        params.append(bronze_table.lower())
    if last_offset_from is not None:
        conditions.append("last_offset >= ?")
        params.append(last_offset_from)
    return (select + (" WHERE " + " AND ".join(conditions) if conditions else ""), params)
