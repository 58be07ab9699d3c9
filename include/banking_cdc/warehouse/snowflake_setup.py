"""Snowflake setup SQL: rendering and applying ``sql/snowflake/*.sql`` (the seam's Snowflake ``setup``).

* ``00_admin.sql`` - roles, warehouses, storage integration, grants: run once by an administrator
  (ACCOUNTADMIN / SECURITYADMIN), never by the pipeline;
* ``10_database.sql``, ``20_landing.sql``, ``30_bronze.sql`` - database and schemas, file format and
  stage, bronze tables and load ledger: applied by the ``warehouse_setup`` DAG through :func:`apply_setup`
  as the objects' owner (SYSADMIN). The bronze tables are generated from :mod:`banking_cdc.warehouse.bronze`
  and the ledger from :mod:`banking_cdc.warehouse.base`, the contracts shared with the DuckDB warehouse.

The emulator (fakesnow) runs files 10-30 (``tests/integration/snowflake``); ``00_admin.sql`` is golden-tested
only (``tests/unit/warehouse/test_snowflake_setup.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files as package_files
from io import StringIO
from typing import Any

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.exceptions import BankingCdcError
from banking_cdc.settings import DEFAULT_LANDING_BUCKET
from banking_cdc.stage.landing import LANDING_SCHEMA
from banking_cdc.warehouse.base import ledger_ddl
from banking_cdc.warehouse.bronze import BRONZE_COLUMNS, BRONZE_SCHEMA, LANDING_COLUMNS, LOAD_COLUMNS

ADMIN_FILE = "00_admin.sql"
PIPELINE_SETUP_FILES: tuple[str, ...] = ("10_database.sql", "20_landing.sql", "30_bronze.sql")
SETUP_FILES: tuple[str, ...] = (ADMIN_FILE, *PIPELINE_SETUP_FILES)


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")
_QUALIFIED = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$")
_STAGE_URL = re.compile(r"^(s3|s3compat|gcs|azure|file)://[^'\\\s]+/$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+$")
_CREDENTIAL = re.compile(r"^[A-Za-z0-9+/=_.-]+$")


class SnowflakeSetupError(BankingCdcError):
    """The Snowflake setup SQL cannot be rendered or applied; the message names the setting or file."""


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
    stage_url: str = f"s3://{DEFAULT_LANDING_BUCKET}/"
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
        for name, _duckdb_type, sf_type in LANDING_COLUMNS
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
    values["load_ledger"] = ledger_ddl("snowflake", schema=f"{setup.database}.{BRONZE_SCHEMA.upper()}")
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
