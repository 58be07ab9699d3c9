"""Snowflake COPY INTO for bronze: the statement, its result checked file by file, and the ledger SQL.

Pure functions and small records, no connection: :mod:`banking_cdc.warehouse.snowflake` runs them. The
statements are golden-tested (``tests/unit/warehouse/test_snowflake_copy.py``) and run on the fakesnow
emulator except ``METADATA$FILENAME`` (``tests/integration/snowflake``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from banking_cdc.warehouse.base import LEDGER_COLUMNS
from banking_cdc.warehouse.bronze import (
    BRONZE_COLUMNS,
    BRONZE_SCHEMA,
    LEDGER_TABLE,
    LOAD_COLUMNS,
    PAYLOAD_COLUMNS,
    TABLE_COLUMNS,
    BronzeError,
    LandingFile,
)

#: Snowflake's upper bound of the FILES list of one COPY INTO statement
MAX_FILES_PER_COPY = 1000
#: ledger rows per MERGE statement (keeps the statement text well under Snowflake's 1 MB limit)
LEDGER_ROWS_PER_MERGE = 200
#: production expression of the ``source_file`` column: the staged file's path, relative to the stage
COPY_SOURCE_FILE = "METADATA$FILENAME"

#: COPY result statuses (Snowflake's ``status`` column)
STATUS_LOADED = "LOADED"
STATUS_LOAD_SKIPPED = "LOAD_SKIPPED"


def copy_columns() -> tuple[str, ...]:
    """The bronze columns COPY INTO fills, in table order."""
    return tuple(name.upper() for name, _d, _s in TABLE_COLUMNS)


def copy_select_expressions(source_file: str = COPY_SOURCE_FILE) -> tuple[str, ...]:
    """
    The SELECT list that turns a landing row (``$1``) into a bronze row, column for column.

    :param source_file: Expression of the ``source_file`` column (``METADATA$FILENAME`` in production).
    """
    expressions = [f"$1:{name}::{sf_type}" for name, _d, sf_type in BRONZE_COLUMNS]
    for name, _d, sf_type in PAYLOAD_COLUMNS:
        if sf_type != "VARIANT":
            raise BronzeError(f"payload column {name} must be VARIANT in Snowflake, not {sf_type}")
        expressions.append(f"PARSE_JSON($1:{name}::VARCHAR)")
    load_expressions = {"source_file": source_file, "loaded_at": "CURRENT_TIMESTAMP()"}
    for name, _d, _s in LOAD_COLUMNS:
        if name not in load_expressions:
            raise BronzeError(f"load column {name} has no COPY expression (bronze.LOAD_COLUMNS changed)")
        expressions.append(load_expressions[name])
    return tuple(expressions)


def sql_string(value: str) -> str:
    """A Snowflake string literal (backslash is an escape character there, so it is doubled too)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def copy_into_sql(
    table: str,
    files: Sequence[str],
    *,
    schema: str = BRONZE_SCHEMA.upper(),
    stage: str | None = None,
    file_format: str | None = None,
    source_file: str = COPY_SOURCE_FILE,
    force: bool = False,
) -> str:
    """
    Render the COPY INTO statement that loads ``files`` into one bronze table.

    :param table: Bronze table (unqualified).
    :param files: Paths relative to the stage, at most :data:`MAX_FILES_PER_COPY`.
    :param schema: Qualified bronze schema.
    :param stage: Stage (default ``<schema>.LANDING_STAGE``).
    :param file_format: Named file format (default ``<schema>.LANDING_PARQUET``).
    :param source_file: Expression of the ``source_file`` column; only the emulator test changes it.
    :param force: ``FORCE = TRUE``: load files Snowflake's load metadata lists as loaded (the replay, into a
        temporary table only).
    """
    if not files:
        raise BronzeError(f"COPY INTO {schema}.{table.upper()}: no file to load")
    if len(files) > MAX_FILES_PER_COPY:
        raise BronzeError(
            f"COPY INTO {schema}.{table.upper()}: {len(files)} files > {MAX_FILES_PER_COPY} per statement"
        )
    stage = stage or f"{schema}.LANDING_STAGE"
    file_format = file_format or f"{schema}.LANDING_PARQUET"
    columns = ",\n".join(f"    {name}" for name in copy_columns())
    select = ",\n".join(f"        {expression}" for expression in copy_select_expressions(source_file))
    return (
        f"COPY INTO {schema}.{table.upper()} (\n{columns}\n)\n"
        f"FROM (\n    SELECT\n{select}\n    FROM @{stage}\n)\n"
        f"FILES = ({', '.join(sql_string(f) for f in files)})\n"
        f"FILE_FORMAT = (FORMAT_NAME = {sql_string(file_format)})\n"
        "ON_ERROR = ABORT_STATEMENT" + ("\nFORCE = TRUE" if force else "")
    )


