"""Snowflake bronze without Snowflake: golden SQL, COPY result checks, batching and the ledger (fake hook).

The statements golden-tested here are the production ones; the fakesnow emulator runs all of them
but ``00_admin.sql`` and ``METADATA$FILENAME`` (tests/integration/snowflake/test_fakesnow_bronze.py).
"""

from __future__ import annotations

import re
from typing import Any
from unittest import mock

import pytest

from banking_cdc.settings import DEFAULT_LANDING_BUCKET
from banking_cdc.stage.landing import object_key
from banking_cdc.transfers.s3_to_snowflake import S3ToSnowflakeBronzeOperator
from banking_cdc.warehouse.bronze import LEDGER_TABLE, BronzeError, LandingFile
from banking_cdc.warehouse.snowflake_copy import (
    MAX_FILES_PER_COPY,
    CopyFileResult,
    LedgerEntry,
    batches,
    check_copy_results,
    copy_into_sql,
    ledger_merge_sql,
    match_reported_file,
    parse_copy_result,
)
from banking_cdc.warehouse.snowflake_setup import (
    PIPELINE_SETUP_FILES,
    SETUP_FILES,
    SnowflakeSetup,
    SnowflakeSetupError,
    StageCredentials,
    apply_setup,
    bronze_table_ddl,
    render_setup_file,
    render_sql,
    split_sql,
)

BUCKET = DEFAULT_LANDING_BUCKET
COPY_COLUMNS = ("file", "status", "rows_parsed", "rows_loaded", "error_limit", "errors_seen", "first_error",
                "first_error_line", "first_error_character", "first_error_column_name")  # fmt: skip
DESCRIPTION = [(name, None) for name in COPY_COLUMNS]


def key(table: str, partition: int, first: int, last: int | None = None) -> str:
    return object_key("raw", f"bank.public.{table}", partition, first, first if last is None else last)


def row(file: str, status: str = "LOADED", rows: int = 3, errors: int = 0, first_error: str | None = None,
        line: int | None = None, column: str | None = None) -> tuple[Any, ...]:  # fmt: skip
    loaded = rows if status == "LOADED" else 0
    return (file, status, rows, loaded, 1, errors, first_error, line, None, column)


# ------------------------------------------------------------------------------------------ golden SQL

GOLDEN_COPY = """\
COPY INTO BRONZE.CUSTOMERS (
    KAFKA_TOPIC,
    KAFKA_PARTITION,
    KAFKA_OFFSET,
    KAFKA_TIMESTAMP,
    KAFKA_KEY,
    IS_TOMBSTONE,
    OP,
    EVENT_TS_MS,
    SOURCE_TS_MS,
    SOURCE_LSN,
    SOURCE_TX_ID,
    SOURCE_SNAPSHOT,
    SOURCE_DB,
    SOURCE_SCHEMA,
    SOURCE_TABLE,
    BEFORE_JSON,
    AFTER_JSON,
    SOURCE_FILE,
    LOADED_AT
)
FROM (
    SELECT
        $1:kafka_topic::VARCHAR,
        $1:kafka_partition::NUMBER(10,0),
        $1:kafka_offset::NUMBER(19,0),
        $1:kafka_timestamp::TIMESTAMP_TZ,
        $1:kafka_key::VARCHAR,
        $1:is_tombstone::BOOLEAN,
        $1:op::VARCHAR,
        $1:event_ts_ms::NUMBER(19,0),
        $1:source_ts_ms::NUMBER(19,0),
        $1:source_lsn::NUMBER(19,0),
        $1:source_tx_id::NUMBER(19,0),
        $1:source_snapshot::VARCHAR,
        $1:source_db::VARCHAR,
        $1:source_schema::VARCHAR,
        $1:source_table::VARCHAR,
        PARSE_JSON($1:before_json::VARCHAR),
        PARSE_JSON($1:after_json::VARCHAR),
        METADATA$FILENAME,
        CURRENT_TIMESTAMP()
    FROM @BRONZE.LANDING_STAGE
)
FILES = (\
'raw/bank.public.customers/partition=0/00000000000000000000-00000000000000000009.parquet', \
'raw/bank.public.customers/partition=0/00000000000000000010-00000000000000000019.parquet', \
'raw/bank.public.customers/partition=2/00000000000000000000-00000000000000000004.parquet')
FILE_FORMAT = (FORMAT_NAME = 'BRONZE.LANDING_PARQUET')
ON_ERROR = ABORT_STATEMENT"""


def test_copy_statement_for_three_files_is_golden() -> None:
    files = [key("customers", 0, 0, 9), key("customers", 0, 10, 19), key("customers", 2, 0, 4)]
    assert copy_into_sql("customers", files) == GOLDEN_COPY


def test_copy_statement_qualifies_and_escapes() -> None:
    sql = copy_into_sql("accounts", ["it's\\odd.parquet"], schema="DB.BRONZE", source_file="filename")
    assert sql.startswith("COPY INTO DB.BRONZE.ACCOUNTS (\n")
    assert "FROM @DB.BRONZE.LANDING_STAGE\n" in sql and "FORMAT_NAME = 'DB.BRONZE.LANDING_PARQUET'" in sql
    assert "FILES = ('it''s\\\\odd.parquet')" in sql
    assert "        filename,\n" in sql and "METADATA$FILENAME" not in sql


