"""Snowflake behind the seam: bronze loads with ``COPY INTO`` and the ledger, ledger reads, read-only queries.

The named landing files are grouped by bronze table; files in the ledger are skipped without a statement;
the rest are loaded with ``COPY INTO ... FILES = (...)`` (at most 1,000 files per statement, SQL in
:mod:`banking_cdc.warehouse.snowflake_copy`). Each statement runs in its own transaction together with the
ledger rows of its files: the COPY result is checked file by file, and any failure rolls both back and
fails the load naming the file and its first error (statements committed before stay, consistent with the
ledger; the next run continues from there). A file that Snowflake's load metadata skips (reported as
``LOAD_SKIPPED``, or left out of the result) counts as already loaded only if its Kafka offsets are found in
bronze; then it is recorded in the ledger too. Setup SQL: :mod:`banking_cdc.warehouse.snowflake_setup`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.warehouse.base import LoadReport, MissingRelationError, Warehouse, files_by_table
from banking_cdc.warehouse.bronze import BRONZE_SCHEMA, LEDGER_TABLE, BronzeError, LandingFile
from banking_cdc.warehouse.snowflake_copy import (
    COPY_SOURCE_FILE,
    MAX_FILES_PER_COPY,
    CopyFileResult,
    CopyOutcome,
    LedgerEntry,
    _int,
    _short,
    batches,
    check_copy_results,
    copy_into_sql,
    ledger_lookup_sql,
    match_reported_file,
    merge_ledger,
    parse_copy_result,
    replay_statements,
)

if TYPE_CHECKING:
    from banking_cdc.warehouse.snowflake_setup import SnowflakeSetup

log = logging.getLogger(__name__)


class SnowflakeWarehouse(Warehouse):
    """
    Snowflake on an open DB-API connection (``SnowflakeHook.get_conn()``; the emulator's in tests).

    :param conn: Open connection; set to manual commit here (each COPY is one transaction with its ledger rows).
    :param schema: Qualified bronze schema (``[<database>.]BRONZE``).
    :param stage: Stage on the landing bucket (default ``<schema>.LANDING_STAGE``).
    :param file_format: Named Parquet file format (default ``<schema>.LANDING_PARQUET``).
    :param stage_prefix: Key prefix the stage URL points at ('' for a stage on the bucket root).
    :param max_files_per_copy: Files per COPY statement (at most 1,000).
    :param source_file: Expression of the ``source_file`` column (``METADATA$FILENAME``; the emulator test
        replaces it: fakesnow lacks METADATA$ columns).
    :param setup_names: Names the setup SQL is rendered with (:meth:`setup`); default: the schema's database.
    :param replay: Replay mode (the landing replay): load files even when the ledger holds them: each batch is
        copied with ``FORCE = TRUE`` into a temporary twin of the bronze table, and only rows whose Kafka
        coordinates bronze does not hold are inserted (rows bronze lost come back exactly once); a missing
        ledger row is written, an existing one kept.
    """

    backend = "snowflake"

    def __init__(
        self,
        conn: Any,
        *,
        schema: str = BRONZE_SCHEMA.upper(),
        stage: str | None = None,
        file_format: str | None = None,
        stage_prefix: str = "",
        max_files_per_copy: int = MAX_FILES_PER_COPY,
        source_file: str = COPY_SOURCE_FILE,
        setup_names: SnowflakeSetup | None = None,
        replay: bool = False,
    ) -> None:
        self.conn = conn
        self.setup_names = setup_names
        self.replay = replay
        self.conn.autocommit(False)
        self.schema = schema
        self.stage = stage or f"{schema}.LANDING_STAGE"
        self.file_format = file_format or f"{schema}.LANDING_PARQUET"
        self.stage_prefix = stage_prefix
        self.max_files_per_copy = max_files_per_copy
        self.source_file = source_file

    # ------------------------------------------------------------------------------------------- setup

    def setup(self, capture: CaptureConfig) -> None:
        """Apply the pipeline's setup files 10..30 (idempotent) as the objects' owner."""
        from banking_cdc.warehouse.snowflake_setup import SnowflakeSetup, apply_setup

        names = self.setup_names
        if names is None:
            names = SnowflakeSetup(database=self.schema.split(".")[0]) if "." in self.schema else SnowflakeSetup()
        apply_setup(self.conn, names, capture=capture, log=log)
        self.conn.commit()

    # -------------------------------------------------------------------------------------------- load

    def stage_path(self, key: str) -> str:
        """The file's path relative to the stage."""
        if not key.startswith(self.stage_prefix):
            raise BronzeError(f"{key!r} is not under the stage's key prefix {self.stage_prefix!r}")
        return key[len(self.stage_prefix) :]

    def ledger_loaded(self, keys: Sequence[str]) -> set[str]:
        """The keys among ``keys`` that the ledger holds."""
        found: set[str] = set()
        with self.conn.cursor() as cur:
            for chunk in batches(keys, MAX_FILES_PER_COPY):
                cur.execute(ledger_lookup_sql(len(chunk), schema=self.schema), chunk)
                found.update(str(row[0]) for row in cur.fetchall())
        self.conn.commit()
        return found

    def load(self, files: Sequence[LandingFile], capture: CaptureConfig) -> LoadReport:
        report = LoadReport(backend=self.backend)
        grouped = files_by_table(capture, files)
        keys = [f.key for group in grouped.values() for f in group]
        in_ledger = self.ledger_loaded(keys) if keys and not self.replay else set()
        for table, group in grouped.items():
            todo = [f for f in group if f.key not in in_ledger]
            report.skipped += [f.key for f in group if f.key in in_ledger]
            for batch in batches(todo, self.max_files_per_copy):
                if self.replay:
                    self._replay_batch(table, batch, report)
                else:
                    self._load_batch(table, batch, report)
        report.bronze_rows = self.bronze_rows(capture.source.tables)
        return report

    def _load_batch(self, table: str, files: Sequence[LandingFile], report: LoadReport) -> None:
        qualified = f"{self.schema}.{table.upper()}"
        by_path = {self.stage_path(f.key): f for f in files}
        sql = copy_into_sql(
            table, list(by_path), schema=self.schema, stage=self.stage, file_format=self.file_format,
            source_file=self.source_file,
        )  # fmt: skip
        with self._transaction():  # the batch's rows and ledger rows go together
            outcome, already = self._copy_and_record(table, qualified, sql, by_path)
        report.statements += 1
        report.loaded += [
            {"key": by_path[p].key, "table": table, "rows_in_file": r.rows_parsed, "rows_loaded": r.rows_loaded,
             "already_loaded": False}
            for p, r in outcome.loaded.items()
        ]  # fmt: skip
        report.loaded += [
            {"key": by_path[p].key, "table": table, "rows_in_file": rows, "rows_loaded": rows, "already_loaded": True}
            for p, rows in already.items()
        ]
        log.info(
            "COPY INTO %s: %d file(s), %d loaded (%d rows), %d already loaded per load metadata",
            qualified, len(files), len(outcome.loaded), sum(r.rows_loaded for r in outcome.loaded.values()),
            len(already),
        )  # fmt: skip

    def _replay_batch(self, table: str, files: Sequence[LandingFile], report: LoadReport) -> None:
        """Copy ``files`` into a temporary twin (FORCE), insert the rows bronze lacks, record missing ledger rows."""
        statements = replay_statements(table, schema=self.schema)
        by_path = {self.stage_path(f.key): f for f in files}
        copy = copy_into_sql(
            table, list(by_path), schema=self.schema, stage=self.stage, file_format=self.file_format,
            source_file=self.source_file, force=True,
        )  # fmt: skip
        # the same COPY, into the temporary twin instead of the bronze table
        sql = copy.replace(f"COPY INTO {self.schema}.{table.upper()} (", f"COPY INTO {statements['twin']} (", 1)
        with self._transaction(), self.conn.cursor() as cur:
            cur.execute(statements["use"])
            cur.execute(statements["create"])
            cur.execute(sql)
            outcome = check_copy_results(
                statements["twin"], list(by_path), parse_copy_result(cur.description, cur.fetchall())
            )
            cur.execute(statements["count"])
            new_by_path: dict[str, int] = {}
            for name, count in cur.fetchall():
                path = match_reported_file(str(name), by_path)
                if path is not None:
                    new_by_path[path] = new_by_path.get(path, 0) + _int(count)
            cur.execute(statements["insert"])
            entries = []
            for path, result in outcome.loaded.items():
                landing = by_path[path]
                added = new_by_path.get(path, 0)
                entries.append(LedgerEntry(landing, table, result.rows_parsed, added, result.as_json()))
                report.loaded.append(
                    {"key": landing.key, "table": table, "rows_in_file": result.rows_parsed,
                     "rows_loaded": added, "already_loaded": False}
                )  # fmt: skip
            merge_ledger(cur, entries, schema=self.schema)
            cur.execute(statements["drop"])
        report.statements += 1

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """
        One transaction: committed when the block completes, rolled back when it raises (anything, even an
        interrupt). A rollback that fails too (a dead session) is left to the server, which rolls back at close.
        """
        try:
            yield
            self.conn.commit()
        except BaseException:
            with suppress(Exception):
                self.conn.rollback()
            raise

    def _copy_and_record(
        self, table: str, qualified: str, sql: str, by_path: Mapping[str, LandingFile]
    ) -> tuple[CopyOutcome, dict[str, int]]:
        """Run one COPY statement, check its result, record its files in the ledger (uncommitted)."""
        with self.conn.cursor() as cur:
            try:
                cur.execute(sql)
            except Exception as exc:
                named = [p for p in by_path if p in str(exc)] or list(by_path)
                shown = ", ".join(named[:5]) + (f" and {len(named) - 5} more" if len(named) > 5 else "")
                raise BronzeError(f"COPY INTO {qualified} failed for {shown}: {_short(str(exc))}") from exc
            outcome = check_copy_results(qualified, list(by_path), parse_copy_result(cur.description, cur.fetchall()))
            entries = [
                LedgerEntry(by_path[p], table, r.rows_parsed, r.rows_loaded, r.as_json())
                for p, r in outcome.loaded.items()
            ]
            already = self._confirm_in_bronze(cur, qualified, outcome.skipped, by_path)
            for path, rows in already.items():
                result = outcome.skipped[path]
                copy_result: dict[str, Any] = (
                    result.as_json() if result else {"file": path, "status": None, "reported": False}
                )
                copy_result["rows_in_bronze"] = rows
                entries.append(LedgerEntry(by_path[path], table, rows, rows, copy_result))
            merge_ledger(cur, entries, schema=self.schema)
        return outcome, already

    def _confirm_in_bronze(
        self,
        cur: Any,
        qualified: str,
        skipped: Mapping[str, CopyFileResult | None],
        by_path: Mapping[str, LandingFile],
    ) -> dict[str, int]:
        """
        Count each skipped file's rows in bronze by its Kafka coordinates; fail for a file with none.

        Snowflake skips a file its load metadata lists as loaded, but also, silently, one whose load
        status is uncertain (load metadata expires after 64 days): only rows in bronze prove a load.
        """
        rows: dict[str, int] = {}
        missing: list[str] = []
        for path, result in skipped.items():
            landing = by_path[path]
            cur.execute(
                f"SELECT COUNT(*) FROM {qualified} "
                "WHERE KAFKA_TOPIC = %s AND KAFKA_PARTITION = %s AND KAFKA_OFFSET BETWEEN %s AND %s",
                [landing.topic, landing.partition, landing.first_offset, landing.last_offset],
            )
            count = _int(cur.fetchone()[0])
            if count:
                rows[path] = count
            else:
                reported = f" (first error: {_short(result.first_error)})" if result and result.first_error else ""
                missing.append(f"{path}{reported}")
        if missing:
            raise BronzeError(
                f"COPY INTO {qualified} skipped {'; '.join(missing)} as already loaded (Snowflake load metadata), "
                "but bronze holds none of its offsets: check the file, then load it with FORCE = TRUE by hand"
            )
        return rows

    # ------------------------------------------------------------------------------------------- reads

    def identifier(self, name: str) -> str:
        return name.upper()

    def bronze_relation(self, table: str) -> str:
        return f"{self.schema}.{self.identifier(table)}"

    def rows_loaded_between(self, start: datetime, end: datetime) -> dict[str, int]:
        rows = self.query(
            f"SELECT LOWER(BRONZE_TABLE), SUM(ROWS_LOADED) FROM {self.schema}.{LEDGER_TABLE.upper()} "
            "WHERE LOADED_AT > TO_TIMESTAMP_TZ(?) AND LOADED_AT <= TO_TIMESTAMP_TZ(?) GROUP BY 1",
            [start.isoformat(), end.isoformat()],
        )
        return {str(name).lower(): int(total or 0) for name, total in rows}

    def bronze_rows(self, tables: Iterable[str]) -> dict[str, int]:
        """Row count of each bronze table (Snowflake answers from table metadata)."""
        counts: dict[str, int] = {}
        with self.conn.cursor() as cur:
            for table in tables:
                cur.execute(f"SELECT COUNT(*) FROM {self.schema}.{table.upper()}")
                counts[table] = _int(cur.fetchone()[0])
        self.conn.commit()
        return counts

    def newest_built_ms(self, schema: str, table: str) -> int | None:
        try:
            ((newest,),) = self.query(
                f"SELECT DATE_PART(EPOCH_MILLISECOND, MAX(_BUILT_AT)) FROM {schema}.{table}".upper()
            )
        except Exception as exc:
            if "does not exist" in str(exc).lower():
                raise MissingRelationError(f"{schema}.{table} does not exist in Snowflake") from exc
            raise
        return None if newest is None else int(newest)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), list(params))
            rows = [tuple(row) for row in cur.fetchall()]
        self.conn.commit()
        return rows

    def query_records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.conn.cursor() as cur:
            try:
                cur.execute(sql.replace("?", "%s"), list(params))
            except Exception as exc:
                if "does not exist" in str(exc).lower():
                    raise MissingRelationError(str(exc).splitlines()[0]) from exc
                raise
            names = [str(d[0]).lower() for d in cur.description]
            rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        self.conn.commit()
        return rows

    def close(self) -> None:
        self.conn.close()
