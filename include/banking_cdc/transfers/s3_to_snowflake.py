"""Landing zone (S3) -> Snowflake bronze: the setup SQL and an idempotent ``COPY INTO`` operator.

Setup (``sql/snowflake/*.sql``, rendered by :func:`render_setup_file`):

* ``00_admin.sql`` - roles, warehouses, storage integration, grants: run once by an administrator
  (ACCOUNTADMIN / SECURITYADMIN), never by the pipeline;
* ``10_database.sql``, ``20_landing.sql``, ``30_bronze.sql`` - database and schemas, file format and
  stage, bronze tables and load ledger: applied by the ``warehouse_setup`` DAG through
  :func:`apply_setup` as the objects' owner (SYSADMIN). The bronze tables are generated from
  :mod:`banking_cdc.warehouse.bronze`, the contract shared with the DuckDB warehouse.

Load (:class:`S3ToSnowflakeBronzeOperator`, the twin of ``S3ToDuckDBBronzeOperator``): the named landing
files (plus, with ``sweep``, every landing file of a paginated listing) are grouped by bronze table; files
the ledger lists as ``LOADED`` are skipped without a statement; the rest are loaded with
``COPY INTO ... FILES = (...)`` (at most 1,000 files per statement), an explicit SELECT on ``$1``
(``PARSE_JSON`` into VARIANT, ``METADATA$FILENAME``, ``CURRENT_TIMESTAMP()``) and
``ON_ERROR = ABORT_STATEMENT``. Each statement runs in its own transaction together with the ledger
rows of its files: the COPY result is checked file by file, and any failure rolls both back and fails
the task naming the file and its first error. A file that Snowflake's load metadata skips (reported as
``LOAD_SKIPPED``, or left out of the result) counts as already loaded only if its Kafka offsets are
found in bronze; then it is recorded in the ledger too.

What the fakesnow emulator runs (``tests/integration/snowflake``) and what only golden tests check:

* emulator: ``10_database.sql``, ``20_landing.sql`` (stage URL ``file://``), ``30_bronze.sql`` as rendered;
  the whole load path of the operator, through ``SnowflakeHook``, with the production COPY statement
  except one expression: ``METADATA$FILENAME`` (unknown to the emulator) is replaced by DuckDB's
  ``filename`` column through the :attr:`S3ToSnowflakeBronzeOperator.copy_source_file` class attribute;
  the load-history skip on a second COPY, the ledger MERGE, transactions rolled back on a corrupt file
  (the emulator needs a current schema on the connection for COPY; Snowflake does not);
* golden only (``tests/unit/transfers/test_s3_to_snowflake.py``): ``00_admin.sql`` (roles, warehouses,
  storage integration, grants), the exact production COPY statement with ``METADATA$FILENAME``, the
  stage on ``s3://`` with a storage integration or credentials, Snowflake's own COPY result for files
  skipped by load metadata (left out of the result rather than ``LOAD_SKIPPED``) - parsed from canned
  rows; the ``sweep`` listing (a fake ``S3Hook``; the DuckDB twin's integration tests run the same
  ``iter_keys`` against the object store). Nothing here has run against a live Snowflake account.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from importlib.resources import files as package_files
from io import StringIO
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context

from banking_cdc.exceptions import BankingCdcError
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
from banking_cdc.stage.landing import LANDING_SCHEMA

if TYPE_CHECKING:
    from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

#: setup files, in the order they are applied (package folder ``banking_cdc/sql/snowflake``)
ADMIN_FILE = "00_admin.sql"
PIPELINE_SETUP_FILES: tuple[str, ...] = ("10_database.sql", "20_landing.sql", "30_bronze.sql")
SETUP_FILES: tuple[str, ...] = (ADMIN_FILE, *PIPELINE_SETUP_FILES)

#: Snowflake's upper bound of the FILES list of one COPY INTO statement
MAX_FILES_PER_COPY = 1000
#: ledger rows per MERGE statement (keeps the statement text well under Snowflake's 1 MB limit)
LEDGER_ROWS_PER_MERGE = 200
#: ledger status of a file whose rows are in bronze
LEDGER_LOADED = "LOADED"
#: production expression of the ``source_file`` column: the staged file's path, relative to the stage
COPY_SOURCE_FILE = "METADATA$FILENAME"

#: COPY result statuses (Snowflake's ``status`` column)
STATUS_LOADED = "LOADED"
STATUS_LOAD_SKIPPED = "LOAD_SKIPPED"

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")
_QUALIFIED = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$")
_STAGE_URL = re.compile(r"^(s3|s3compat|gcs|azure|file)://[^'\\\s]+/$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+$")
_CREDENTIAL = re.compile(r"^[A-Za-z0-9+/=_.-]+$")


class SnowflakeSetupError(BankingCdcError):
    """The Snowflake setup SQL cannot be rendered or applied; the message names the setting or file."""


# ---------------------------------------------------------------------------------------------- setup


@dataclass(frozen=True)
class StageCredentials:
    """
    Object-store keys for a stage without storage integration, read at run time from an Airflow connection.

    :param aws_key_id: Access key id.
    :param aws_secret_key: Secret access key.
    :param aws_token: Session token of temporary credentials, if any.
    """

    aws_key_id: str
    aws_secret_key: str = field(repr=False)
    aws_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("aws_key_id", "aws_secret_key", "aws_token"):
            value = getattr(self, name)
            if value is not None and not _CREDENTIAL.match(value):
                raise SnowflakeSetupError(f"stage credentials: {name} has characters outside [A-Za-z0-9+/=_.-]")

    @classmethod
    def from_connection(cls, aws_conn_id: str = "aws_default") -> StageCredentials:
        """Read the keys of an Airflow AWS connection (through ``S3Hook``, at run time only)."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        credentials = S3Hook(aws_conn_id=aws_conn_id).get_credentials()
        if not credentials.access_key or not credentials.secret_key:
            raise SnowflakeSetupError(f"Airflow connection {aws_conn_id!r} has no access key / secret key")
        return cls(credentials.access_key, credentials.secret_key, credentials.token or None)