def replay_statements(table: str, *, schema: str = BRONZE_SCHEMA.upper()) -> dict[str, str]:
    """
    The statements of a replay around its COPY: a temporary twin of the bronze table, the rows it adds per
    file (those whose Kafka coordinates bronze does not hold), the anti-join insert, and the drop.

    :param table: Bronze table (unqualified).
    :param schema: Qualified bronze schema.
    """
    # a temporary table lives in the session's current schema (named unqualified; dropped with the session)
    target, twin = f"{schema}.{table.upper()}", f"{table.upper()}__REPLAY"
    new_rows = (
        f"FROM {twin} AS r WHERE NOT EXISTS (SELECT 1 FROM {target} AS b WHERE b.KAFKA_TOPIC = r.KAFKA_TOPIC "
        "AND b.KAFKA_PARTITION = r.KAFKA_PARTITION AND b.KAFKA_OFFSET = r.KAFKA_OFFSET)"
    )
    columns = ", ".join(copy_columns())
    return {
        "twin": twin,
        "use": f"USE SCHEMA {schema}",
        "create": f"CREATE OR REPLACE TEMPORARY TABLE {twin} LIKE {target}",
        "count": f"SELECT r.SOURCE_FILE, COUNT(*) {new_rows} GROUP BY r.SOURCE_FILE",
        "insert": f"INSERT INTO {target} ({columns}) SELECT {', '.join('r.' + c for c in copy_columns())} {new_rows}",
        "drop": f"DROP TABLE IF EXISTS {twin}",
    }


def batches(items: Sequence[Any], size: int = MAX_FILES_PER_COPY) -> list[list[Any]]:
    """Split ``items`` into consecutive lists of at most ``size``."""
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


@dataclass(frozen=True)
class CopyFileResult:
    """
    One row of a COPY INTO result.

    :param file: The file as Snowflake reports it (a URL or a stage path).
    :param status: ``LOADED``, ``LOAD_SKIPPED``, ``LOAD_FAILED``, ``PARTIALLY_LOADED``, ...
    :param rows_parsed: Rows read from the file.
    :param rows_loaded: Rows inserted from the file.
    :param errors_seen: Errors in the file.
    :param first_error: First error message, if any.
    :param first_error_line: Line (row) of the first error.
    :param first_error_column_name: Column of the first error.
    """

    file: str
    status: str
    rows_parsed: int
    rows_loaded: int
    errors_seen: int
    first_error: str | None = None
    first_error_line: int | None = None
    first_error_column_name: str | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON-safe form, stored in the ledger's COPY_RESULT."""
        return {
            "file": self.file, "status": self.status, "rows_parsed": self.rows_parsed,
            "rows_loaded": self.rows_loaded, "errors_seen": self.errors_seen, "first_error": self.first_error,
            "first_error_line": self.first_error_line, "first_error_column_name": self.first_error_column_name,
        }  # fmt: skip


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def parse_copy_result(
    description: Sequence[Sequence[Any]] | None, rows: Iterable[Sequence[Any]]
) -> list[CopyFileResult]:
    """
    Parse the rows a COPY INTO returns (columns file, status, rows_parsed, rows_loaded, error_limit,
    errors_seen, first_error, first_error_line, first_error_character, first_error_column_name).

    A result without a ``file`` column (Snowflake's "Copy executed with 0 files processed.") has no
    file rows: an empty list.
    """
    names = [str(column[0]).lower() for column in description or ()]
    if "file" not in names or "status" not in names:
        return []
    results = []
    for row in rows:
        record = dict(zip(names, row, strict=False))
        line = record.get("first_error_line")
        column = record.get("first_error_column_name")
        results.append(
            CopyFileResult(
                file=str(record["file"]),
                status=str(record["status"]).upper(),
                rows_parsed=_int(record.get("rows_parsed")),
                rows_loaded=_int(record.get("rows_loaded")),
                errors_seen=_int(record.get("errors_seen")),
                first_error=None if record.get("first_error") is None else str(record["first_error"]),
                first_error_line=None if line is None else int(line),
                first_error_column_name=None if column is None else str(column),
            )
        )
    return results