def test_copy_statement_takes_one_to_1000_files() -> None:
    with pytest.raises(BronzeError, match="no file"):
        copy_into_sql("customers", [])
    with pytest.raises(BronzeError, match="1001 files > 1000"):
        copy_into_sql("customers", [f"f{i}" for i in range(1001)])
    assert copy_into_sql("customers", [f"f{i}" for i in range(1000)]).count(", 'f") == 999


GOLDEN_BRONZE_TABLE = """\
CREATE TABLE IF NOT EXISTS BANKING.BRONZE.CUSTOMERS (
    KAFKA_TOPIC VARCHAR NOT NULL,
    KAFKA_PARTITION NUMBER(10,0) NOT NULL,
    KAFKA_OFFSET NUMBER(19,0) NOT NULL,
    KAFKA_TIMESTAMP TIMESTAMP_TZ,
    KAFKA_KEY VARCHAR,
    IS_TOMBSTONE BOOLEAN NOT NULL,
    OP VARCHAR,
    EVENT_TS_MS NUMBER(19,0),
    SOURCE_TS_MS NUMBER(19,0),
    SOURCE_LSN NUMBER(19,0),
    SOURCE_TX_ID NUMBER(19,0),
    SOURCE_SNAPSHOT VARCHAR,
    SOURCE_DB VARCHAR,
    SOURCE_SCHEMA VARCHAR,
    SOURCE_TABLE VARCHAR,
    BEFORE_JSON VARIANT,
    AFTER_JSON VARIANT,
    SOURCE_FILE VARCHAR NOT NULL,
    LOADED_AT TIMESTAMP_TZ NOT NULL,
    CONSTRAINT CUSTOMERS_PK PRIMARY KEY (KAFKA_TOPIC, KAFKA_PARTITION, KAFKA_OFFSET)
)
COMMENT = 'banking-cdc: change events of public.customers (append-only, one row per Kafka offset)';"""


def test_bronze_table_ddl_is_generated_from_the_contract() -> None:
    assert bronze_table_ddl("customers", "public.customers", schema="BANKING.BRONZE") == GOLDEN_BRONZE_TABLE


def test_bronze_setup_file_renders_every_captured_table_and_the_ledger() -> None:
    statements = split_sql(render_setup_file("30_bronze.sql"))
    assert [s.split("(")[0].strip() for s in statements] == [
        "CREATE TABLE IF NOT EXISTS BANKING.BRONZE.CUSTOMERS",
        "CREATE TABLE IF NOT EXISTS BANKING.BRONZE.ACCOUNTS",
        "CREATE TABLE IF NOT EXISTS BANKING.BRONZE.TRANSACTIONS",
        f"CREATE TABLE IF NOT EXISTS BANKING.BRONZE.{LEDGER_TABLE.upper()}",
    ]
    assert statements[0] == GOLDEN_BRONZE_TABLE.rstrip(";")
    assert "CONSTRAINT LOAD_LEDGER_PK PRIMARY KEY (FILE_KEY)" in statements[3]
    for column in ("FILE_KEY VARCHAR NOT NULL", "BRONZE_TABLE VARCHAR NOT NULL",
                   "ROWS_IN_FILE NUMBER(19,0) NOT NULL", "ROWS_LOADED NUMBER(19,0) NOT NULL",
                   "FIRST_OFFSET NUMBER(19,0) NOT NULL", "LAST_OFFSET NUMBER(19,0) NOT NULL",
                   "LOADED_AT TIMESTAMP_TZ NOT NULL", "LOAD_DETAIL VARIANT,"):  # fmt: skip
        assert column in statements[3]


ADMIN_SETUP = SnowflakeSetup(
    database="BANK_DB", loader_role="BCDC_LOADER", transformer_role="BCDC_TRANSFORMER", analyst_role="BCDC_ANALYST",
    load_warehouse="BCDC_LOAD_WH", transform_warehouse="BCDC_TRANSFORM_WH", bi_warehouse="BCDC_BI_WH",
    storage_integration="BCDC_LANDING", stage_url="s3://bank-landing/",
    storage_aws_role_arn="arn:aws:iam::123456789012:role/bcdc-landing-read",
)  # fmt: skip