#: the identifier fields of SnowflakeSetup, each a placeholder of the same name
_SETUP_NAMES: tuple[str, ...] = (
    "database", "loader_role", "transformer_role", "analyst_role",
    "load_warehouse", "transform_warehouse", "bi_warehouse", "storage_integration",
)  # fmt: skip


@dataclass(frozen=True)
class SnowflakeSetup:
    """
    The names the Snowflake setup SQL is rendered with (its ``{{ name }}`` placeholders).

    :param database: Database holding the BRONZE, SILVER and GOLD schemas.
    :param loader_role: Role of the bronze loads (COPY INTO, ledger).
    :param transformer_role: Role of dbt.
    :param analyst_role: Role of BI and analysts (gold only).
    :param load_warehouse: Warehouse of the loads.
    :param transform_warehouse: Warehouse of dbt.
    :param bi_warehouse: Warehouse of BI.
    :param storage_integration: Storage integration of the landing stage.
    :param stage_url: URL of the landing stage, ending with ``/`` (``s3://<bucket>/``; ``file://`` in tests).
    :param storage_aws_role_arn: IAM role Snowflake assumes to read the bucket (needed by ``00_admin.sql`` only).
    """

    database: str = "BANKING"
    loader_role: str = "LOADER"
    transformer_role: str = "TRANSFORMER"
    analyst_role: str = "ANALYST"
    load_warehouse: str = "LOAD_WH"
    transform_warehouse: str = "TRANSFORM_WH"
    bi_warehouse: str = "BI_WH"
    storage_integration: str = "LANDING_S3_INTEGRATION"
    stage_url: str = "s3://banking-landing/"
    storage_aws_role_arn: str | None = None

    def __post_init__(self) -> None:
        for name in _SETUP_NAMES:
            value = getattr(self, name)
            if not isinstance(value, str) or not _IDENTIFIER.match(value):
                raise SnowflakeSetupError(f"{name} must be an unquoted Snowflake identifier, got {value!r}")
        if not _STAGE_URL.match(self.stage_url):
            raise SnowflakeSetupError(
                f"stage_url must be <s3|s3compat|gcs|azure|file>://<location>/ ending with '/', got {self.stage_url!r}"
            )
        if self.storage_aws_role_arn is not None and not _ROLE_ARN.match(self.storage_aws_role_arn):
            raise SnowflakeSetupError(
                f"storage_aws_role_arn must be arn:aws:iam::<account>:role/<name>, got {self.storage_aws_role_arn!r}"
            )

    def placeholders(self) -> dict[str, str]:
        """The plain placeholders (names only; the generated ones are added by :func:`render_setup_file`)."""
        values = {name: getattr(self, name) for name in (*_SETUP_NAMES, "stage_url")}
        if self.storage_aws_role_arn is not None:
            values["storage_aws_role_arn"] = self.storage_aws_role_arn
        return values


