"""One reconciliation run: read the source, read gold, compare."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.capture.source_schema import BANKING_TABLES
from banking_cdc.reconcile.checks import ReconcileOptions, reconcile
from banking_cdc.reconcile.gold import GoldReader, ReconcileSourceError
from banking_cdc.reconcile.report import CheckResult, ReconciliationReport
from banking_cdc.reconcile.snapshot import SourceSnapshot
from banking_cdc.reconcile.source import read_source
from banking_cdc.warehouse.switch import WarehouseChoice

log = logging.getLogger(__name__)


def source_connection(postgres_conn_id: str) -> Any:
    """
    An open connection to the source database (``PostgresHook``); the caller closes it.

    :raises ReconcileSourceError: naming the connection when it cannot be opened.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    try:
        return PostgresHook(postgres_conn_id=postgres_conn_id).get_conn()
    except Exception as exc:
        raise ReconcileSourceError(
            f"cannot connect to the source database (connection {postgres_conn_id!r}): {type(exc).__name__}: {exc}"
        ) from exc


def read_postgres_source(postgres_conn_id: str = "postgres_source") -> SourceSnapshot:
    """
    Read the source through an Airflow PostgreSQL connection (``PostgresHook``, psycopg 3 when installed).

    :param postgres_conn_id: Airflow connection to the source database.
    :raises ReconcileSourceError: naming the connection when it cannot be opened or read.
    """
    conn = source_connection(postgres_conn_id)
    try:
        return read_source(conn)
    except Exception as exc:
        raise ReconcileSourceError(
            f"cannot read the source database (connection {postgres_conn_id!r}): {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        conn.close()


def run_reconciliation(
    reader: GoldReader,
    options: ReconcileOptions,
    postgres_conn_id: str = "postgres_source",
    capture: CaptureConfig | None = None,
) -> ReconciliationReport:
    """
    Compare gold with the source database (when the banking tables are captured), and every captured table with
    its generic silver model (:mod:`banking_cdc.reconcile.generic`; strict mode only).

    The source is read first, then gold: in grace mode a change that reaches gold between the two reads
    is newer than the source cut, which is the safe direction (gold ahead of the source only for keys
    changed in the window, which grace leaves out).

    :param reader: The warehouse's gold reader (:func:`banking_cdc.reconcile.gold.gold_reader`).
    :param options: Strict or grace.
    :param postgres_conn_id: Airflow connection to the source database.
    :param capture: The capture configuration; ``None`` reads it (``capture.yaml``).
    """
    capture = capture or CaptureConfig.load()
    banking = set(BANKING_TABLES) <= set(capture.source.tables)
    if banking:
        source = read_postgres_source(postgres_conn_id)
        report = reconcile(source, reader.read(), options, warehouse=reader.backend)
    else:
        report = ReconciliationReport(
            mode="strict" if options.strict else "grace", grace_minutes=options.grace_minutes,
            source_taken_at=datetime.now(UTC), warehouse=reader.backend,
        )  # fmt: skip
        report.notes.append("gold checks not run: the banking tables are not all captured (capture.yaml)")
    if not options.strict:
        report.notes.append("generic silver checks not run: they are strict only (a quiet source)")
    elif isinstance(reader, WarehouseChoice):
        report.results.extend(_generic(capture, reader, postgres_conn_id))
    log.info("reconciliation: %d checks, %d differ", len(report.results), len(report.failures))
    return report


def _generic(capture: CaptureConfig, reader: WarehouseChoice, postgres_conn_id: str) -> list[CheckResult]:
    """The generic checks (:func:`banking_cdc.reconcile.generic.generic_checks`) over both connections."""
    from banking_cdc.reconcile.generic import generic_checks

    conn = source_connection(postgres_conn_id)
    try:
        with reader.open_warehouse() as warehouse:
            return generic_checks(capture, conn, warehouse)
    finally:
        conn.close()