GOLDEN_ADMIN = [
    "USE ROLE SECURITYADMIN",
    "CREATE ROLE IF NOT EXISTS BCDC_LOADER\n"
    "    COMMENT = 'banking-cdc: loads landing files into BRONZE (COPY INTO, load ledger); append-only'",
    "CREATE ROLE IF NOT EXISTS BCDC_TRANSFORMER\n"
    "    COMMENT = 'banking-cdc: dbt; reads BRONZE, builds SILVER and GOLD'",
    "CREATE ROLE IF NOT EXISTS BCDC_ANALYST\n    COMMENT = 'banking-cdc: BI and analysts; reads GOLD only'",
    "GRANT ROLE BCDC_LOADER TO ROLE SYSADMIN",
    "GRANT ROLE BCDC_TRANSFORMER TO ROLE SYSADMIN",
    "GRANT ROLE BCDC_ANALYST TO ROLE SYSADMIN",
    "USE ROLE SYSADMIN",
    "CREATE WAREHOUSE IF NOT EXISTS BCDC_LOAD_WH\n"
    "    WAREHOUSE_SIZE = 'XSMALL' AUTO_SUSPEND = 60 AUTO_RESUME = TRUE INITIALLY_SUSPENDED = TRUE\n"
    "    COMMENT = 'banking-cdc: COPY INTO bronze'",
    "ALTER WAREHOUSE BCDC_LOAD_WH SET AUTO_SUSPEND = 60 AUTO_RESUME = TRUE",
    "CREATE WAREHOUSE IF NOT EXISTS BCDC_TRANSFORM_WH\n"
    "    WAREHOUSE_SIZE = 'XSMALL' AUTO_SUSPEND = 60 AUTO_RESUME = TRUE INITIALLY_SUSPENDED = TRUE\n"
    "    COMMENT = 'banking-cdc: dbt builds (silver, gold)'",
    "ALTER WAREHOUSE BCDC_TRANSFORM_WH SET AUTO_SUSPEND = 60 AUTO_RESUME = TRUE",
    "CREATE WAREHOUSE IF NOT EXISTS BCDC_BI_WH\n"
    "    WAREHOUSE_SIZE = 'XSMALL' AUTO_SUSPEND = 60 AUTO_RESUME = TRUE INITIALLY_SUSPENDED = TRUE\n"
    "    COMMENT = 'banking-cdc: BI and analysts on gold'",
    "ALTER WAREHOUSE BCDC_BI_WH SET AUTO_SUSPEND = 60 AUTO_RESUME = TRUE",
    "USE ROLE ACCOUNTADMIN",
    "CREATE STORAGE INTEGRATION IF NOT EXISTS BCDC_LANDING\n"
    "    TYPE = EXTERNAL_STAGE\n"
    "    STORAGE_PROVIDER = 'S3'\n"
    "    ENABLED = TRUE\n"
    "    STORAGE_AWS_ROLE_ARN = 'arn:aws:iam::123456789012:role/bcdc-landing-read'\n"
    "    STORAGE_ALLOWED_LOCATIONS = ('s3://bank-landing/')\n"
    "    COMMENT = 'banking-cdc: read-only access to the landing bucket'",
    "GRANT USAGE ON INTEGRATION BCDC_LANDING TO ROLE SYSADMIN",
    "USE ROLE SYSADMIN",
    "CREATE DATABASE IF NOT EXISTS BANK_DB",
    "CREATE SCHEMA IF NOT EXISTS BANK_DB.BRONZE",
    "CREATE SCHEMA IF NOT EXISTS BANK_DB.SILVER",
    "CREATE SCHEMA IF NOT EXISTS BANK_DB.GOLD",
    "USE ROLE SECURITYADMIN",
    "GRANT USAGE ON WAREHOUSE BCDC_LOAD_WH TO ROLE BCDC_LOADER",
    "GRANT USAGE ON DATABASE BANK_DB TO ROLE BCDC_LOADER",
    "GRANT USAGE ON SCHEMA BANK_DB.BRONZE TO ROLE BCDC_LOADER",
    "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA BANK_DB.BRONZE TO ROLE BCDC_LOADER",
    "GRANT SELECT, INSERT ON FUTURE TABLES IN SCHEMA BANK_DB.BRONZE TO ROLE BCDC_LOADER",
    "GRANT USAGE ON ALL STAGES IN SCHEMA BANK_DB.BRONZE TO ROLE BCDC_LOADER",
    "GRANT USAGE ON FUTURE STAGES IN SCHEMA BANK_DB.BRONZE TO ROLE BCDC_LOADER",
    "GRANT USAGE ON ALL FILE FORMATS IN SCHEMA BANK_DB.BRONZE TO ROLE BCDC_LOADER",
    "GRANT USAGE ON FUTURE FILE FORMATS IN SCHEMA BANK_DB.BRONZE TO ROLE BCDC_LOADER",
    "GRANT USAGE ON WAREHOUSE BCDC_TRANSFORM_WH TO ROLE BCDC_TRANSFORMER",
    "GRANT USAGE ON DATABASE BANK_DB TO ROLE BCDC_TRANSFORMER",
    "GRANT USAGE ON SCHEMA BANK_DB.BRONZE TO ROLE BCDC_TRANSFORMER",
    "GRANT SELECT ON ALL TABLES IN SCHEMA BANK_DB.BRONZE TO ROLE BCDC_TRANSFORMER",
    "GRANT SELECT ON FUTURE TABLES IN SCHEMA BANK_DB.BRONZE TO ROLE BCDC_TRANSFORMER",
    "GRANT USAGE, CREATE TABLE, CREATE VIEW ON SCHEMA BANK_DB.SILVER TO ROLE BCDC_TRANSFORMER",
    "GRANT USAGE, CREATE TABLE, CREATE VIEW ON SCHEMA BANK_DB.GOLD TO ROLE BCDC_TRANSFORMER",
    "GRANT USAGE ON WAREHOUSE BCDC_BI_WH TO ROLE BCDC_ANALYST",
    "GRANT USAGE ON DATABASE BANK_DB TO ROLE BCDC_ANALYST",
    "GRANT USAGE ON SCHEMA BANK_DB.GOLD TO ROLE BCDC_ANALYST",
    "GRANT SELECT ON ALL TABLES IN SCHEMA BANK_DB.GOLD TO ROLE BCDC_ANALYST",
    "GRANT SELECT ON FUTURE TABLES IN SCHEMA BANK_DB.GOLD TO ROLE BCDC_ANALYST",
    "GRANT SELECT ON ALL VIEWS IN SCHEMA BANK_DB.GOLD TO ROLE BCDC_ANALYST",
    "GRANT SELECT ON FUTURE VIEWS IN SCHEMA BANK_DB.GOLD TO ROLE BCDC_ANALYST",
]


