"""Load landing Parquet files into the DuckDB warehouse's bronze tables, idempotently.

Each file is loaded in its own transaction together with its ledger row, so a file is either fully in
bronze and in the ledger, or in neither. Files already in the ledger are skipped. (topic, partition,
offset) is unique in bronze: every file's rows are checked to lie inside the coordinates of its key
(topic, partition, first..last offset), so the ledger's offset ranges cover every bronze row; a file whose
range overlaps no loaded range of its (topic, partition) is appended as it is, and a file that overlaps
(a replayed range under another file name) is inserted with an anti-join on the bronze rows of its range,
so rows already present are ignored, never duplicated. This replaces a primary-key index, which cost more
than the insert itself; the loader is the only writer (one-slot pool ``duckdb_writer``). Tables created
by the earlier DDL keep their primary key and load the same way, only slower. A file that cannot be read
or loaded fails the task naming the file, after the other files of the run are loaded. The next file is
downloaded and decoded in a background thread while the current one is inserted.
"""

from __future__ import annotations

import bisect
import io
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseOperator, Context

from banking_cdc.assets import set_outlet_extra
from banking_cdc.warehouse.bronze import (
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
from banking_cdc.capture.config import CaptureConfig

#: columns stored with ZSTD instead of DuckDB's automatic choice: the wide JSON row images (and the
#: per-row unique message key), whose dictionary/FSST analysis at each checkpoint cost more than the
#: insert itself; ZSTD is also several times smaller on disk (docs/BENCHMARKS.md, bronze profile)
ZSTD_COLUMNS = frozenset({"kafka_key", *(name for name, _, _ in PAYLOAD_COLUMNS)})
_COORDINATES = ("kafka_topic", "kafka_partition", "kafka_offset")


def duckdb_bronze_ddl(capture: CaptureConfig) -> list[str]:
    """Return the idempotent DDL of the DuckDB warehouse: schemas, bronze tables, load ledger."""
    statements = [f"CREATE SCHEMA IF NOT EXISTS {name}" for name in (BRONZE_SCHEMA, "silver", "gold")]
    statements.extend(_bronze_table_ddl(table) for table in capture.source.tables)
    statements.append(
        f"CREATE TABLE IF NOT EXISTS {BRONZE_SCHEMA}.{LEDGER_TABLE} (\n"
        "    file_key VARCHAR PRIMARY KEY,\n    bronze_table VARCHAR NOT NULL,\n    rows_in_file BIGINT NOT NULL,\n"
        "    rows_loaded BIGINT NOT NULL,\n    first_offset BIGINT NOT NULL,\n    last_offset BIGINT NOT NULL,\n"
        "    loaded_at TIMESTAMPTZ NOT NULL\n)"
    )
    return statements


def _bronze_table_ddl(table: str, name: str | None = None) -> str:
    columns = ",\n    ".join(
        f"{column} {duck}{' NOT NULL' if column in _COORDINATES else ''}"
        f"{' USING COMPRESSION zstd' if column in ZSTD_COLUMNS else ''}"
        for column, duck, _ in (*BRONZE_COLUMNS, *PAYLOAD_COLUMNS, *LOAD_COLUMNS)
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


class LoadedRanges:
    """
    The offset ranges of the ledger, merged per (topic, partition): does a new file overlap loaded ones?

    Every bronze row lies inside the range of its file's ledger row (the loader checks each file's rows
    against its key), so a file whose range overlaps no loaded range cannot hold a row already in bronze.
    """

    def __init__(self) -> None:
        self._starts: dict[tuple[str, int], list[int]] = {}
        self._ends: dict[tuple[str, int], list[int]] = {}
        self.unknown = False  # a ledger key that does not parse: treat every file as overlapping

    @classmethod
    def from_ledger(cls, rows: Iterable[tuple[str, int, int]]) -> LoadedRanges:
        """Build from ``(file_key, first_offset, last_offset)`` ledger rows."""
        ranges = cls()
        for key, first, last in rows:
            try:
                landing = LandingFile.parse(key)
            except BronzeError:
                ranges.unknown = True
                continue
            ranges.add(landing.topic, landing.partition, first, last)
        return ranges

    def overlaps(self, topic: str, partition: int, first: int, last: int) -> bool:
        """Whether ``first..last`` (inclusive) intersects a loaded range of ``(topic, partition)``."""
        if self.unknown:
            return True
        starts = self._starts.get((topic, partition), [])
        index = bisect.bisect_right(starts, last)  # merged ranges starting at or before ``last``
        return index > 0 and self._ends[(topic, partition)][index - 1] >= first

    def add(self, topic: str, partition: int, first: int, last: int) -> None:
        """Record a loaded range, merging it with the ranges it touches or overlaps."""
        starts = self._starts.setdefault((topic, partition), [])
        ends = self._ends.setdefault((topic, partition), [])
        low = bisect.bisect_left(ends, first - 1)  # first merged range that ends at or after first - 1
        high = bisect.bisect_right(starts, last + 1)  # ranges from ``high`` on start after last + 1
        if low < high:
            first, last = min(first, starts[low]), max(last, ends[high - 1])
        starts[low:high] = [first]
        ends[low:high] = [last]


@dataclass
class _Fetched:
    key: str
    landing: LandingFile
    table: str
    arrow: Any  # pyarrow.Table


_INSERT_COLUMNS = ", ".join(name for name, _, _ in (*BRONZE_COLUMNS, *PAYLOAD_COLUMNS, *LOAD_COLUMNS))
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
    :param replay: Replay mode (the landing replay): load ``file_keys`` even when the ledger already holds them,
        every file through the anti-join on bronze's Kafka coordinates, so rows bronze lost (a table dropped,
        a restore from an older backup) come back exactly once and rows still present are counted, not added;
        a missing ledger row is written, an existing one is kept. ``sweep`` is ignored.
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
        replay: bool = False,
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
        self.replay = replay

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from banking_cdc.hooks.duckdb import DuckDBHook

        capture = CaptureConfig.load(self.capture_config_path)
        s3 = S3Hook(aws_conn_id=self.aws_conn_id)
        began = time.monotonic()
        with DuckDBHook(duckdb_conn_id=self.duckdb_conn_id).get_conn() as conn:
            ensure_duckdb_bronze(conn, capture)
            legacy = legacy_keyed_tables(conn, capture)
            if legacy:
                self.log.info(
                    "bronze table(s) %s carry the primary key of the earlier DDL: loads stay correct, only slower "
                    "(docs/ARCHITECTURE.md, Bronze, to rebuild them without it)", legacy,
                )  # fmt: skip
            ledger = conn.execute(
                f"SELECT file_key, first_offset, last_offset FROM {BRONZE_SCHEMA}.{LEDGER_TABLE}"
            ).fetchall()
            loaded_before = {row[0] for row in ledger}
            ranges = LoadedRanges.from_ledger(ledger)
            wanted = list(dict.fromkeys(self.file_keys or []))
            if self.sweep and not self.replay:
                wanted.extend(captured_landing_keys(s3, self.bucket_name, self.landing_prefix, capture))
            todo = [key for key in dict.fromkeys(wanted) if self.replay or key not in loaded_before]
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
            keys = [key for _, key in sorted(ordered)]
            client = s3.get_conn()  # boto3 clients are thread-safe; the prefetch thread is its only user
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bronze-prefetch") as prefetch:
                pending: Future[_Fetched] | None = None
                for index, key in enumerate(keys):
                    current = pending or prefetch.submit(self._fetch, client, capture, key)
                    # download and decode the next file while this one is inserted
                    pending = (
                        prefetch.submit(self._fetch, client, capture, keys[index + 1])
                        if index + 1 < len(keys)
                        else None
                    )
                    try:
                        loaded.append(self._load_file(conn, current.result(), ranges))
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
            "rows_in_files": sum(f["rows_in_file"] for f in loaded),
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

    def _fetch(self, client: Any, capture: CaptureConfig, key: str) -> _Fetched:
        """Download, decode and check one landing file (runs in the prefetch thread; no DuckDB here)."""
        import pyarrow.parquet as pq

        landing = LandingFile.parse(key)
        table = bronze_table_for_topic(capture, landing.topic)
        where = f"s3://{self.bucket_name}/{key}"
        try:
            body = client.get_object(Bucket=self.bucket_name, Key=key)["Body"].read()
        except Exception as exc:
            raise BronzeError(f"{where}: cannot fetch it ({type(exc).__name__}: {exc})") from exc
        try:
            arrow = pq.read_table(io.BytesIO(body))
        except Exception as exc:
            raise BronzeError(f"{where}: cannot read it as Parquet ({type(exc).__name__}: {exc})") from exc
        missing = [name for name, _, _ in (*BRONZE_COLUMNS, *PAYLOAD_COLUMNS) if name not in arrow.column_names]
        if missing:
            raise BronzeError(f"{where}: not a landing file, missing column(s) {missing}")
        problem = coordinates_problem(arrow, landing)
        if problem:
            raise BronzeError(f"{where}: rows do not match the key's coordinates ({problem})")
        return _Fetched(key=key, landing=landing, table=table, arrow=arrow)

    def _load_file(self, conn: Any, fetched: _Fetched, ranges: LoadedRanges) -> dict[str, Any]:
        key, landing, table, arrow = fetched.key, fetched.landing, fetched.table, fetched.arrow
        overlapping = self.replay or ranges.overlaps(
            landing.topic, landing.partition, landing.first_offset, landing.last_offset
        )
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.register("landing_file", arrow)
            parameters: dict[str, Any] = {"source_file": key}
            if overlapping:
                parameters.update(
                    topic=landing.topic,
                    partition=landing.partition,
                    first_offset=landing.first_offset,
                    last_offset=landing.last_offset,
                )
            (rows_loaded,) = conn.execute(_insert_sql(table, overlapping), parameters).fetchone()
            conn.execute(
                f"INSERT INTO {BRONZE_SCHEMA}.{LEDGER_TABLE} VALUES (?, ?, ?, ?, ?, ?, now())"
                + (" ON CONFLICT (file_key) DO NOTHING" if self.replay else ""),
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
        ranges.add(landing.topic, landing.partition, landing.first_offset, landing.last_offset)
        if rows_loaded != arrow.num_rows and not self.replay:
            self.log.warning(
                "%s: %d of %d rows were already in bronze (replayed offsets), ignored",
                key, arrow.num_rows - rows_loaded, arrow.num_rows,
            )  # fmt: skip
        return {
            "key": key,
            "table": table,
            "rows_in_file": arrow.num_rows,
            "rows_loaded": rows_loaded,
            "overlapping": overlapping,
        }

    def _emit_asset_events(self, context: Context, manifest: dict[str, Any]) -> None:
        extra = {"files": [f["key"] for f in manifest["loaded"]], "bronze_rows": manifest["bronze_rows"]}
        set_outlet_extra(context, self.outlets, extra)


def coordinates_problem(arrow: Any, landing: LandingFile) -> str | None:
    """
    Why the rows of a landing file are not exactly within its key's coordinates, or ``None``.

    Every row must carry the key's topic and partition and an offset in ``first..last``, each offset once:
    the ledger's ranges then cover every bronze row, which is what lets a non-overlapping file skip the
    duplicate check.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if arrow.num_rows == 0:
        return None
    nulls = [name for name in _COORDINATES if arrow[name].null_count]
    if nulls:
        return f"null {', '.join(nulls)}"
    topics = pc.unique(arrow["kafka_topic"].cast(pa.string())).to_pylist()
    if topics != [landing.topic]:
        return f"kafka_topic {sorted(topics)[:3]} is not {landing.topic!r}"
    partitions = pc.unique(arrow["kafka_partition"]).to_pylist()
    if partitions != [landing.partition]:
        return f"kafka_partition {sorted(partitions)[:3]} is not {landing.partition}"
    offsets = arrow["kafka_offset"]
    bounds = pc.min_max(offsets)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low < landing.first_offset or high > landing.last_offset:
        return f"kafka_offset {low}..{high} is outside {landing.first_offset}..{landing.last_offset}"
    distinct = pc.count_distinct(offsets).as_py()
    if distinct != arrow.num_rows:
        return f"{arrow.num_rows - distinct} repeated kafka_offset(s)"
    return None
