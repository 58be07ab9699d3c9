"""Load landing Parquet files into the DuckDB warehouse's bronze tables, idempotently.

Each file is loaded in its own transaction together with its ledger row, so a file is either fully in
bronze and in the ledger, or in neither. Files already in the ledger are skipped; (topic, partition, offset)
is the primary key of every bronze table, and rows already present (a replayed range under a different
file name) are ignored, never duplicated. A file that cannot be read or loaded fails the task naming the
file, after the other files of the run are loaded.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from banking_cdc.utils.asset_events import set_outlet_extra
from banking_cdc.utils.bronze import (
    BRONZE_COLUMNS,
    BRONZE_SCHEMA,
    LEDGER_TABLE,
    LOAD_COLUMNS,
    PAYLOAD_COLUMNS,
    BronzeError,
    LandingFile,
    bronze_table_for_topic,
    captured_landing_keys,
)
from banking_cdc.utils.capture_config import CaptureConfig


def duckdb_bronze_ddl(capture: CaptureConfig) -> list[str]:
    """Return the idempotent DDL of the DuckDB warehouse: schemas, bronze tables, load ledger."""
    statements = [f"CREATE SCHEMA IF NOT EXISTS {name}" for name in (BRONZE_SCHEMA, "silver", "gold")]
    columns = ",\n    ".join(
        f"{name} {duck}{' NOT NULL' if name in ('kafka_topic', 'kafka_partition', 'kafka_offset') else ''}"
        for name, duck, _ in (*BRONZE_COLUMNS, *PAYLOAD_COLUMNS, *LOAD_COLUMNS)
    )
    for table in capture.source.tables:
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {BRONZE_SCHEMA}.{table} (\n    {columns},\n"
            "    PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)\n)"
        )
    statements.append(
        f"CREATE TABLE IF NOT EXISTS {BRONZE_SCHEMA}.{LEDGER_TABLE} (\n"
        "    file_key VARCHAR PRIMARY KEY,\n    bronze_table VARCHAR NOT NULL,\n    rows_in_file BIGINT NOT NULL,\n"
        "    rows_loaded BIGINT NOT NULL,\n    first_offset BIGINT NOT NULL,\n    last_offset BIGINT NOT NULL,\n"
        "    loaded_at TIMESTAMPTZ NOT NULL\n)"
    )
    return statements


def ensure_duckdb_bronze(conn: Any, capture: CaptureConfig) -> None:
    """Create the schemas, bronze tables and ledger if missing."""
    for statement in duckdb_bronze_ddl(capture):
        conn.execute(statement)


_SELECT_LIST = ", ".join(
    [name for name, _, _ in BRONZE_COLUMNS]
    + [f"CAST({name} AS JSON)" for name, _, _ in PAYLOAD_COLUMNS]
    + ["$source_file", "now()"]
)
_INSERT_COLUMNS = ", ".join(name for name, _, _ in (*BRONZE_COLUMNS, *PAYLOAD_COLUMNS, *LOAD_COLUMNS))


class S3ToDuckDBBronzeOperator(BaseOperator):
    """
    Load landing files into DuckDB bronze: exactly the files given, plus (``sweep``) any not yet loaded.

    :param file_keys: Landing object keys to load (for example from the landing Asset events).
    :param bucket_name: Landing bucket.
    :param aws_conn_id: Airflow connection to the object store.
    :param duckdb_conn_id: Airflow connection of the DuckDB warehouse (``host`` = file path).
    :param landing_prefix: Key prefix of landing files, listed when ``sweep`` is on.
    :param sweep: Also load every landing file of the captured topics that the ledger does not hold
        (found by a paginated listing), so nothing is missed when an Asset event was.
    :param capture_config_path: Capture configuration file; ``None`` uses the packaged one.
    """

    template_fields: Sequence[str] = ("file_keys", "bucket_name", "landing_prefix")
    ui_color = "#fff3e0"

    def __init__(
        self,
        *,
        file_keys: Sequence[str] | None = None,
        bucket_name: str,
        aws_conn_id: str | None = "aws_default",
        duckdb_conn_id: str = "duckdb_default",
        landing_prefix: str = "raw",
        sweep: bool = True,
        capture_config_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.file_keys = file_keys if file_keys is not None else []  # may be an XComArg until run time
        self.bucket_name = bucket_name
        self.aws_conn_id = aws_conn_id
        self.duckdb_conn_id = duckdb_conn_id
        self.landing_prefix = landing_prefix
        self.sweep = sweep
        self.capture_config_path = capture_config_path

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from banking_cdc.hooks.duckdb import DuckDBHook

        capture = CaptureConfig.load(self.capture_config_path)
        s3 = S3Hook(aws_conn_id=self.aws_conn_id)
        began = time.monotonic()
        with DuckDBHook(duckdb_conn_id=self.duckdb_conn_id).get_conn() as conn:
            ensure_duckdb_bronze(conn, capture)
            loaded_before = {
                row[0] for row in conn.execute(f"SELECT file_key FROM {BRONZE_SCHEMA}.{LEDGER_TABLE}").fetchall()
            }
            wanted = list(dict.fromkeys(self.file_keys or []))
            if self.sweep:
                wanted.extend(captured_landing_keys(s3, self.bucket_name, self.landing_prefix, capture))
            todo = [key for key in dict.fromkeys(wanted) if key not in loaded_before]
            self.log.info(
                "%d file(s) named, %d to load (%d already in the ledger)",
                len(set(wanted)), len(todo), len(set(wanted)) - len(todo),
            )  # fmt: skip
            loaded: list[dict[str, Any]] = []
            failures: list[str] = []
            ordered: list[tuple[tuple[str, int, int], str]] = []
            for key in todo:
                try:
                    landing = LandingFile.parse(key)
                except BronzeError as exc:
                    failures.append(str(exc))
                    continue
                ordered.append(((landing.topic, landing.partition, landing.first_offset), key))
            for _, key in sorted(ordered):
                try:
                    loaded.append(self._load_file(conn, s3, capture, key))
                except BronzeError as exc:
                    failures.append(str(exc))
                    self.log.error("%s", exc)
            totals = {
                table: conn.execute(f"SELECT count(*) FROM {BRONZE_SCHEMA}.{table}").fetchone()[0]
                for table in capture.source.tables
            }
        manifest = {
            "loaded": loaded,
            "files_loaded": len(loaded),
            "rows_loaded": sum(f["rows_loaded"] for f in loaded),
            "files_skipped": len(set(wanted)) - len(todo),
            "bronze_rows": totals,
            "seconds": round(time.monotonic() - began, 3),
        }
        self.log.info(
            "Loaded %d file(s), %d row(s) into bronze in %.1fs; bronze now %s",
            manifest["files_loaded"], manifest["rows_loaded"], manifest["seconds"], totals,
        )  # fmt: skip
        if failures:
            raise BronzeError(f"{len(failures)} file(s) failed to load (the others are loaded): " + "; ".join(failures))
        self._emit_asset_events(context, manifest)
        return manifest

    def _load_file(self, conn: Any, s3: Any, capture: CaptureConfig, key: str) -> dict[str, Any]:
        import pyarrow.parquet as pq

        landing = LandingFile.parse(key)
        table = bronze_table_for_topic(capture, landing.topic)
        try:
            body = s3.get_key(key, bucket_name=self.bucket_name).get()["Body"].read()
            arrow = pq.read_table(io.BytesIO(body))
        except Exception as exc:
            raise BronzeError(
                f"s3://{self.bucket_name}/{key}: cannot read it as Parquet ({type(exc).__name__}: {exc})"
            ) from exc
        missing = [name for name, _, _ in (*BRONZE_COLUMNS, *PAYLOAD_COLUMNS) if name not in arrow.column_names]
        if missing:
            raise BronzeError(f"s3://{self.bucket_name}/{key}: not a landing file, missing column(s) {missing}")
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.register("landing_file", arrow)
            (rows_loaded,) = conn.execute(
                f"INSERT OR IGNORE INTO {BRONZE_SCHEMA}.{table} ({_INSERT_COLUMNS}) "
                f"SELECT {_SELECT_LIST} FROM landing_file",
                {"source_file": key},
            ).fetchone()
            conn.execute(
                f"INSERT INTO {BRONZE_SCHEMA}.{LEDGER_TABLE} VALUES (?, ?, ?, ?, ?, ?, now())",
                [key, table, arrow.num_rows, rows_loaded, landing.first_offset, landing.last_offset],
            )
            conn.execute("COMMIT")
        except Exception as exc:
            conn.execute("ROLLBACK")
            raise BronzeError(
                f"s3://{self.bucket_name}/{key}: load into {BRONZE_SCHEMA}.{table} failed ({exc})"
            ) from exc
        finally:
            conn.unregister("landing_file")
        if rows_loaded != arrow.num_rows:
            self.log.warning(
                "%s: %d of %d rows were already in bronze (replayed offsets), ignored",
                key, arrow.num_rows - rows_loaded, arrow.num_rows,
            )  # fmt: skip
        return {"key": key, "table": table, "rows_in_file": arrow.num_rows, "rows_loaded": rows_loaded}

    def _emit_asset_events(self, context: Context, manifest: dict[str, Any]) -> None:
        extra = {"files": [f["key"] for f in manifest["loaded"]], "bronze_rows": manifest["bronze_rows"]}
        set_outlet_extra(context, self.outlets, extra)