def setup_sql_text(name: str) -> str:
    """Return the unrendered text of a packaged setup file (``banking_cdc/sql/snowflake/<name>``)."""
    if name not in SETUP_FILES:
        raise SnowflakeSetupError(f"{name!r} is not a Snowflake setup file (one of {', '.join(SETUP_FILES)})")
    return package_files("banking_cdc").joinpath(f"sql/snowflake/{name}").read_text(encoding="utf-8")


def render_sql(text: str, values: Mapping[str, str], *, source: str = "SQL") -> str:
    """
    Replace every ``{{ name }}`` of ``text`` by ``values[name]``.

    :param text: SQL with placeholders.
    :param values: Placeholder values (already validated: they are pasted as they are).
    :param source: Name of the text for error messages (a file name).
    :raises SnowflakeSetupError: naming the first placeholder without a value.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match[1]
        if name not in values:
            raise SnowflakeSetupError(f"{source}: no value for placeholder {{{{ {name} }}}}")
        return values[name]

    return _PLACEHOLDER.sub(substitute, text)


def bronze_table_ddl(table: str, source_table: str, *, schema: str) -> str:
    """
    Return ``CREATE TABLE IF NOT EXISTS`` of one bronze table, from the contract in :mod:`banking_cdc.warehouse.bronze`.

    Columns are ``BRONZE_COLUMNS``, ``PAYLOAD_COLUMNS`` (VARIANT) and ``LOAD_COLUMNS``, in that order;
    a column is ``NOT NULL`` where the landing schema declares it non-nullable, and the load columns are
    always set. (topic, partition, offset) is the declared (not enforced) primary key.

    :param table: Bronze table (unqualified, as :func:`bronze_table_for_topic` returns it).
    :param source_table: ``<schema>.<table>`` of the source database, for the table comment.
    :param schema: Qualified bronze schema (``<database>.BRONZE``).
    """
    landing_nullable = {f.name: f.nullable for f in LANDING_SCHEMA}
    columns = [
        f"    {name.upper()} {sf_type}{'' if landing_nullable.get(name, True) else ' NOT NULL'},"
        for name, _duckdb_type, sf_type in (*BRONZE_COLUMNS, *PAYLOAD_COLUMNS)
    ]
    columns += [f"    {name.upper()} {sf_type} NOT NULL," for name, _duckdb_type, sf_type in LOAD_COLUMNS]
    key = ", ".join(name.upper() for name, _d, _s in BRONZE_COLUMNS[:3])
    return (
        f"CREATE TABLE IF NOT EXISTS {schema}.{table.upper()} (\n"
        + "\n".join(columns)
        + f"\n    CONSTRAINT {table.upper()}_PK PRIMARY KEY ({key})\n)\n"
        + f"COMMENT = 'banking-cdc: change events of {source_table} (append-only, one row per Kafka offset)';"
    )


def bronze_tables_sql(capture: CaptureConfig, *, schema: str) -> str:
    """Return the DDL of every captured table's bronze table, in ``capture.yaml`` order."""
    return "\n\n".join(
        bronze_table_ddl(table, capture.source.qualified(table), schema=schema) for table in capture.source.tables
    )


def stage_auth_clause(setup: SnowflakeSetup, credentials: StageCredentials | None = None) -> str:
    """The stage's authentication: the storage integration, or keys read from an Airflow connection."""
    if credentials is None:
        return f"STORAGE_INTEGRATION = {setup.storage_integration}"
    token = f" AWS_TOKEN = '{credentials.aws_token}'" if credentials.aws_token else ""
    return (
        f"CREDENTIALS = (AWS_KEY_ID = '{credentials.aws_key_id}' "
        f"AWS_SECRET_KEY = '{credentials.aws_secret_key}'{token})"
    )