def test_admin_file_is_golden() -> None:
    assert split_sql(render_setup_file("00_admin.sql", ADMIN_SETUP)) == GOLDEN_ADMIN


def test_admin_grants_are_least_privilege() -> None:
    grants = [s for s in GOLDEN_ADMIN if s.startswith("GRANT ")]
    loader = [g for g in grants if g.endswith("TO ROLE BCDC_LOADER")]
    analyst = [g for g in grants if g.endswith("TO ROLE BCDC_ANALYST")]
    assert not any(word in g for g in loader for word in ("UPDATE", "DELETE", "TRUNCATE", "OWNERSHIP", "CREATE"))
    assert not any(".BRONZE" in g or ".SILVER" in g for g in analyst)
    assert not any("ALL PRIVILEGES" in g or "OWNERSHIP" in g for g in grants)


def test_pipeline_setup_files_never_switch_role_or_grant() -> None:
    for name in PIPELINE_SETUP_FILES:
        for statement in split_sql(render_setup_file(name)):
            assert statement.startswith("CREATE ") and " IF NOT EXISTS " in statement, statement
            assert "OR REPLACE" not in statement


def test_landing_setup_uses_the_storage_integration_by_default() -> None:
    file_format, stage = split_sql(render_setup_file("20_landing.sql", ADMIN_SETUP))
    assert file_format == (
        "CREATE FILE FORMAT IF NOT EXISTS BANK_DB.BRONZE.LANDING_PARQUET\n"
        "    TYPE = PARQUET\n"
        "    COMMENT = 'banking-cdc: landing change files (Parquet)'"
    )
    assert stage == (
        "CREATE STAGE IF NOT EXISTS BANK_DB.BRONZE.LANDING_STAGE\n"
        "    URL = 's3://bank-landing/'\n"
        "    STORAGE_INTEGRATION = BCDC_LANDING\n"
        "    FILE_FORMAT = (FORMAT_NAME = 'BANK_DB.BRONZE.LANDING_PARQUET')\n"
        "    COMMENT = 'banking-cdc: landing zone (read-only)'"
    )


def test_stage_credentials_come_from_the_caller_and_are_never_logged() -> None:
    credentials = StageCredentials("AKIAEXAMPLEKEY", "s3cr3t/Secret+Key=")
    assert "s3cr3t" not in repr(credentials)
    stage = split_sql(render_setup_file("20_landing.sql", stage_credentials=credentials))[1]
    assert "    CREDENTIALS = (AWS_KEY_ID = 'AKIAEXAMPLEKEY' AWS_SECRET_KEY = 's3cr3t/Secret+Key=')\n" in stage
    assert "STORAGE_INTEGRATION" not in stage
    conn, log = mock.MagicMock(), mock.MagicMock()
    apply_setup(conn, files=["20_landing.sql"], stage_credentials=credentials, log=log)
    executed = [c.args[0] for c in conn.cursor.return_value.__enter__.return_value.execute.call_args_list]
    assert executed[1] == stage
    assert "s3cr3t" not in str(log.mock_calls)
    failing = mock.MagicMock()
    failing.cursor.return_value.__enter__.return_value.execute.side_effect = RuntimeError(f"bad token {stage}")
    with pytest.raises(SnowflakeSetupError) as failed:
        apply_setup(failing, files=["20_landing.sql"], stage_credentials=credentials)
    assert "s3cr3t" not in str(failed.value) and failed.value.__cause__ is None
    with pytest.raises(SnowflakeSetupError, match="aws_secret_key"):
        StageCredentials("AKIA", "quote'injection")


def test_setup_names_are_validated_naming_the_setting() -> None:
    with pytest.raises(SnowflakeSetupError, match="loader_role"):
        SnowflakeSetup(loader_role="LOADER; DROP DATABASE X")
    with pytest.raises(SnowflakeSetupError, match="stage_url"):
        SnowflakeSetup(stage_url="s3://bucket-without-slash")
    with pytest.raises(SnowflakeSetupError, match="storage_aws_role_arn"):
        SnowflakeSetup(storage_aws_role_arn="arn:aws:iam::1:user/x")
    # the admin file needs the IAM role; the pipeline's files do not
    with pytest.raises(SnowflakeSetupError, match="storage_aws_role_arn"):
        render_setup_file("00_admin.sql")
    for name in PIPELINE_SETUP_FILES:
        assert "{{" not in render_setup_file(name)


def test_renderer_names_a_missing_placeholder() -> None:
    assert render_sql("USE {{ database }}; USE {{database}}", {"database": "X"}) == "USE X; USE X"
    with pytest.raises(SnowflakeSetupError, match=re.escape("10_database.sql: no value for placeholder {{ nope }}")):
        render_sql("CREATE {{ nope }}", {}, source="10_database.sql")
    with pytest.raises(SnowflakeSetupError, match="not a Snowflake setup file"):
        render_setup_file("99_other.sql")
    assert SETUP_FILES[0] == "00_admin.sql"


