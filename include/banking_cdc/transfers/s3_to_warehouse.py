"""Landing zone (S3) -> warehouse bronze: one operator flow over the warehouse seam, whatever the warehouse.

:class:`S3ToWarehouseBronzeOperator` follows the warehouse switch when it runs (``AIRFLOW_VAR_WAREHOUSE_BACKEND``,
the same switch dbt's target follows), so the load DAG has one load task and no branch. The backend-pinned
:class:`~banking_cdc.transfers.s3_to_duckdb.S3ToDuckDBBronzeOperator` and
:class:`~banking_cdc.transfers.s3_to_snowflake.S3ToSnowflakeBronzeOperator` share its flow:

1. the named files (``file_keys``: the landing Asset events) plus, with ``sweep``, every landing file of the
   captured topics (a paginated listing), so a missed event loses nothing;
2. every key is parsed and mapped to its bronze table before the warehouse is contacted (a bad key fails the
   task naming it);
3. :meth:`Warehouse.load <banking_cdc.warehouse.base.Warehouse.load>`: files in the ledger skipped, each file
   loaded with its ledger row in one transaction;
4. the same manifest on every warehouse (:meth:`LoadReport.manifest <banking_cdc.warehouse.base.LoadReport.manifest>`),
   the files now in bronze and the bronze row counts on the ``bcdc_bronze`` Asset event; a file that failed
   fails the task after the others are loaded, naming it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from banking_cdc.assets import set_outlet_extra
from banking_cdc.capture.config import CaptureConfig
from banking_cdc.settings import AWS_CONN_ID, DUCKDB_CONN_ID, LANDING_PREFIX, POSTGRES_CONN_ID, SNOWFLAKE_CONN_ID
from banking_cdc.warehouse.base import LoadReport, Warehouse
from banking_cdc.warehouse.bronze import BronzeError, LandingFile, bronze_table_for_topic, captured_landing_keys
from banking_cdc.warehouse.snowflake_copy import COPY_SOURCE_FILE, MAX_FILES_PER_COPY


class S3ToWarehouseBronzeOperator(BaseOperator):
    """
    Load landing files into the bronze tables of the warehouse the switch names, exactly once per file.

    :param file_keys: Landing object keys to load (templated; e.g. from the landing Asset events).
        ``s3://<bucket_name>/<key>`` URLs and a JSON list in a string are accepted too.
    :param bucket_name: Landing bucket.
    :param aws_conn_id: Airflow connection to the object store (DuckDB reads the files through it; the
        sweep lists through it).
    :param landing_prefix: Key prefix of landing files, listed when ``sweep`` is on.
    :param sweep: Also load every landing file of the captured topics that the ledger does not hold
        (found by a paginated listing), so nothing is missed when an Asset event was.
    :param capture_config_path: Capture configuration file; ``None`` uses the packaged one.
    :param duckdb_conn_id: Airflow connection of the DuckDB warehouse (``host`` = file path).
    :param snowflake_conn_id: Airflow connection to Snowflake (its role: the loader role).
    :param database: Snowflake database of the bronze schema; ``None`` uses the connection's database.
    :param stage: Snowflake stage on the landing bucket (default ``[<database>.]BRONZE.LANDING_STAGE``).
    :param file_format: Snowflake file format (default ``[<database>.]BRONZE.LANDING_PARQUET``).
    :param stage_prefix: Key prefix the Snowflake stage URL points at; '' when the stage is the bucket root.
    :param max_files_per_copy: Files per Snowflake COPY statement, 1 to 1,000.
    :param postgres_conn_id: Airflow connection to the source database, whose catalog of the captured tables is
        kept in ``bronze.source_columns`` before each load (the generic silver models type their columns from
        it); ``None`` leaves the catalog alone. An unreachable source is a warning: the load goes on.
    """

    template_fields: Sequence[str] = (
        "file_keys", "bucket_name", "landing_prefix", "database", "stage", "file_format", "stage_prefix",
    )  # fmt: skip
    ui_color = "#fff3e0"

    #: the backend this operator loads into; ``None``: the switch, read when the task runs
    pinned_backend: str | None = None
    #: expression of Snowflake's ``source_file`` column; the emulator test replaces it (no METADATA$ columns)
    copy_source_file: str = COPY_SOURCE_FILE

    def __init__(
        self,
        *,
        file_keys: Sequence[str] | str | None = None,
        bucket_name: str,
        aws_conn_id: str | None = AWS_CONN_ID,
        landing_prefix: str = LANDING_PREFIX,
        sweep: bool = True,
        capture_config_path: str | None = None,
        duckdb_conn_id: str = DUCKDB_CONN_ID,
        snowflake_conn_id: str = SNOWFLAKE_CONN_ID,
        database: str | None = None,
        stage: str | None = None,
        file_format: str | None = None,
        stage_prefix: str = "",
        max_files_per_copy: int = MAX_FILES_PER_COPY,
        postgres_conn_id: str | None = POSTGRES_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(max_files_per_copy, int) or not 1 <= max_files_per_copy <= MAX_FILES_PER_COPY:
            raise ValueError(
                f"max_files_per_copy must be an integer from 1 to {MAX_FILES_PER_COPY}, got {max_files_per_copy!r}"
            )
        self.file_keys = file_keys if file_keys is not None else []  # may be an XComArg until run time
        self.bucket_name = bucket_name
        self.aws_conn_id = aws_conn_id
        self.landing_prefix = landing_prefix
        self.sweep = sweep
        self.capture_config_path = capture_config_path
        self.duckdb_conn_id = duckdb_conn_id
        self.snowflake_conn_id = snowflake_conn_id
        self.database = database
        self.stage = stage
        self.file_format = file_format
        self.stage_prefix = stage_prefix
        self.max_files_per_copy = max_files_per_copy
        self.postgres_conn_id = postgres_conn_id

    # ------------------------------------------------------------------------------------- the warehouse

    @property
    def backend(self) -> str:
        """The warehouse this run loads into (the switch when not pinned; read at run time only)."""
        from banking_cdc.warehouse.switch import warehouse_backend

        return self.pinned_backend or warehouse_backend()

    def get_hook(self) -> Any:
        """The Snowflake hook, built when the task runs (never at parse time)."""
        from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

        return SnowflakeHook(snowflake_conn_id=self.snowflake_conn_id)

    @property
    def schema(self) -> str:
        """The qualified Snowflake bronze schema."""
        return f"{self.database}.BRONZE" if self.database else "BRONZE"

    def open_warehouse(self, backend: str) -> Warehouse:
        """Open the warehouse for this load (DuckDB reads the files itself; Snowflake COPYs from its stage)."""
        if backend == "snowflake":
            from banking_cdc.warehouse.snowflake import SnowflakeWarehouse

            prefix = self.stage_prefix.strip("/") + "/" if self.stage_prefix.strip("/") else ""
            return SnowflakeWarehouse(
                self.get_hook().get_conn(), schema=self.schema, stage=self.stage, file_format=self.file_format,
                stage_prefix=prefix, max_files_per_copy=self.max_files_per_copy, source_file=self.copy_source_file,
                replay=self.replay_mode,
            )  # fmt: skip
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from banking_cdc.stage.listing import LandingBucket
        from banking_cdc.warehouse.duckdb import DuckDBWarehouse

        client = S3Hook(aws_conn_id=self.aws_conn_id).get_conn()  # thread-safe; the prefetch thread uses it
        return DuckDBWarehouse(
            self.duckdb_conn_id, landing=LandingBucket(client, self.bucket_name), replay=self.replay_mode
        )

    #: replay mode (DuckDB only; the landing replay sets it)
    replay_mode: bool = False

    # ------------------------------------------------------------------------------------------- inputs

    def landing_keys(self) -> list[str]:
        """The rendered ``file_keys`` as object keys: bucket URLs stripped, duplicates dropped, order kept."""
        items: Any = self.file_keys
        if isinstance(items, str):
            items = json.loads(items) if items.lstrip().startswith("[") else [items]
        keys: list[str] = []
        for item in items or []:
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
    def parse_files(capture: CaptureConfig, keys: Sequence[str]) -> list[LandingFile]:
        """Parse every key and check its topic is captured; raise naming the first bad key."""
        files = [LandingFile.parse(key) for key in keys]
        for landing in files:
            bronze_table_for_topic(capture, landing.topic)
        return files

    def sync_catalog(self, warehouse: Warehouse, capture: CaptureConfig) -> list[Any]:
        """
        Refresh ``bronze.source_columns`` from the source (:mod:`banking_cdc.warehouse.source_columns`); return the
        schema changes. The source being unreachable is logged, not raised: loading does not depend on it.
        """
        if self.postgres_conn_id is None:
            return []
        from datetime import UTC, datetime

        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from banking_cdc.capture.catalog import read_catalog
        from banking_cdc.warehouse.source_columns import sync_source_columns

        try:
            conn = PostgresHook(postgres_conn_id=self.postgres_conn_id).get_conn()
            try:
                with conn.cursor() as cur:
                    columns = read_catalog(cur, capture)
            finally:
                conn.close()
        except Exception as exc:  # noqa: BLE001 - the load goes on; the catalog catches up on a later run
            self.log.warning(
                "Source catalog not refreshed (connection %s: %s: %s); bronze.source_columns keeps its last state",
                self.postgres_conn_id, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "",
            )  # fmt: skip
            return []
        return sync_source_columns(warehouse, columns, datetime.now(UTC))

    # ---------------------------------------------------------------------------------------------- run

    def execute(self, context: Context) -> dict[str, Any]:
        capture = CaptureConfig.load(self.capture_config_path)
        backend = self.backend
        named = self.landing_keys()
        swept = self.swept_keys(capture) if self.sweep and not self.replay_mode else []
        keys = list(dict.fromkeys([*named, *swept]))
        files = self.parse_files(capture, keys)  # every key is checked before the warehouse is contacted
        report = LoadReport(backend=backend)
        changes: list[Any] = []
        if files or backend == "duckdb":  # DuckDB creates its bronze on first use; Snowflake's is set up apart
            with self.open_warehouse(backend) as warehouse:
                if backend == "duckdb":
                    warehouse.setup(capture)
                changes = self.sync_catalog(warehouse, capture)
                report = warehouse.load(files, capture)
        manifest = report.manifest()
        self.log.info(
            "%s: %d file(s) named, %d found by the sweep: %d loaded (%d rows) in %d statement(s), %d already in "
            "bronze, %d skipped (ledger), %d failed; bronze now %s",
            backend, len(named), len(keys) - len(named), manifest["files_loaded"], manifest["rows_loaded"],
            manifest["copy_statements"], manifest["files_already_loaded"], manifest["files_skipped"],
            len(report.failures), manifest["bronze_rows"],
        )  # fmt: skip
        if report.failures:
            raise BronzeError(
                f"{len(report.failures)} file(s) failed to load (the others are loaded): " + "; ".join(report.failures)
            )
        manifest["schema_changes"] = [str(change) for change in changes]
        extra = {
            "backend": backend,
            "files": [f["key"] for f in manifest["loaded"]],
            "bronze_rows": manifest["bronze_rows"],
        }
        set_outlet_extra(context, self.outlets, extra)
        return manifest