def render_setup_file(
    name: str,
    setup: SnowflakeSetup | None = None,
    *,
    capture: CaptureConfig | None = None,
    stage_credentials: StageCredentials | None = None,
) -> str:
    """
    Render one setup file.

    :param name: One of :data:`SETUP_FILES`.
    :param setup: Names to render with; defaults to :class:`SnowflakeSetup`'s.
    :param capture: Capture configuration naming the bronze tables; ``None`` reads the packaged one.
    :param stage_credentials: Render the stage with these keys instead of the storage integration.
        The result then holds a secret: never log or store it.
    """
    setup = setup or SnowflakeSetup()
    values = setup.placeholders()
    text = setup_sql_text(name)
    if "bronze_tables" in _PLACEHOLDER.findall(text):
        values["bronze_tables"] = bronze_tables_sql(
            capture or CaptureConfig.load(), schema=f"{setup.database}.{BRONZE_SCHEMA.upper()}"
        )
    values["stage_auth"] = stage_auth_clause(setup, stage_credentials)
    return render_sql(text, values, source=name)


def split_sql(text: str) -> list[str]:
    """Split rendered SQL into statements without comments (the Snowflake connector's own splitter)."""
    from snowflake.connector.util_text import split_statements

    statements = (statement.strip().rstrip(";").strip() for statement, _ in split_statements(StringIO(text), True))
    return [s for s in statements if s]


def apply_setup(
    conn: Any,
    setup: SnowflakeSetup | None = None,
    *,
    files: Sequence[str] = PIPELINE_SETUP_FILES,
    capture: CaptureConfig | None = None,
    stage_credentials: StageCredentials | None = None,
    log: Any = None,
) -> int:
    """
    Apply setup files, statement by statement (each is idempotent); return the number of statements.

    :param conn: Open connection (``SnowflakeHook(...).get_conn()``) with a role owning the objects.
    :param setup: Names to render with.
    :param files: Setup files to apply, in order; by default the pipeline's (never ``00_admin.sql``).
    :param capture: Capture configuration naming the bronze tables; ``None`` reads the packaged one.
    :param stage_credentials: Keys for the stage instead of the storage integration (see ``20_landing.sql``).
    :param log: Logger; only each statement's first line is logged (the credentials never are).
    """
    count = 0
    with conn.cursor() as cur:
        for name in files:
            for statement in split_sql(
                render_setup_file(name, setup, capture=capture, stage_credentials=stage_credentials)
            ):
                if log is not None:
                    log.info("%s: %s", name, statement.splitlines()[0])
                try:
                    cur.execute(statement)
                except Exception as exc:  # noqa: BLE001 - re-raised, without the cause that may echo a key
                    message = str(exc)
                    secrets = (
                        (stage_credentials.aws_secret_key, stage_credentials.aws_token) if stage_credentials else ()
                    )
                    for secret in filter(None, secrets):
                        message = message.replace(secret, "***")
                    raise SnowflakeSetupError(f"{name}: {statement.splitlines()[0]!r} failed: {message}") from None
                count += 1
    return count


# ----------------------------------------------------------------------------------------------- load


