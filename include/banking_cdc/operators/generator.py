"""Airflow task that writes a realistic banking workload into the source PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from airflow.sdk import BaseOperator, Context

from banking_cdc.generator.config import DEFAULT_CHUNK_ROWS, DEFAULT_CONN_ID, DEFAULT_START_TIME, GeneratorConfig
from banking_cdc.generator.invariants import InvariantViolationError


class WorkloadGeneratorOperator(BaseOperator):
    """
    Generate seeded banking activity in the source database: ``events`` operations, a steady ``rate`` for
    ``duration`` seconds, or a ``bulk`` backfill. Returns the run's summary (counts and money totals as exact
    decimal strings, never row data), which is pushed to XCom.

    :param postgres_conn_id: Airflow connection to the source database (templated).
    :param seed: Seed of every random choice; the same seed into a fresh database gives identical rows (templated).
    :param events: Perform exactly this many operations (templated).
    :param rate: Steady mode: operations per second (templated).
    :param duration: Steady mode: seconds to run (templated).
    :param bulk: Load backfill-size data with COPY.
    :param customers: Bulk mode: customers to create (templated).
    :param accounts_per_customer: Bulk mode: accounts per customer, default 2 (templated).
    :param transactions: Bulk mode: transaction rows in total, default 10 per account (templated).
    :param start_time: Start of the simulated business clock, a timezone-aware datetime or ISO-8601 string;
        the clock resumes after data already present (templated).
    :param apply_schema: Apply the source schema (idempotent) before generating.
    :param verify: Check the source invariants afterwards and fail the task on a violation.
    :param chunk_rows: Bulk mode: rows per COPY chunk and commit.
    """

    template_fields: Sequence[str] = (
        "postgres_conn_id",
        "seed",
        "events",
        "rate",
        "duration",
        "customers",
        "accounts_per_customer",
        "transactions",
        "start_time",
    )
    ui_color = "#fff3e0"

    def __init__(
        self,
        *,
        postgres_conn_id: str = DEFAULT_CONN_ID,
        seed: int | str = 0,
        events: int | str | None = None,
        rate: float | str | None = None,
        duration: float | str | None = None,
        bulk: bool = False,
        customers: int | str | None = None,
        accounts_per_customer: int | str | None = None,
        transactions: int | str | None = None,
        start_time: datetime | str = DEFAULT_START_TIME,
        apply_schema: bool = False,
        verify: bool = False,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.postgres_conn_id = postgres_conn_id
        self.seed = seed
        self.events = events
        self.rate = rate
        self.duration = duration
        self.bulk = bulk
        self.customers = customers
        self.accounts_per_customer = accounts_per_customer
        self.transactions = transactions
        self.start_time = start_time
        self.apply_schema = apply_schema
        self.verify = verify
        self.chunk_rows = chunk_rows

    def build_config(self) -> GeneratorConfig:
        """The validated generator configuration (templated fields rendered)."""
        return GeneratorConfig(
            seed=self.seed,  # type: ignore[arg-type]  # validated and coerced by GeneratorConfig
            events=self.events,  # type: ignore[arg-type]
            rate=self.rate,  # type: ignore[arg-type]
            duration=self.duration,  # type: ignore[arg-type]
            bulk=self.bulk,
            customers=self.customers,  # type: ignore[arg-type]
            accounts_per_customer=self.accounts_per_customer,  # type: ignore[arg-type]
            transactions=self.transactions,  # type: ignore[arg-type]
            start_time=self.start_time,  # type: ignore[arg-type]
            conn_id=self.postgres_conn_id,
            apply_schema=self.apply_schema,
            verify=self.verify,
            progress=False,
            chunk_rows=self.chunk_rows,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from banking_cdc.generator.runner import run

        config = self.build_config()
        conn = PostgresHook(postgres_conn_id=self.postgres_conn_id).get_conn()
        try:
            summary = run(config, conn)
        finally:
            conn.close()
        self.log.info(
            "%s run (seed %s): %d operations, rows %s, %.1f rows/s",
            summary["mode"],
            summary["seed"],
            summary["operations_total"],
            {table: counts["total"] for table, counts in summary["rows"].items()},
            summary["rows_per_second"] or 0.0,
        )
        if "rate" in summary and not summary["rate"]["kept_up"]:
            self.log.warning(
                "the target rate was not kept: %s/s achieved of %s/s",
                summary["rate"]["achieved"],
                summary["rate"]["target"],
            )
        violations = summary.get("invariants") or []
        if violations:
            raise InvariantViolationError(violations)
        return summary
