"""Replay landing files of a time range into bronze (DuckDB or Snowflake), without Kafka.

The landing zone is the long-term copy of every change event (Kafka keeps 7 days). A replay selects the
landing files that landed (object ``LastModified``) in ``[start, end)``, optionally only some tables' topics,
and loads them with the bronze loader in replay mode (the warehouse seam's ``replay``):
every file goes through the anti-join on bronze's Kafka coordinates whether or not the ledger holds it, so

- rows bronze lost (a bronze table dropped, bronze restored from an older backup, ledger rows deleted) come
  back exactly once;
- rows still present are counted, never added: replaying loaded files is a no-op, and the report says so
  (files seen, rows inserted, rows already present).

Whole files are replayed (a file is the unit of the ledger), so the range selects files, not rows; a wide
range costs time, never correctness. Silver reads bronze by ``loaded_at``, so restored rows reach silver
and gold on the next dbt run (the replay emits the ``bcdc_bronze`` Asset when it runs in the DAG).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.settings import DEFAULT_LANDING_BUCKET, LANDING_PREFIX
from banking_cdc.transfers.s3_to_warehouse import S3ToWarehouseBronzeOperator
from banking_cdc.warehouse.bronze import BronzeError


def parse_instant(name: str, value: Any) -> datetime:
    """
    An aware datetime from an ISO 8601 string or a datetime; naive values are taken as UTC.

    :param name: Param name, for the error.
    :param value: The value.
    :raises BronzeError: The value is not a date-time (names the param).
    """
    if isinstance(value, datetime):
        instant = value
    else:
        try:
            instant = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise BronzeError(
                f"param {name!r} must be an ISO 8601 date-time (2026-01-31T02:00:00Z), got {value!r}"
            ) from exc
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def replay_tables(capture: CaptureConfig, tables: Any) -> list[str]:
    """The tables to replay: all captured ones when ``tables`` is empty, else validated (unknown -> error naming it)."""
    if tables in (None, "", []):
        return list(capture.source.tables)
    from banking_cdc.operate.resync import ResyncError, resync_tables

    try:
        return resync_tables(capture, tables)
    except ResyncError as exc:
        raise BronzeError(str(exc)) from exc


def landing_keys_between(
    s3_hook: Any,
    bucket: str,
    landing_prefix: str,
    capture: CaptureConfig,
    tables: Sequence[str],
    start: datetime,
    end: datetime,
) -> list[str]:
    """
    Landing files of ``tables`` whose object landed (``LastModified``) in ``[start, end)``, by a paginated listing.

    :param s3_hook: An ``S3Hook`` of the object store.
    :param bucket: Landing bucket.
    :param landing_prefix: Key prefix of landing files.
    :param capture: The capture configuration (topic of each table).
    :param tables: Tables whose topics are listed.
    :param start: First instant (inclusive).
    :param end: Last instant (exclusive).
    """
    from banking_cdc.stage.listing import iter_objects

    keys: list[str] = []
    for table in tables:
        prefix = f"{landing_prefix.strip('/')}/{capture.topic(table)}/"
        for key, modified in iter_objects(s3_hook, bucket, prefix):
            if key.endswith(".parquet") and start <= modified < end:
                keys.append(key)
    return keys


class LandingReplayOperator(S3ToWarehouseBronzeOperator):
    """
    Reload the landing files of a time range into bronze, exactly once per Kafka coordinate, on the warehouse
    the switch names (DuckDB: an anti-join per file; Snowflake: ``COPY ... FORCE = TRUE`` into a temporary twin
    of the bronze table, then an anti-join insert).

    :param start: First landing time (inclusive), ISO 8601; naive means UTC.
    :param end: End of the range (exclusive), ISO 8601; naive means UTC.
    :param tables: Source tables to replay; empty replays every captured table.
    :param bucket_name: Landing bucket.
    :param aws_conn_id: Airflow connection to the object store.
    :param duckdb_conn_id: Airflow connection of the DuckDB warehouse.
    :param snowflake_conn_id: Airflow connection to Snowflake.
    :param landing_prefix: Key prefix of landing files.
    :param capture_config_path: Capture configuration file; ``None`` uses the packaged one.
    """

    template_fields: Sequence[str] = (*S3ToWarehouseBronzeOperator.template_fields, "start", "end", "tables")
    ui_color = "#ffe0b2"
    replay_mode = True

    def __init__(self, *, start: Any, end: Any, tables: Any = None, **kwargs: Any) -> None:
        kwargs.update(sweep=False)
        super().__init__(**kwargs)
        self.start = start
        self.end = end
        self.tables = tables

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        capture = CaptureConfig.load(self.capture_config_path)
        start, end = parse_instant("start", self.start), parse_instant("end", self.end)
        if start >= end:
            raise BronzeError(f"replay range is empty: start {start.isoformat()} is not before end {end.isoformat()}")
        tables = replay_tables(capture, self.tables)
        s3 = S3Hook(aws_conn_id=self.aws_conn_id)
        self.file_keys = landing_keys_between(s3, self.bucket_name, self.landing_prefix, capture, tables, start, end)
        self.log.info(
            "Replay of %s landed in [%s, %s): %d landing file(s)",
            tables, start.isoformat(), end.isoformat(), len(self.file_keys),
        )  # fmt: skip
        manifest = super().execute(context)
        report = {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "tables": tables,
            "files_seen": manifest["files_loaded"],
            "rows_in_files": manifest["rows_in_files"],
            "rows_inserted": manifest["rows_loaded"],
            "rows_already_present": manifest["rows_in_files"] - manifest["rows_loaded"],
            "bronze_rows": manifest["bronze_rows"],
            "seconds": manifest["seconds"],
        }
        if report["rows_inserted"] == 0:
            self.log.info(
                "Replay was a no-op: %d file(s) seen, all %d row(s) already in bronze",
                report["files_seen"], report["rows_already_present"],
            )  # fmt: skip
        else:
            self.log.info(
                "Replay restored %d row(s) from %d file(s); %d row(s) were already in bronze",
                report["rows_inserted"], report["files_seen"], report["rows_already_present"],
            )  # fmt: skip
        return report


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m banking_cdc.transfers.landing_replay --start ... --end ...``: the replay outside Airflow.

    Connections come from the environment (``AIRFLOW_CONN_*``, e.g. ``source .state/airflow.env``). DuckDB
    has one writer: pause ``cdc_load_bronze`` (or let it finish) first. Prints the report as JSON.
    """
    parser = argparse.ArgumentParser(
        prog="python -m banking_cdc.transfers.landing_replay",
        description="Reload landing files that landed in [start, end) into DuckDB bronze, exactly once.",
    )
    parser.add_argument("--start", required=True, help="ISO 8601, inclusive (naive = UTC)")
    parser.add_argument("--end", required=True, help="ISO 8601, exclusive (naive = UTC)")
    parser.add_argument("--tables", default="", help="comma-separated source tables (default: all captured)")
    parser.add_argument("--bucket", default=DEFAULT_LANDING_BUCKET)
    parser.add_argument("--landing-prefix", default=LANDING_PREFIX)
    parser.add_argument("--aws-conn-id", default="aws_default")
    parser.add_argument("--duckdb-conn-id", default="duckdb_default")
    args = parser.parse_args(argv)
    operator = LandingReplayOperator(
        task_id="replay_landing",
        start=args.start,
        end=args.end,
        tables=args.tables,
        bucket_name=args.bucket,
        landing_prefix=args.landing_prefix,
        aws_conn_id=args.aws_conn_id,
        duckdb_conn_id=args.duckdb_conn_id,
    )
    report = operator.execute(context={})
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