def copy_columns() -> tuple[str, ...]:
    """The bronze columns COPY INTO fills, in table order."""
    return tuple(name.upper() for name, _d, _s in (*BRONZE_COLUMNS, *PAYLOAD_COLUMNS, *LOAD_COLUMNS))


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
) -> str:
    """
    Render the COPY INTO statement that loads ``files`` into one bronze table.

    :param table: Bronze table (unqualified).
    :param files: Paths relative to the stage, at most :data:`MAX_FILES_PER_COPY`.
    :param schema: Qualified bronze schema.
    :param stage: Stage (default ``<schema>.LANDING_STAGE``).
    :param file_format: Named file format (default ``<schema>.LANDING_PARQUET``).
    :param source_file: Expression of the ``source_file`` column; only the emulator test changes it.
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
        "ON_ERROR = ABORT_STATEMENT"
    )


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


def ledger_lookup_sql(count: int, *, schema: str = BRONZE_SCHEMA.upper()) -> str:
    """SELECT of the files among ``count`` bound keys that the ledger lists as loaded."""
    marks = ", ".join(["%s"] * count)
    return (
        f"SELECT FILE_KEY FROM {schema}.{LEDGER_TABLE.upper()} "
        f"WHERE STATUS = '{LEDGER_LOADED}' AND FILE_KEY IN ({marks})"
    )


def ledger_merge_sql(count: int, *, schema: str = BRONZE_SCHEMA.upper()) -> str:
    """
    MERGE of ``count`` ledger rows (bound as file key, table, rows, status, COPY result JSON), keyed by file.

    Insert-only: a file already in the ledger keeps its first row, so merging twice changes nothing
    and the loader needs no UPDATE privilege (bronze stays append-only for it).
    """
    values = ",\n        ".join(["(%s, %s, %s, %s, %s)"] * count)
    return (
        f"MERGE INTO {schema}.{LEDGER_TABLE.upper()} AS ledger\n"
        "USING (\n"
        "    SELECT column1 AS FILE_KEY, column2 AS TABLE_NAME, column3 AS ROWS_LOADED, column4 AS STATUS,\n"
        "        PARSE_JSON(column5) AS COPY_RESULT\n"
        f"    FROM VALUES\n        {values}\n"
        ") AS loaded\n"
        "ON ledger.FILE_KEY = loaded.FILE_KEY\n"
        "WHEN NOT MATCHED THEN INSERT (FILE_KEY, TABLE_NAME, ROWS_LOADED, STATUS, LOADED_AT, COPY_RESULT)\n"
        "    VALUES (loaded.FILE_KEY, loaded.TABLE_NAME, loaded.ROWS_LOADED, loaded.STATUS, CURRENT_TIMESTAMP(),\n"
        "        loaded.COPY_RESULT)"
    )


@dataclass(frozen=True)
class LedgerEntry:
    """
    One ledger row.

    :param file_key: Object key of the landing file.
    :param table: Bronze table (unqualified, lower case as in :mod:`banking_cdc.warehouse.bronze`).
    :param rows_loaded: The file's rows in bronze.
    :param copy_result: The COPY result of the file (JSON-safe).
    """

    file_key: str
    table: str
    rows_loaded: int
    copy_result: dict[str, Any]

    def params(self) -> tuple[Any, ...]:
        return (self.file_key, self.table, self.rows_loaded, LEDGER_LOADED, json.dumps(self.copy_result))


def merge_ledger(cur: Any, entries: Sequence[LedgerEntry], *, schema: str = BRONZE_SCHEMA.upper()) -> None:
    """Record ``entries`` in the ledger (insert-only MERGE keyed by file), in statements of bounded size."""
    for chunk in batches(entries, LEDGER_ROWS_PER_MERGE):
        cur.execute(ledger_merge_sql(len(chunk), schema=schema), [p for entry in chunk for p in entry.params()])


@dataclass
class LoadManifest:
    """
    What a load did.

    :param loaded: One entry per file now in bronze and the ledger: ``key``, ``table``, ``rows_loaded``
        and ``already_loaded`` (Snowflake's load metadata skipped it; its rows were already in bronze).
    :param skipped: Files the ledger already listed: no statement was sent for them.
    :param copy_statements: COPY INTO statements run.
    :param bronze_rows: Row count of each bronze table after the load.
    """

    loaded: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    copy_statements: int = 0
    bronze_rows: dict[str, int] = field(default_factory=dict)

    @property
    def files_loaded(self) -> list[str]:
        """Files loaded by this run."""
        return [f["key"] for f in self.loaded if not f["already_loaded"]]

    @property
    def files_already_loaded(self) -> list[str]:
        """Files Snowflake skipped as loaded before (confirmed in bronze), now recorded in the ledger."""
        return [f["key"] for f in self.loaded if f["already_loaded"]]

    @property
    def rows_loaded(self) -> int:
        """Rows inserted by this run."""
        return sum(f["rows_loaded"] for f in self.loaded if not f["already_loaded"])


class SnowflakeBronzeLoader:
    """
    The load logic on an open Snowflake connection (no Airflow): ledger skip, batched COPY, checks, ledger.

    Each COPY statement runs in its own transaction with its files' ledger rows: the statement's rows
    and ledger rows are committed together, or rolled back together when any file fails.

    :param conn: Open DB-API connection (``SnowflakeHook.get_conn()``; the emulator's in tests).
    :param schema: Qualified bronze schema.
    :param stage: Stage on the landing bucket.
    :param file_format: Named Parquet file format.
    :param stage_prefix: Key prefix the stage URL points at ('' for a stage on the bucket root).
    :param max_files_per_copy: Files per COPY statement (at most 1,000).
    :param source_file: Expression of the ``source_file`` column (``METADATA$FILENAME``).
    :param log: Logger.
    """

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
        log: Any = None,
    ) -> None:
        self.conn = conn
        self.schema = schema
        self.stage = stage or f"{schema}.LANDING_STAGE"
        self.file_format = file_format or f"{schema}.LANDING_PARQUET"
        self.stage_prefix = stage_prefix
        self.max_files_per_copy = max_files_per_copy
        self.source_file = source_file
        self.log = log

    def stage_path(self, key: str) -> str:
        """The file's path relative to the stage."""
        if not key.startswith(self.stage_prefix):
            raise BronzeError(f"{key!r} is not under the stage's key prefix {self.stage_prefix!r}")
        return key[len(self.stage_prefix) :]

    def _info(self, message: str, *args: Any) -> None:
        if self.log is not None:
            self.log.info(message, *args)

    def ledger_loaded(self, keys: Sequence[str]) -> set[str]:
        """The keys among ``keys`` that the ledger lists as loaded."""
        found: set[str] = set()
        with self.conn.cursor() as cur:
            for chunk in batches(keys, MAX_FILES_PER_COPY):
                cur.execute(ledger_lookup_sql(len(chunk), schema=self.schema), chunk)
                found.update(str(row[0]) for row in cur.fetchall())
        self.conn.commit()
        return found

    def load(self, files_by_table: Mapping[str, Sequence[LandingFile]]) -> LoadManifest:
        """Load landing files into their bronze tables; files in the ledger are skipped."""
        manifest = LoadManifest()
        keys = [f.key for files in files_by_table.values() for f in files]
        in_ledger = self.ledger_loaded(keys) if keys else set()
        for table, files in files_by_table.items():
            todo = [f for f in files if f.key not in in_ledger]
            manifest.skipped += [f.key for f in files if f.key in in_ledger]
            for batch in batches(todo, self.max_files_per_copy):
                self._load_batch(table, batch, manifest)
        return manifest

    def bronze_rows(self, tables: Iterable[str]) -> dict[str, int]:
        """Row count of each bronze table (Snowflake answers from table metadata)."""
        counts: dict[str, int] = {}
        with self.conn.cursor() as cur:
            for table in tables:
                cur.execute(f"SELECT COUNT(*) FROM {self.schema}.{table.upper()}")
                counts[table] = _int(cur.fetchone()[0])
        self.conn.commit()
        return counts

    def _load_batch(self, table: str, files: Sequence[LandingFile], manifest: LoadManifest) -> None:
        qualified = f"{self.schema}.{table.upper()}"
        by_path = {self.stage_path(f.key): f for f in files}
        sql = copy_into_sql(
            table, list(by_path), schema=self.schema, stage=self.stage, file_format=self.file_format,
            source_file=self.source_file,
        )  # fmt: skip
        try:
            outcome, already = self._copy_and_record(table, qualified, sql, by_path)
            self.conn.commit()
        except BaseException:
            # the batch's rows and ledger rows go together; a failed rollback (dead session) rolls back at close
            with suppress(Exception):
                self.conn.rollback()
            raise
        loaded_rows = sum(r.rows_loaded for r in outcome.loaded.values())
        manifest.copy_statements += 1
        manifest.loaded += [
            {"key": by_path[p].key, "table": table, "rows_loaded": r.rows_loaded, "already_loaded": False}
            for p, r in outcome.loaded.items()
        ]
        manifest.loaded += [
            {"key": by_path[p].key, "table": table, "rows_loaded": rows, "already_loaded": True}
            for p, rows in already.items()
        ]
        self._info(
            "COPY INTO %s: %d file(s), %d loaded (%d rows), %d already loaded per load metadata",
            qualified, len(files), len(outcome.loaded), loaded_rows, len(already),
        )  # fmt: skip

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
                LedgerEntry(by_path[p].key, table, r.rows_loaded, r.as_json()) for p, r in outcome.loaded.items()
            ]
            already = self._confirm_in_bronze(cur, qualified, outcome.skipped, by_path)
            for path, rows in already.items():
                result = outcome.skipped[path]
                copy_result: dict[str, Any] = (
                    result.as_json() if result else {"file": path, "status": None, "reported": False}
                )
                copy_result["rows_in_bronze"] = rows
                entries.append(LedgerEntry(by_path[path].key, table, rows, copy_result))
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


# ------------------------------------------------------------------------------------------- operator


class S3ToSnowflakeBronzeOperator(BaseOperator):
    """
    Load landing files (Parquet change events) into their Snowflake bronze tables, exactly once.

    The Snowflake twin of :class:`~banking_cdc.transfers.s3_to_duckdb.S3ToDuckDBBronzeOperator`: same
    inputs (``file_keys``, ``bucket_name``, ``sweep``, ...) and the same manifest / Asset event keys, so
    the load DAG switches warehouse by configuration alone. Files are grouped by bronze table (from
    their topic, through ``capture.yaml``); files the load ledger lists as ``LOADED`` are skipped; the
    others are loaded with ``COPY INTO ... FILES = (...)`` in batches of at most 1,000, each batch in one
    transaction with its ledger rows. A file that fails fails the task, naming the file and its first
    error, and its batch is rolled back; batches committed before stay, consistent with the ledger,
    and the next run continues from there.

    :param file_keys: Landing object keys to load (templated; e.g. from the landing Asset events).
        ``s3://<bucket_name>/<key>`` URLs and a JSON list in a string are accepted too.
    :param bucket_name: Landing bucket, which the stage's URL points at.
    :param snowflake_conn_id: Airflow connection to Snowflake (its role: the loader role).
    :param aws_conn_id: Airflow connection to the object store, used only by ``sweep``'s listing.
    :param landing_prefix: Key prefix of landing files, listed when ``sweep`` is on.
    :param sweep: Also load every landing file of the captured topics that the ledger does not hold
        (found by a paginated listing), so nothing is missed when an Asset event was.
    :param database: Database of the bronze schema; ``None`` uses the connection's database.
    :param stage: Stage on the landing bucket (default ``[<database>.]BRONZE.LANDING_STAGE``).
    :param file_format: Named file format (default ``[<database>.]BRONZE.LANDING_PARQUET``).
    :param stage_prefix: Key prefix the stage URL points at; '' when the stage is the bucket root.
    :param capture_config_path: ``capture.yaml`` mapping topics to tables; ``None`` reads the packaged one.
    :param max_files_per_copy: Files per COPY statement, 1 to 1,000.
    """

    template_fields: Sequence[str] = (
        "file_keys", "bucket_name", "landing_prefix", "database", "stage", "file_format", "stage_prefix",
    )  # fmt: skip
    ui_color = "#e1f5fe"

    #: expression of the ``source_file`` column; the emulator test replaces it (fakesnow lacks METADATA$ columns)
    copy_source_file: str = COPY_SOURCE_FILE

    def __init__(
        self,
        *,
        file_keys: Sequence[str] | str | None = None,
        bucket_name: str,
        snowflake_conn_id: str = "snowflake_default",
        aws_conn_id: str | None = "aws_default",
        landing_prefix: str = "raw",
        sweep: bool = True,
        database: str | None = None,
        stage: str | None = None,
        file_format: str | None = None,
        stage_prefix: str = "",
        capture_config_path: str | None = None,
        max_files_per_copy: int = MAX_FILES_PER_COPY,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(max_files_per_copy, int) or not 1 <= max_files_per_copy <= MAX_FILES_PER_COPY:
            raise ValueError(
                f"max_files_per_copy must be an integer from 1 to {MAX_FILES_PER_COPY}, got {max_files_per_copy!r}"
            )
        self.file_keys = file_keys if file_keys is not None else []  # may be an XComArg until run time
        self.bucket_name = bucket_name
        self.snowflake_conn_id = snowflake_conn_id
        self.aws_conn_id = aws_conn_id
        self.landing_prefix = landing_prefix
        self.sweep = sweep
        self.database = database
        self.stage = stage
        self.file_format = file_format
        self.stage_prefix = stage_prefix
        self.capture_config_path = capture_config_path
        self.max_files_per_copy = max_files_per_copy

    def get_hook(self) -> SnowflakeHook:
        """The Snowflake hook, built when the task runs (never at parse time)."""
        from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

        return SnowflakeHook(snowflake_conn_id=self.snowflake_conn_id)

    @property
    def schema(self) -> str:
        """The qualified bronze schema."""
        return f"{self.database}.{BRONZE_SCHEMA.upper()}" if self.database else BRONZE_SCHEMA.upper()

    def landing_keys(self) -> list[str]:
        """The rendered ``file_keys`` as object keys: bucket URLs stripped, duplicates dropped, order kept."""
        items: Any = self.file_keys
        if isinstance(items, str):
            items = json.loads(items) if items.lstrip().startswith("[") else [items]
        keys: list[str] = []
        for item in items:
            key = str(item)
            if key.startswith("s3://"):
                bucket, _, rest = key[len("s3://") :].partition("/")
                if bucket != self.bucket_name:
                    raise BronzeError(f"{key!r} is not in the landing bucket {self.bucket_name!r}")
                key = rest
            keys.append(key.lstrip("/"))
        return list(dict.fromkeys(keys))

    def swept_keys(self, capture: CaptureConfig) -> list[str]:
        """Every landing file of the captured topics (paginated listing through ``S3Hook``)."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        s3 = S3Hook(aws_conn_id=self.aws_conn_id)
        return captured_landing_keys(s3, self.bucket_name, self.landing_prefix, capture)

    @staticmethod
    def files_by_table(capture: CaptureConfig, keys: Sequence[str]) -> dict[str, list[LandingFile]]:
        """Parse every key and group the files by bronze table, in ``capture.yaml`` table order."""
        grouped: dict[str, list[LandingFile]] = {table: [] for table in capture.source.tables}
        for key in keys:
            landing = LandingFile.parse(key)
            grouped[bronze_table_for_topic(capture, landing.topic)].append(landing)
        return {table: files for table, files in grouped.items() if files}

    def execute(self, context: Context) -> dict[str, Any]:
        began = time.monotonic()
        capture = CaptureConfig.load(self.capture_config_path)
        named = self.landing_keys()
        keys = list(dict.fromkeys([*named, *(self.swept_keys(capture) if self.sweep else [])]))
        grouped = self.files_by_table(capture, keys)  # every key is checked before Snowflake is contacted
        prefix = self.stage_prefix.strip("/") + "/" if self.stage_prefix.strip("/") else ""
        manifest = LoadManifest()
        if grouped:
            conn = self.get_hook().get_conn()
            try:
                conn.autocommit(False)
                loader = SnowflakeBronzeLoader(
                    conn, schema=self.schema, stage=self.stage, file_format=self.file_format, stage_prefix=prefix,
                    max_files_per_copy=self.max_files_per_copy, source_file=self.copy_source_file, log=self.log,
                )  # fmt: skip
                manifest = loader.load(grouped)
                manifest.bronze_rows = loader.bronze_rows(capture.source.tables)
            finally:
                conn.close()
        result = {
            "backend": "snowflake",
            "loaded": manifest.loaded,
            "files_loaded": len(manifest.files_loaded),
            "files_already_loaded": len(manifest.files_already_loaded),
            "files_skipped": len(manifest.skipped),
            "rows_loaded": manifest.rows_loaded,
            "bronze_rows": manifest.bronze_rows,
            "copy_statements": manifest.copy_statements,
            "seconds": round(time.monotonic() - began, 3),
        }
        self.log.info(
            "%d file(s) named, %d found by the sweep: %d loaded (%d rows) in %d COPY statement(s), "
            "%d already loaded per Snowflake load metadata, %d skipped (ledger); bronze now %s",
            len(named), len(keys) - len(named), result["files_loaded"], result["rows_loaded"],
            result["copy_statements"], result["files_already_loaded"], result["files_skipped"], manifest.bronze_rows,
        )  # fmt: skip
        self._emit_asset_events(context, result)
        return result

    def _emit_asset_events(self, context: Context, manifest: dict[str, Any]) -> None:
        """Attach the files now in bronze and the bronze row counts to this task's Asset events."""
        extra = {
            "backend": "snowflake",
            "files": [f["key"] for f in manifest["loaded"]],
            "bronze_rows": manifest["bronze_rows"],
        }
        set_outlet_extra(context, self.outlets, extra)