def test_ledger_merge_is_insert_only_and_keyed_by_file() -> None:
    assert ledger_merge_sql(2) == (
        "MERGE INTO BRONZE.LOAD_LEDGER AS ledger\n"
        "USING (\n"
        "    SELECT column1 AS FILE_KEY, column2 AS BRONZE_TABLE, column3 AS ROWS_IN_FILE, column4 AS ROWS_LOADED, "
        "column5 AS FIRST_OFFSET, column6 AS LAST_OFFSET, PARSE_JSON(column7) AS LOAD_DETAIL\n"
        "    FROM VALUES\n"
        "        (%s, %s, %s, %s, %s, %s, %s),\n"
        "        (%s, %s, %s, %s, %s, %s, %s)\n"
        ") AS loaded\n"
        "ON ledger.FILE_KEY = loaded.FILE_KEY\n"
        "WHEN NOT MATCHED THEN INSERT (FILE_KEY, BRONZE_TABLE, ROWS_IN_FILE, ROWS_LOADED, FIRST_OFFSET, LAST_OFFSET, "
        "LOADED_AT, LOAD_DETAIL)\n"
        "    VALUES (loaded.FILE_KEY, loaded.BRONZE_TABLE, loaded.ROWS_IN_FILE, loaded.ROWS_LOADED, "
        "loaded.FIRST_OFFSET, loaded.LAST_OFFSET, CURRENT_TIMESTAMP(), loaded.LOAD_DETAIL)"
    )
    landing = LandingFile.parse(key("customers", 0, 7, 9))
    entry = LedgerEntry(landing, "customers", 3, 2, {"status": "LOADED"})
    assert entry.params() == (landing.key, "customers", 3, 2, 7, 9, '{"status": "LOADED"}')


# ------------------------------------------------------------------------------------- result parsing


def test_result_rows_loaded_skipped_and_failed() -> None:
    a, b, c = key("customers", 0, 0), key("customers", 0, 1), key("customers", 0, 2)
    rows = [
        row(f"s3://{BUCKET}/{a}", "LOADED", rows=5),
        row(f"s3://{BUCKET}/{b}", "LOAD_SKIPPED", rows=0, errors=1, first_error="File was loaded before."),
        row(f"s3://{BUCKET}/{c}", "LOAD_FAILED", rows=4, errors=1, line=2, column='"CUSTOMERS"["KAFKA_OFFSET":3]',
            first_error="Numeric value 'abc' is not recognized"),
    ]  # fmt: skip
    results = parse_copy_result(DESCRIPTION, rows)
    assert results[0] == CopyFileResult(f"s3://{BUCKET}/{a}", "LOADED", 5, 5, 0)
    assert results[1].first_error == "File was loaded before."
    with pytest.raises(BronzeError) as failed:
        check_copy_results("BRONZE.CUSTOMERS", [a, b, c], results)
    message = str(failed.value)
    assert message.startswith("COPY INTO BRONZE.CUSTOMERS failed for 1 file(s): ")
    assert f"{c}: status LOAD_FAILED" in message and "Numeric value 'abc' is not recognized" in message
    assert "(line 2, column" in message
    assert a not in message and b not in message

    outcome = check_copy_results("BRONZE.CUSTOMERS", [a, b], results[:2])
    assert list(outcome.loaded) == [a] and list(outcome.skipped) == [b]


def test_files_left_out_of_the_result_are_skips_by_load_metadata() -> None:
    a, b = key("accounts", 0, 0), key("accounts", 1, 0)
    nothing = parse_copy_result([("status", None)], [("Copy executed with 0 files processed.",)])
    assert nothing == []
    assert check_copy_results("BRONZE.ACCOUNTS", [a, b], nothing).skipped == {a: None, b: None}
    outcome = check_copy_results("BRONZE.ACCOUNTS", [a, b], parse_copy_result(DESCRIPTION, [row(f"s3://x/{b}")]))
    assert list(outcome.loaded) == [b] and outcome.skipped == {a: None}


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (row("s3://x/raw/unasked.parquet"), "reported by COPY INTO but not requested"),
        (row("s3://x/{f}", "PARTIALLY_LOADED", errors=2, first_error="bad row"), "status PARTIALLY_LOADED"),
        (("s3://x/{f}", "LOADED", 5, 4, 1, 0, None, None, None, None), "4/5 rows loaded"),
        (row("s3://x/{f}", "LOADED", errors=1, first_error="odd"), "first error: odd"),
    ],
)
def test_anything_but_a_clean_load_or_skip_fails(result: tuple[Any, ...], expected: str) -> None:
    f = key("transactions", 0, 7)
    result = (result[0].replace("{f}", f), *result[1:])
    with pytest.raises(BronzeError, match=re.escape(expected)):
        check_copy_results("BRONZE.TRANSACTIONS", [f], parse_copy_result(DESCRIPTION, [result]))


def test_reported_names_match_the_longest_requested_path() -> None:
    requested = {"raw/t/partition=0/a.parquet": 1, "t/partition=0/a.parquet": 2}
    assert match_reported_file("s3://b/raw/t/partition=0/a.parquet", requested) == "raw/t/partition=0/a.parquet"
    assert match_reported_file("file:///tmp/x/raw/t/partition=0/a.parquet", requested) == "raw/t/partition=0/a.parquet"
    assert match_reported_file("raw/t/partition=0/a.parquet", requested) == "raw/t/partition=0/a.parquet"
    assert match_reported_file("s3://b/other.parquet", requested) is None


def test_batches() -> None:
    assert [len(b) for b in batches(list(range(2500)))] == [1000, 1000, 500]
    assert batches([], 3) == [] and batches([1, 2, 3], 3) == [[1, 2, 3]]
    with pytest.raises(ValueError, match="batch size"):
        batches([1], 0)


