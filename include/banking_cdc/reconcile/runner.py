"""One reconciliation run: read the source, read gold, compare."""

from __future__ import annotations

import logging

from banking_cdc.reconcile.checks import ReconcileOptions, reconcile
from banking_cdc.reconcile.gold import GoldReader, ReconcileSourceError
from banking_cdc.reconcile.report import ReconciliationReport
from banking_cdc.reconcile.snapshot import SourceSnapshot
from banking_cdc.reconcile.source import read_source

log = logging.getLogger(__name__)


def read_postgres_source(postgres_conn_id: str = "postgres_source") -> SourceSnapshot:
    """
    Read the source through an Airflow PostgreSQL connection (``PostgresHook``, psycopg 3 when installed).

    :param postgres_conn_id: Airflow connection to the source database.
    :raises ReconcileSourceError: naming the connection when it cannot be opened or read.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    try:
        conn = PostgresHook(postgres_conn_id=postgres_conn_id).get_conn()
    except Exception as exc:
        raise ReconcileSourceError(
            f"cannot connect to the source database (connection {postgres_conn_id!r}): {type(exc).__name__}: {exc}"
        ) from exc
    try:
        return read_source(conn)
    except Exception as exc:
        raise ReconcileSourceError(
            f"cannot read the source database (connection {postgres_conn_id!r}): {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        conn.close()


def run_reconciliation(
    reader: GoldReader, options: ReconcileOptions, postgres_conn_id: str = "postgres_source"
) -> ReconciliationReport:
    """
    Compare gold with the source database.

    The source is read first, then gold: in grace mode a change that reaches gold between the two reads
    is newer than the source cut, which is the safe direction (gold ahead of the source only for keys
    changed in the window, which grace leaves out).

    :param reader: The warehouse's gold reader (:func:`banking_cdc.reconcile.gold.gold_reader`).
    :param options: Strict or grace.
    :param postgres_conn_id: Airflow connection to the source database.
    """
    source = read_postgres_source(postgres_conn_id)
    gold = reader.read()
    report = reconcile(source, gold, options, warehouse=reader.backend)
    log.info("reconciliation: %d checks, %d differ", len(report.results), len(report.failures))
    return report