def match_reported_file(reported: str, requested: Mapping[str, Any]) -> str | None:
    """
    Return the requested stage path that a reported file name denotes, or ``None``.

    Snowflake reports the full URL (``s3://bucket/raw/...``), the emulator ``file:///.../raw/...``:
    the longest requested path that the reported name ends with (at a ``/``) wins.
    """
    if reported in requested:
        return reported
    position = reported.find("/")
    while position != -1:
        if reported[position + 1 :] in requested:
            return reported[position + 1 :]
        position = reported.find("/", position + 1)
    return None


@dataclass
class CopyOutcome:
    """
    What one COPY INTO statement did, file by file (paths relative to the stage).

    :param loaded: Files loaded now, with their result rows.
    :param skipped: Files Snowflake did not load because its load metadata says they were loaded
        (``LOAD_SKIPPED`` rows, or files left out of the result); still to be confirmed in bronze.
    """

    loaded: dict[str, CopyFileResult] = field(default_factory=dict)
    skipped: dict[str, CopyFileResult | None] = field(default_factory=dict)


def check_copy_results(table: str, requested: Sequence[str], results: Sequence[CopyFileResult]) -> CopyOutcome:
    """
    Check a COPY result file by file; raise naming every failed file and its first error.

    ``LOADED`` (every parsed row loaded, no error) is a load; ``LOAD_SKIPPED`` and files missing from the
    result are skips by load metadata; any other status (``LOAD_FAILED``, ``PARTIALLY_LOADED``, ...), a
    LOADED file with errors, or a reported file that was not requested, is a failure.

    :param table: Qualified bronze table, for messages.
    :param requested: Stage paths of the statement's FILES list.
    :param results: Parsed result rows.
    """
    wanted = dict.fromkeys(requested)
    outcome = CopyOutcome()
    failures: list[str] = []
    failed: set[str] = set()
    for result in results:
        path = match_reported_file(result.file, wanted)
        if path is None:
            failures.append(f"{result.file}: reported by COPY INTO but not requested (status {result.status})")
            continue
        if path in outcome.loaded or path in outcome.skipped or path in failed:
            failures.append(f"{path}: reported twice by COPY INTO")
            continue
        if result.status == STATUS_LOADED and result.errors_seen == 0 and result.rows_loaded == result.rows_parsed:
            outcome.loaded[path] = result
        elif result.status == STATUS_LOAD_SKIPPED:
            outcome.skipped[path] = result
        else:
            where = "" if result.first_error_line is None else f" (line {result.first_error_line}"
            if where and result.first_error_column_name:
                where += f", column {result.first_error_column_name}"
            where += ")" if where else ""
            failed.add(path)
            failures.append(
                f"{path}: status {result.status}, {result.rows_loaded}/{result.rows_parsed} rows loaded, "
                f"{result.errors_seen} error(s), first error: {_short(result.first_error)}{where}"
            )
    for path in requested:
        if path not in outcome.loaded and path not in outcome.skipped and path not in failed:
            outcome.skipped[path] = None  # Snowflake leaves files skipped by its load metadata out of the result
    if failures:
        raise BronzeError(f"COPY INTO {table} failed for {len(failures)} file(s): " + "; ".join(failures))
    return outcome


