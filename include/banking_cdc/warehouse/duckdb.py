"""The embedded DuckDB warehouse behind the seam: bronze DDL, per-file loads with the ledger, reads.

Each landing file is read through the object store client and pyarrow (no DuckDB extension is downloaded at
run time) and inserted in its own transaction together with its ledger row, so a file is either fully in
bronze and in the ledger, or in neither. (topic, partition, offset) is unique in bronze without an index:
every file's rows are checked against its key (:mod:`banking_cdc.warehouse.coordinates`), a file whose range
overlaps no loaded range is appended as it is, and an overlapping file (a replayed range under another name)
goes through an anti-join on the bronze rows of its range. This replaces a primary-key index, which cost more
than the insert itself; the loader is the only writer (one-slot pool ``duckdb_writer``). Tables created by the
earlier DDL keep their primary key and load the same way, only slower. The next file is downloaded and
decoded in a background thread while the current one is inserted.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.settings import DUCKDB_CONN_ID
from banking_cdc.stage.listing import LandingBucket
from banking_cdc.warehouse.base import LEDGER_ROW_COLUMNS, LoadReport, MissingRelationError, Warehouse, ledger_ddl
from banking_cdc.warehouse.bronze import (
    BRONZE_COLUMNS,
    BRONZE_SCHEMA,
    LANDING_COLUMNS,
    LEDGER_TABLE,
    PAYLOAD_COLUMNS,
    TABLE_COLUMNS,
    BronzeError,
    LandingFile,
    bronze_table_for_topic,
)
from banking_cdc.warehouse.coordinates import COORDINATES, LoadedRanges, coordinates_problem

log = logging.getLogger(__name__)

#: columns stored with ZSTD instead of DuckDB's automatic choice: the wide JSON row images (and the
#: per-row unique message key), whose dictionary/FSST analysis at each checkpoint cost more than the
#: insert itself; ZSTD is also several times smaller on disk (docs/BENCHMARKS.md, bronze profile)
ZSTD_COLUMNS = frozenset({"kafka_key", *(name for name, _, _ in PAYLOAD_COLUMNS)})
_LEDGER_NAMES = ", ".join(LEDGER_ROW_COLUMNS)


def duckdb_bronze_ddl(capture: CaptureConfig) -> list[str]:
    """Return the idempotent DDL of the DuckDB warehouse: schemas, bronze tables, load ledger."""
    statements = [f"CREATE SCHEMA IF NOT EXISTS {name}" for name in (BRONZE_SCHEMA, "silver", "gold")]
    statements.extend(_bronze_table_ddl(table) for table in capture.source.tables)
    statements.append(ledger_ddl("duckdb"))
    # ledgers created before the seam lack the detail column (nullable; the other columns are the same)
    statements.append(f"ALTER TABLE {BRONZE_SCHEMA}.{LEDGER_TABLE} ADD COLUMN IF NOT EXISTS load_detail JSON")
    return statements


def _bronze_table_ddl(table: str, name: str | None = None) -> str:
    columns = ",\n    ".join(
        f"{column} {duck}{' NOT NULL' if column in COORDINATES else ''}"
        f"{' USING COMPRESSION zstd' if column in ZSTD_COLUMNS else ''}"
        for column, duck, _ in TABLE_COLUMNS
    )
    # no PRIMARY KEY index: the loader keeps (topic, partition, offset) unique (module docstring)
    return f"CREATE TABLE IF NOT EXISTS {BRONZE_SCHEMA}.{name or table} (\n    {columns}\n)"


def ensure_duckdb_bronze(conn: Any, capture: CaptureConfig) -> None:
    """Create the schemas, bronze tables and ledger if missing."""
    for statement in duckdb_bronze_ddl(capture):
        conn.execute(statement)


def legacy_keyed_tables(conn: Any, capture: CaptureConfig) -> list[str]:
    """Bronze tables created by the earlier DDL, with a primary key on the Kafka coordinates."""
    keyed = {
        row[0]
        for row in conn.execute(
            "SELECT table_name FROM duckdb_constraints() WHERE schema_name = ? AND constraint_type = 'PRIMARY KEY'",
            [BRONZE_SCHEMA],
        ).fetchall()
    }
    return [table for table in capture.source.tables if table in keyed]


def rebuild_keyed_bronze_tables(conn: Any, capture: CaptureConfig) -> list[str]:
    """
    Rebuild the bronze tables of the earlier DDL with the current one (no primary key, ZSTD row images).

    One transaction per table: copy the rows into a table of the current DDL, drop the old one, rename.
    Not run by the pipeline: run it once with nothing writing the warehouse (docs/ARCHITECTURE.md, Bronze);
    it copies every row, so it takes about as long as loading them did. Returns the rebuilt tables.
    """
    rebuilt = []
    for table in legacy_keyed_tables(conn, capture):
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(_bronze_table_ddl(table, name=f"{table}__rebuild"))
            conn.execute(
                f"INSERT INTO {BRONZE_SCHEMA}.{table}__rebuild ({_INSERT_COLUMNS}) "
                f"SELECT {_INSERT_COLUMNS} FROM {BRONZE_SCHEMA}.{table}"
            )
            conn.execute(f"DROP TABLE {BRONZE_SCHEMA}.{table}")
            conn.execute(f"ALTER TABLE {BRONZE_SCHEMA}.{table}__rebuild RENAME TO {table}")
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        rebuilt.append(table)
    return rebuilt


_INSERT_COLUMNS = ", ".join(name for name, _, _ in TABLE_COLUMNS)
_SELECT_LIST = ", ".join(
    [name for name, _, _ in BRONZE_COLUMNS]
    + [f"CAST({name} AS JSON)" for name, _, _ in PAYLOAD_COLUMNS]  # validates: invalid JSON fails the file
    + ["$source_file", "now()"]
)


def _insert_sql(table: str, overlapping: bool) -> str:
    sql = f"INSERT INTO {BRONZE_SCHEMA}.{table} ({_INSERT_COLUMNS}) SELECT {_SELECT_LIST} FROM landing_file"
    if overlapping:  # only the offsets of this file's range that bronze does not hold yet
        sql += (
            f" WHERE kafka_offset NOT IN (SELECT kafka_offset FROM {BRONZE_SCHEMA}.{table}"
            " WHERE kafka_topic = $topic AND kafka_partition = $partition"
            " AND kafka_offset BETWEEN $first_offset AND $last_offset)"
        )
    return sql


@dataclass
class _Fetched:
    landing: LandingFile
    table: str
    arrow: Any  # pyarrow.Table


class DuckDBWarehouse(Warehouse):
    """
    The DuckDB warehouse file, through :class:`~banking_cdc.hooks.duckdb.DuckDBHook`.

    DuckDB allows one process at a time: Airflow tasks that open it share the one-slot pool ``duckdb_writer``.

    :param duckdb_conn_id: Airflow connection whose ``host`` is the database file.
    :param read_only: Open the file read-only (readers: monitoring, resync, reconciliation).
    :param landing: The landing bucket, needed by :meth:`load` (DuckDB reads the files itself).
    :param replay: Replay mode (the landing replay): load files even when the ledger holds them, every file
        through the anti-join, so rows bronze lost come back exactly once and rows still present are counted,
        not added; a missing ledger row is written, an existing one kept.
    """

    backend = "duckdb"

    def __init__(
        self,
        duckdb_conn_id: str = DUCKDB_CONN_ID,
        *,
        read_only: bool = False,
        landing: LandingBucket | None = None,
        replay: bool = False,
    ) -> None:
        from banking_cdc.hooks.duckdb import DuckDBHook

        self.hook = DuckDBHook(duckdb_conn_id=duckdb_conn_id)
        self.conn = self.hook.get_conn(read_only=read_only)
        self.landing = landing
        self.replay = replay

    # ------------------------------------------------------------------------------------------- setup

    def setup(self, capture: CaptureConfig) -> None:
        ensure_duckdb_bronze(self.conn, capture)
        legacy = legacy_keyed_tables(self.conn, capture)
        if legacy:
            log.info(
                "bronze table(s) %s carry the primary key of the earlier DDL: loads stay correct, only slower "
                "(docs/ARCHITECTURE.md, Bronze, to rebuild them without it)", legacy,
            )  # fmt: skip

    def relations(self) -> list[str]:
        """Every ``schema.table`` of the warehouse, sorted."""
        rows = self.conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables ORDER BY 1"
        ).fetchall()
        return [row[0] for row in rows]

    # -------------------------------------------------------------------------------------------- load

    def load(self, files: Sequence[LandingFile], capture: CaptureConfig) -> LoadReport:
        if self.landing is None:
            raise BronzeError("DuckDBWarehouse.load needs the landing bucket (argument landing)")
        report = LoadReport(backend=self.backend)
        ledger = self.conn.execute(f"SELECT file_key, first_offset, last_offset FROM {BRONZE_SCHEMA}.{LEDGER_TABLE}")
        rows = ledger.fetchall()
        in_ledger = {row[0] for row in rows}
        ranges = LoadedRanges.from_ledger(rows)
        todo = [f for f in files if self.replay or f.key not in in_ledger]
        report.skipped = [f.key for f in files if not self.replay and f.key in in_ledger]
        todo.sort(key=lambda f: (f.topic, f.partition, f.first_offset))
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bronze-prefetch") as prefetch:
            pending: Future[_Fetched] | None = None
            for index, landing in enumerate(todo):
                current = pending or prefetch.submit(self._fetch, capture, landing)
                # download and decode the next file while this one is inserted
                following = todo[index + 1] if index + 1 < len(todo) else None
                pending = prefetch.submit(self._fetch, capture, following) if following else None
                try:
                    report.loaded.append(self._load_file(current.result(), ranges))
                    report.statements += 1
                except BronzeError as exc:
                    report.failures.append(str(exc))
                    log.error("%s", exc)
        report.bronze_rows = self.bronze_rows(capture.source.tables)
        return report

    def _fetch(self, capture: CaptureConfig, landing: LandingFile) -> _Fetched:
        """Download, decode and check one landing file (runs in the prefetch thread; no DuckDB here)."""
        import pyarrow.parquet as pq

        assert self.landing is not None
        table = bronze_table_for_topic(capture, landing.topic)
        where = self.landing.url(landing.key)
        try:
            body = self.landing.read(landing.key)
        except Exception as exc:
            raise BronzeError(f"{where}: cannot fetch it ({type(exc).__name__}: {exc})") from exc
        try:
            arrow = pq.read_table(io.BytesIO(body))
        except Exception as exc:
            raise BronzeError(f"{where}: cannot read it as Parquet ({type(exc).__name__}: {exc})") from exc
        missing = [name for name, _, _ in LANDING_COLUMNS if name not in arrow.column_names]
        if missing:
            raise BronzeError(f"{where}: not a landing file, missing column(s) {missing}")
        problem = coordinates_problem(arrow, landing)
        if problem:
            raise BronzeError(f"{where}: rows do not match the key's coordinates ({problem})")
        return _Fetched(landing=landing, table=table, arrow=arrow)

    def _load_file(self, fetched: _Fetched, ranges: LoadedRanges) -> dict[str, Any]:
        landing, table, arrow = fetched.landing, fetched.table, fetched.arrow
        overlapping = self.replay or ranges.overlaps(
            landing.topic, landing.partition, landing.first_offset, landing.last_offset
        )
        conn = self.conn
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.register("landing_file", arrow)
            parameters: dict[str, Any] = {"source_file": landing.key}
            if overlapping:
                parameters.update(
                    topic=landing.topic,
                    partition=landing.partition,
                    first_offset=landing.first_offset,
                    last_offset=landing.last_offset,
                )
            (rows_loaded,) = conn.execute(_insert_sql(table, overlapping), parameters).fetchone()
            conn.execute(
                f"INSERT INTO {BRONZE_SCHEMA}.{LEDGER_TABLE} ({_LEDGER_NAMES}) VALUES (?, ?, ?, ?, ?, ?, now())"
                + (" ON CONFLICT (file_key) DO NOTHING" if self.replay else ""),
                [landing.key, table, arrow.num_rows, rows_loaded, landing.first_offset, landing.last_offset],
            )
            conn.execute("COMMIT")
        except Exception as exc:
            conn.execute("ROLLBACK")
            assert self.landing is not None
            raise BronzeError(
                f"{self.landing.url(landing.key)}: load into {BRONZE_SCHEMA}.{table} failed ({exc})"
            ) from exc
        finally:
            conn.unregister("landing_file")
        ranges.add(landing.topic, landing.partition, landing.first_offset, landing.last_offset)
        if rows_loaded != arrow.num_rows and not self.replay:
            log.warning(
                "%s: %d of %d rows were already in bronze (replayed offsets), ignored",
                landing.key, arrow.num_rows - rows_loaded, arrow.num_rows,
            )  # fmt: skip
        return {
            "key": landing.key,
            "table": table,
            "rows_in_file": arrow.num_rows,
            "rows_loaded": rows_loaded,
            "overlapping": overlapping,
            "already_loaded": False,
        }

    # ------------------------------------------------------------------------------------------- reads

    def bronze_relation(self, table: str) -> str:
        return f"{BRONZE_SCHEMA}.{table}"

    def rows_loaded_between(self, start: datetime, end: datetime) -> dict[str, int]:
        rows = self.conn.execute(
            f"SELECT bronze_table, sum(rows_loaded) FROM {BRONZE_SCHEMA}.{LEDGER_TABLE} "
            "WHERE loaded_at > ? AND loaded_at <= ? GROUP BY 1",
            [start, end],
        ).fetchall()
        return {str(name).lower(): int(total or 0) for name, total in rows}

    def bronze_rows(self, tables: Iterable[str]) -> dict[str, int]:
        return {
            table: int(self.conn.execute(f"SELECT count(*) FROM {BRONZE_SCHEMA}.{table}").fetchone()[0])
            for table in tables
        }

    def newest_built_ms(self, schema: str, table: str) -> int | None:
        import duckdb

        try:
            ((newest,),) = self.conn.execute(f"SELECT epoch_ms(max(_built_at)) FROM {schema}.{table}").fetchall()
        except duckdb.CatalogException as exc:
            raise MissingRelationError(f"{schema}.{table} does not exist in the DuckDB warehouse") from exc
        return None if newest is None else int(newest)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.conn.execute(sql, list(params)).fetchall()]

    def query_records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        import duckdb

        try:
            cursor = self.conn.execute(sql, list(params))
        except duckdb.CatalogException as exc:
            raise MissingRelationError(str(exc).splitlines()[0]) from exc
        names = [str(d[0]).lower() for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def close(self) -> None:
        self.conn.close()
