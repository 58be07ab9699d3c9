"""One generator run: connect, optionally apply the schema, run the chosen mode, return the summary."""

from __future__ import annotations

import logging
from typing import Any

from banking_cdc.capture.source_schema import apply_source_schema
from banking_cdc.generator.bulk import BulkLoader
from banking_cdc.generator.config import GeneratorConfig, GeneratorMode
from banking_cdc.generator.db import connect, prepare_session
from banking_cdc.generator.invariants import check_invariants
from banking_cdc.generator.progress import progress_bar
from banking_cdc.generator.summary import RunSummary
from banking_cdc.generator.workload import WorkloadEngine

log = logging.getLogger(__name__)


def run(config: GeneratorConfig, conn: Any | None = None) -> dict[str, Any]:
    """
    Run the generator as configured; return the JSON-safe summary (money as exact decimal strings).

    :param config: What to do.
    :param conn: An open DB-API connection to use (left open); by default one is opened from ``config.dsn`` or
        ``config.conn_id`` and closed afterwards.
    """
    own = conn is None
    if conn is None:
        conn = connect(config)
    try:
        if config.apply_schema:
            apply_source_schema(conn)
        if config.mode is GeneratorMode.CHECK:
            violations = check_invariants(conn)
            return {"mode": config.mode.value, "seed": config.seed, "violations": violations}
        prepare_session(conn)
        summary = RunSummary(mode=config.mode.value, seed=config.seed)
        if config.mode is GeneratorMode.BULK:
            _run_bulk(config, conn, summary)
        else:
            _run_workload(config, conn, summary)
        summary.finish()
        result = summary.to_dict()
        if config.verify:
            result["invariants"] = check_invariants(conn)
        log.info(
            "generator %s run done: %d operations, %d rows written in %.1f s",
            result["mode"],
            result["operations_total"],
            result["rows_written"],
            result["elapsed_seconds"],
        )
        return result
    finally:
        if own:
            conn.close()


def _run_workload(config: GeneratorConfig, conn: Any, summary: RunSummary) -> None:
    engine = WorkloadEngine(conn, seed=config.seed, start_time=config.start_time)
    if config.mode is GeneratorMode.EVENTS:
        assert config.events is not None
        with progress_bar(config.progress, "operations", config.events) as progress:
            engine.run_events(config.events, summary, progress)
    else:
        assert config.rate is not None and config.duration is not None
        with progress_bar(config.progress, f"{config.rate:g} operations/s", config.duration, "s") as progress:
            engine.run_steady(config.rate, config.duration, summary, progress)


def _run_bulk(config: GeneratorConfig, conn: Any, summary: RunSummary) -> None:
    assert config.customers is not None
    loader = BulkLoader(conn, seed=config.seed, start_time=config.start_time, chunk_rows=config.chunk_rows)
    customers, per_customer = config.customers, config.bulk_accounts_per_customer
    transactions = config.bulk_transactions
    total = customers + customers * per_customer + transactions
    with progress_bar(config.progress, "bulk rows", total) as progress:
        loader.run(customers, per_customer, transactions, summary, progress)