def _short(text: str | None, limit: int = 500) -> str:
    if text is None:
        return "none reported"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_LEDGER_NAMES = tuple(name.upper() for name, _d, _s in LEDGER_COLUMNS)
#: the ledger columns a MERGE binds, in order (LOADED_AT is the statement's time)
_BOUND = tuple(name for name in _LEDGER_NAMES if name != "LOADED_AT")


def ledger_lookup_sql(count: int, *, schema: str = BRONZE_SCHEMA.upper()) -> str:
    """SELECT of the files among ``count`` bound keys that the ledger holds (every ledger row is a loaded file)."""
    marks = ", ".join(["%s"] * count)
    return f"SELECT FILE_KEY FROM {schema}.{LEDGER_TABLE.upper()} WHERE FILE_KEY IN ({marks})"


def ledger_merge_sql(count: int, *, schema: str = BRONZE_SCHEMA.upper()) -> str:
    """
    MERGE of ``count`` ledger rows (bound in :data:`LEDGER_COLUMNS` order, without LOADED_AT), keyed by file.

    Insert-only: a file already in the ledger keeps its first row, so merging twice changes nothing
    and the loader needs no UPDATE privilege (bronze stays append-only for it).
    """
    row = "(" + ", ".join(["%s"] * len(_BOUND)) + ")"
    values = ",\n        ".join([row] * count)
    select = ", ".join(
        f"PARSE_JSON(column{i}) AS {name}" if name == "LOAD_DETAIL" else f"column{i} AS {name}"
        for i, name in enumerate(_BOUND, start=1)
    )
    inserted = ", ".join("CURRENT_TIMESTAMP()" if name == "LOADED_AT" else f"loaded.{name}" for name in _LEDGER_NAMES)
    return (
        f"MERGE INTO {schema}.{LEDGER_TABLE.upper()} AS ledger\n"
        f"USING (\n    SELECT {select}\n    FROM VALUES\n        {values}\n) AS loaded\n"
        "ON ledger.FILE_KEY = loaded.FILE_KEY\n"
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(_LEDGER_NAMES)})\n"
        f"    VALUES ({inserted})"
    )


@dataclass(frozen=True)
class LedgerEntry:
    """
    One ledger row to record.

    :param landing: The landing file.
    :param table: Bronze table (unqualified, lower case as in :mod:`banking_cdc.warehouse.bronze`).
    :param rows_in_file: Rows Snowflake parsed from the file (for a skipped file: its rows found in bronze).
    :param rows_loaded: The file's rows in bronze.
    :param copy_result: The COPY result of the file (JSON-safe), kept as the ledger's LOAD_DETAIL.
    """

    landing: LandingFile
    table: str
    rows_in_file: int
    rows_loaded: int
    copy_result: dict[str, Any]

    def params(self) -> tuple[Any, ...]:
        """The bound values, in :func:`ledger_merge_sql` order."""
        values = {
            "FILE_KEY": self.landing.key,
            "BRONZE_TABLE": self.table,
            "ROWS_IN_FILE": self.rows_in_file,
            "ROWS_LOADED": self.rows_loaded,
            "FIRST_OFFSET": self.landing.first_offset,
            "LAST_OFFSET": self.landing.last_offset,
            "LOAD_DETAIL": json.dumps(self.copy_result),
        }
        return tuple(values[name] for name in _BOUND)


def merge_ledger(cur: Any, entries: Sequence[LedgerEntry], *, schema: str = BRONZE_SCHEMA.upper()) -> None:
    """Record ``entries`` in the ledger (insert-only MERGE keyed by file), in statements of bounded size."""
    for chunk in batches(entries, LEDGER_ROWS_PER_MERGE):
        cur.execute(ledger_merge_sql(len(chunk), schema=schema), [p for entry in chunk for p in entry.params()])