# ------------------------------------------------------------------------- the operator on a fake hook


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self.description: list[tuple[str, None]] | None = None
        self.rows: list[tuple[Any, ...]] = []

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str, params: Any = None) -> FakeCursor:
        self.conn.statements.append((sql, params))
        if sql.startswith("SELECT FILE_KEY FROM"):
            self.description, self.rows = [("FILE_KEY", None)], [(k,) for k in params if k in self.conn.ledger]
        elif sql.startswith("COPY INTO"):
            if self.conn.copy_error is not None:
                raise self.conn.copy_error
            files = re.findall(r"'([^']+)'", sql.split("FILES = (", 1)[1].split(")\n", 1)[0])
            self.description, self.rows = DESCRIPTION, [r for f in files if (r := self.conn.copy_row(f)) is not None]
        elif sql.startswith("SELECT COUNT(*)") and params is None:  # a table's total
            self.description, self.rows = [("COUNT(*)", None)], [(self.conn.totals.get(sql.split()[-1], 0),)]
        elif sql.startswith("SELECT COUNT(*)"):  # a file's offsets
            self.description, self.rows = [("COUNT(*)", None)], [(self.conn.in_bronze.get(tuple(params[:2]), 0),)]
        elif sql.startswith("MERGE INTO"):
            self.conn.merged.extend(params[0::7])
            self.description, self.rows = [("number of rows inserted", None)], [(len(params) // 7,)]
        else:
            raise AssertionError(f"unexpected statement {sql[:40]!r}")
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


class FakeConnection:
    """A Snowflake connection: ledger contents, COPY answers and bronze offsets are set by the test."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.ledger: set[str] = set()
        self.merged: list[str] = []
        self.in_bronze: dict[tuple[str, int], int] = {}
        self.totals: dict[str, int] = {}
        self.copy_error: Exception | None = None
        self.answers: dict[str, tuple[Any, ...] | None] = {}
        self.events: list[str] = []

    def copy_row(self, path: str) -> tuple[Any, ...] | None:
        return self.answers.get(path, row(f"s3://{BUCKET}/{path}"))

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def autocommit(self, flag: bool) -> None:
        self.events.append(f"autocommit={flag}")

    def commit(self) -> None:
        self.events.append("commit")

    def rollback(self) -> None:
        self.events.append("rollback")

    def close(self) -> None:
        self.events.append("close")

    def copies(self) -> list[str]:
        return [sql for sql, _ in self.statements if sql.startswith("COPY INTO")]


@pytest.fixture
def conn() -> FakeConnection:
    return FakeConnection()


def run(conn: FakeConnection, files: Any, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("sweep", False)
    kwargs.setdefault("postgres_conn_id", None)  # the source catalog's sync has tests of its own
    op = S3ToSnowflakeBronzeOperator(task_id="load_bronze", file_keys=files, bucket_name=BUCKET, **kwargs)
    hook = mock.MagicMock()
    hook.get_conn.return_value = conn
    with mock.patch.object(S3ToSnowflakeBronzeOperator, "get_hook", return_value=hook):
        return op.execute(context={})


def files_of(copy_sql: str) -> list[str]:
    return re.findall(r"'([^']+\.parquet)'", copy_sql)


def loaded(manifest: dict[str, Any], already: bool = False) -> list[str]:
    return [f["key"] for f in manifest["loaded"] if f["already_loaded"] is already]


def test_2500_files_are_copied_in_three_statements(conn: FakeConnection) -> None:
    keys = [key("transactions", 0, offset) for offset in range(2500)]
    manifest = run(conn, keys)
    assert [len(files_of(sql)) for sql in conn.copies()] == [1000, 1000, 500]
    assert [f for sql in conn.copies() for f in files_of(sql)] == keys
    assert manifest["copy_statements"] == 3 and manifest["rows_loaded"] == 7500
    assert loaded(manifest) == keys and conn.merged == keys and manifest["files_loaded"] == 2500
    # lookup; one transaction per statement: 3 x (COPY + MERGE + commit); bronze totals; close
    assert conn.events == ["autocommit=False", "commit", "commit", "commit", "commit", "commit", "close"]


def test_files_are_grouped_by_table_in_capture_order(conn: FakeConnection) -> None:
    keys = [key("transactions", 1, 5), key("customers", 0, 1), key("accounts", 2, 3), key("customers", 1, 9)]
    manifest = run(conn, keys)
    assert [sql.split(" (")[0] for sql in conn.copies()] == [
        "COPY INTO BRONZE.CUSTOMERS", "COPY INTO BRONZE.ACCOUNTS", "COPY INTO BRONZE.TRANSACTIONS",
    ]  # fmt: skip
    assert files_of(conn.copies()[0]) == [keys[1], keys[3]]
    assert [(f["key"], f["table"], f["rows_loaded"]) for f in manifest["loaded"]] == [
        (keys[1], "customers", 3), (keys[3], "customers", 3), (keys[2], "accounts", 3), (keys[0], "transactions", 3),
    ]  # fmt: skip


def test_files_in_the_ledger_are_skipped_without_a_copy(conn: FakeConnection) -> None:
    keys = [key("customers", 0, 0), key("customers", 0, 1), key("customers", 0, 2)]
    conn.ledger = {keys[0], keys[2]}
    manifest = run(conn, keys)
    assert [files_of(sql) for sql in conn.copies()] == [[keys[1]]]
    assert manifest["files_skipped"] == 2 and loaded(manifest) == [keys[1]]
    lookup = [(sql, params) for sql, params in conn.statements if sql.startswith("SELECT FILE_KEY")]
    assert lookup == [("SELECT FILE_KEY FROM BRONZE.LOAD_LEDGER WHERE FILE_KEY IN (%s, %s, %s)", keys)]

    again = FakeConnection()
    again.ledger = set(keys)
    manifest = run(again, keys)
    assert again.copies() == [] and again.merged == []
    assert manifest["files_skipped"] == 3 and manifest["rows_loaded"] == 0 and manifest["copy_statements"] == 0
    assert manifest["loaded"] == []


def test_a_load_metadata_skip_is_confirmed_in_bronze_and_recorded(conn: FakeConnection) -> None:
    a, b = key("accounts", 1, 40, 49), key("accounts", 2, 0, 9)
    conn.answers = {a: None}  # Snowflake leaves a file its load metadata skipped out of the result
    conn.in_bronze = {("bank.public.accounts", 1): 10}
    manifest = run(conn, [a, b])
    assert loaded(manifest) == [b] and loaded(manifest, already=True) == [a]
    assert manifest["files_loaded"] == manifest["files_already_loaded"] == 1 and manifest["rows_loaded"] == 3
    count = next((sql, p) for sql, p in conn.statements if sql.startswith("SELECT COUNT(*)"))
    assert count == (
        "SELECT COUNT(*) FROM BRONZE.ACCOUNTS "
        "WHERE KAFKA_TOPIC = %s AND KAFKA_PARTITION = %s AND KAFKA_OFFSET BETWEEN %s AND %s",
        ["bank.public.accounts", 1, 40, 49],
    )
    merge_params = next(p for sql, p in conn.statements if sql.startswith("MERGE INTO"))
    assert merge_params[0::7] == [b, a] and merge_params[3::7] == [3, 10]  # FILE_KEY, ROWS_LOADED
    assert merge_params[4::7] == [0, 40] and merge_params[5::7] == [9, 49]  # the files' offset ranges
    assert '"rows_in_bronze": 10' in merge_params[13]


def test_a_skipped_file_without_rows_in_bronze_fails_and_rolls_back(conn: FakeConnection) -> None:
    a, b = key("accounts", 0, 0), key("accounts", 0, 1)
    conn.answers = {
        a: row(f"s3://{BUCKET}/{a}", "LOAD_SKIPPED", rows=0, errors=1, first_error="File was loaded before.")
    }
    with pytest.raises(BronzeError, match=re.escape(f"skipped {a} (first error: File was loaded before.) as already")):
        run(conn, [a, b])
    assert conn.merged == []
    assert conn.events == ["autocommit=False", "commit", "rollback", "close"]  # no commit after the lookup


def test_a_failed_file_fails_the_task_naming_it_and_rolls_back(conn: FakeConnection) -> None:
    good, bad = key("customers", 0, 0), key("customers", 0, 1)
    conn.answers = {bad: row(f"s3://{BUCKET}/{bad}", "LOAD_FAILED", errors=1, first_error="Invalid parquet file")}
    with pytest.raises(BronzeError) as failed:
        run(conn, [good, bad])
    assert f"{bad}: status LOAD_FAILED" in str(failed.value) and "Invalid parquet file" in str(failed.value)
    assert good not in str(failed.value)
    assert conn.merged == [] and "rollback" in conn.events and conn.events.count("commit") == 1


def test_a_copy_error_names_the_file_it_mentions(conn: FakeConnection) -> None:
    good, bad = key("customers", 0, 0), key("customers", 0, 1)
    conn.copy_error = RuntimeError(f"100096 (22000): Error parsing the parquet file: 's3://{BUCKET}/{bad}'")
    with pytest.raises(BronzeError, match=re.escape(f"COPY INTO BRONZE.CUSTOMERS failed for {bad}: 100096")):
        run(conn, [good, bad])
    assert conn.events[-2:] == ["rollback", "close"]

    other = FakeConnection()
    other.copy_error = RuntimeError("Warehouse 'LOAD_WH' cannot be resumed")
    with pytest.raises(BronzeError, match=re.escape(f"failed for {good}, {bad}: Warehouse")):
        run(other, [good, bad])


def test_keys_are_checked_before_snowflake_is_contacted() -> None:
    op = S3ToSnowflakeBronzeOperator(
        task_id="t", file_keys=["raw/not-a-landing-key.parquet"], bucket_name=BUCKET, sweep=False
    )
    with mock.patch.object(S3ToSnowflakeBronzeOperator, "get_hook") as get_hook:
        with pytest.raises(BronzeError, match="not a landing file key"):
            op.execute(context={})
        op.file_keys = [key("customers", 0, 0), object_key("raw", "bank.public.loans", 0, 0, 0)]
        with pytest.raises(BronzeError, match=re.escape("'bank.public.loans' is not a captured table's topic")):
            op.execute(context={})
        op.file_keys = [f"s3://another-bucket/{key('customers', 0, 0)}"]
        with pytest.raises(BronzeError, match="not in the landing bucket 'banking-landing'"):
            op.execute(context={})
    get_hook.assert_not_called()


def test_urls_json_lists_and_duplicates_are_normalised(conn: FakeConnection) -> None:
    a = key("customers", 0, 0)
    manifest = run(conn, f'["s3://{BUCKET}/{a}", "{a}"]')
    assert loaded(manifest) == [a] and files_of(conn.copies()[0]) == [a]
    nothing = FakeConnection()
    assert run(nothing, [])["loaded"] == [] and nothing.events == []  # nothing named: no connection at all


def test_stage_prefix_makes_paths_relative_to_the_stage(conn: FakeConnection) -> None:
    a = key("customers", 0, 0)
    run(conn, [a], stage_prefix="raw/", database="BANK_DB")
    sql = conn.copies()[0]
    assert f"FILES = ('{a.removeprefix('raw/')}')" in sql
    assert "COPY INTO BANK_DB.BRONZE.CUSTOMERS" in sql and "FROM @BANK_DB.BRONZE.LANDING_STAGE" in sql
    assert conn.merged == [a]  # the ledger keeps the object key
    with pytest.raises(BronzeError, match="not under the stage's key prefix 'quarantine/'"):
        run(FakeConnection(), [a], stage_prefix="quarantine")


def test_operator_builds_no_hook_at_construction_and_templates_its_inputs() -> None:
    with mock.patch("airflow.providers.snowflake.hooks.snowflake.SnowflakeHook") as hook:
        op = S3ToSnowflakeBronzeOperator(task_id="t", file_keys="{{ ti.xcom_pull('x') }}", bucket_name=BUCKET)
    hook.assert_not_called()
    assert op.snowflake_conn_id == "snowflake_default" and op.aws_conn_id == "aws_default"
    assert {"file_keys", "bucket_name", "landing_prefix", "stage", "stage_prefix"} <= set(op.template_fields)
    with pytest.raises(ValueError, match="max_files_per_copy"):
        S3ToSnowflakeBronzeOperator(task_id="t", bucket_name=BUCKET, max_files_per_copy=MAX_FILES_PER_COPY + 1)


def test_asset_events_carry_the_files_in_bronze(conn: FakeConnection) -> None:
    a, b = key("customers", 0, 0), key("customers", 0, 1)
    conn.answers = {a: None}
    conn.in_bronze = {("bank.public.customers", 0): 2}
    conn.totals = {"BRONZE.CUSTOMERS": 5}
    outlet = mock.sentinel.bronze
    events: dict[Any, Any] = {outlet: mock.MagicMock()}
    op = S3ToSnowflakeBronzeOperator(
        task_id="t", file_keys=[a, b], bucket_name=BUCKET, sweep=False, outlets=[], postgres_conn_id=None
    )
    op.outlets = [outlet]
    hook = mock.MagicMock()
    hook.get_conn.return_value = conn
    with mock.patch.object(S3ToSnowflakeBronzeOperator, "get_hook", return_value=hook):
        op.execute(context={"outlet_events": events})
    assert events[outlet].extra == {
        "backend": "snowflake", "files": [b, a], "bronze_rows": {"customers": 5, "accounts": 0, "transactions": 0},
    }  # fmt: skip


def test_the_sweep_adds_unloaded_landing_files_from_a_paginated_listing(conn: FakeConnection) -> None:
    named, listed, other = key("customers", 0, 0), key("accounts", 1, 5), key("accounts", 1, 6)
    conn.ledger = {other}
    listing = {
        "raw/bank.public.customers/": [named],
        "raw/bank.public.accounts/": [listed, other, "raw/bank.public.accounts/_SUCCESS"],
        "raw/bank.public.transactions/": [],
    }
    with (
        mock.patch("airflow.providers.amazon.aws.hooks.s3.S3Hook") as s3_hook,
        mock.patch("banking_cdc.stage.listing.iter_keys", side_effect=lambda s3, b, p: iter(listing[p])) as it,
    ):
        manifest = run(conn, [named], sweep=True, aws_conn_id="landing_s3")
    s3_hook.assert_called_once_with(aws_conn_id="landing_s3")
    assert [c.args[1:] for c in it.call_args_list] == [(BUCKET, prefix) for prefix in listing]
    assert loaded(manifest) == [named, listed] and manifest["files_skipped"] == 1


def test_replay_statements_copy_into_a_temporary_twin_and_insert_only_missing_coordinates() -> None:
    from banking_cdc.warehouse.snowflake_copy import replay_statements

    statements = replay_statements("accounts", schema="BANK_DB.BRONZE")
    assert statements["use"] == "USE SCHEMA BANK_DB.BRONZE"
    assert statements["create"] == "CREATE OR REPLACE TEMPORARY TABLE ACCOUNTS__REPLAY LIKE BANK_DB.BRONZE.ACCOUNTS"
    anti_join = (
        "FROM ACCOUNTS__REPLAY AS r WHERE NOT EXISTS (SELECT 1 FROM BANK_DB.BRONZE.ACCOUNTS AS b WHERE "
        "b.KAFKA_TOPIC = r.KAFKA_TOPIC AND b.KAFKA_PARTITION = r.KAFKA_PARTITION AND b.KAFKA_OFFSET = r.KAFKA_OFFSET)"
    )
    assert statements["count"] == f"SELECT r.SOURCE_FILE, COUNT(*) {anti_join} GROUP BY r.SOURCE_FILE"
    assert statements["insert"].startswith("INSERT INTO BANK_DB.BRONZE.ACCOUNTS (KAFKA_TOPIC, ")
    assert statements["insert"].endswith(anti_join)
    assert statements["drop"] == "DROP TABLE IF EXISTS ACCOUNTS__REPLAY"
    forced = copy_into_sql("accounts", ["raw/a.parquet"], force=True)
    assert forced.endswith("ON_ERROR = ABORT_STATEMENT\nFORCE = TRUE")
    assert not copy_into_sql("accounts", ["raw/a.parquet"]).endswith("FORCE = TRUE")
