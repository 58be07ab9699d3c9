"""Airflow task that compares gold with the source database and fails on any difference."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from banking_cdc.operators.warehouse import WarehouseReadOperator
from banking_cdc.reconcile.checks import ReconcileConfigError, ReconcileOptions


class ReconcileOperator(WarehouseReadOperator):
    """
    Reconcile gold with the source database: row counts, sums of money to the cent, current dimension
    rows, SCD2 versions and deleted keys, per table (:mod:`banking_cdc.reconcile.checks`).

    The report (keys and counts, never row data) is logged as a table and returned (XCom, JSON-safe).
    Any difference fails the task with :class:`~airflow.sdk.exceptions.AirflowFailException` naming every
    failing check and table: a difference is a finding, not a transient error, so it is not retried
    (retries still cover connection errors). On DuckDB the task must run in the pool ``duckdb_writer``.

    :param postgres_conn_id: Airflow connection to the source database (templated).
    :param grace_minutes: 0 = strict (quiesced source); N = leave out keys changed in the last N minutes on
        the database's clock (templated, e.g. ``"{{ params.grace_minutes }}"``).

    The warehouse arguments (``warehouse_backend``, ``duckdb_conn_id``, ``snowflake_conn_id``, all templated)
    are those of :class:`~banking_cdc.operators.warehouse.WarehouseReadOperator`.
    """

    template_fields: Sequence[str] = (
        "postgres_conn_id",
        "grace_minutes",
        "warehouse_backend",
        "duckdb_conn_id",
        "snowflake_conn_id",
    )
    ui_color = "#e3f2fd"

    def __init__(
        self, *, postgres_conn_id: str = "postgres_source", grace_minutes: int | str = 0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.postgres_conn_id = postgres_conn_id
        self.grace_minutes = grace_minutes

    def options(self) -> ReconcileOptions:
        """The comparison options from the (rendered) ``grace_minutes``."""
        try:
            grace = int(str(self.grace_minutes).strip())
        except ValueError as exc:
            raise ReconcileConfigError(f"grace_minutes must be an integer >= 0, got {self.grace_minutes!r}") from exc
        return ReconcileOptions(grace_minutes=grace)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from banking_cdc.reconcile.gold import gold_reader
        from banking_cdc.reconcile.runner import run_reconciliation

        options = self.options()
        backend = self.resolve_backend()
        reader = gold_reader(backend, duckdb_conn_id=self.duckdb_conn_id, snowflake_conn_id=self.snowflake_conn_id)
        report = run_reconciliation(reader, options, postgres_conn_id=self.postgres_conn_id)
        self.log.info("reconciliation report:\n%s", report.render())
        if not report.ok:
            raise AirflowFailException(
                f"reconciliation found differences in {len(report.failures)} of {len(report.results)} checks: "
                f"{report.failure_summary()}"
            )
        return report.to_dict()
