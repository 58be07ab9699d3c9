"""Which warehouse the pipeline uses — the embedded DuckDB (default) or Snowflake — one switch for everything.

The switch is the environment variable ``AIRFLOW_VAR_WAREHOUSE_BACKEND`` (which Airflow also serves as the
Variable ``warehouse_backend``). Loaders, readers (monitoring, resync, replay, reconciliation) and dbt all
follow it: dbt's target is fixed when Cosmos renders the transform DAG, at parse time, where only the
environment can be read; so the loaders read the same environment variable when they run. A
``warehouse_backend`` Variable stored in the metadata database (the UI) could only move the loaders and
leave dbt behind: when a task finds one without the environment variable, it fails naming both settings
instead of splitting the warehouse.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal, cast

from banking_cdc.exceptions import BankingCdcError
from banking_cdc.settings import (
    DEFAULT_WAREHOUSE,
    DUCKDB_CONN_ID,
    SNOWFLAKE_CONN_ID,
    WAREHOUSE_ENV,
    WAREHOUSE_VARIABLE,
    WAREHOUSES,
)

if TYPE_CHECKING:
    from banking_cdc.stage.listing import LandingBucket
    from banking_cdc.warehouse.base import Warehouse
    from banking_cdc.warehouse.snowflake_setup import SnowflakeSetup

WarehouseBackend = Literal["duckdb", "snowflake"]


class WarehouseConfigError(BankingCdcError):
    """The warehouse switch is misconfigured; the message names the setting."""


def _validated(value: object, source: str) -> WarehouseBackend:
    backend = str(value).strip().lower() if value is not None else ""
    if backend not in WAREHOUSES:
        raise WarehouseConfigError(f"{source} must be one of {', '.join(WAREHOUSES)}, got {value!r}")
    return cast(WarehouseBackend, backend)


def warehouse_backend(explicit: str | None = None, *, check_variable: bool = True) -> WarehouseBackend:
    """
    Return the warehouse backend: ``explicit`` if given, else the switch (``AIRFLOW_VAR_WAREHOUSE_BACKEND``).

    Values are case-insensitive and stripped. Safe at parse time with ``check_variable=False``.

    :param explicit: A backend chosen by the caller (e.g. an operator argument); skips the switch.
    :param check_variable: When the environment variable is not set, also ask Airflow for the Variable
        ``warehouse_backend`` (a task at run time): one found there (the metadata database, a secrets backend)
        is refused unless it names the default, because the dbt DAG, rendered at parse time, cannot see it.
    :raises WarehouseConfigError: naming the setting when the value is not a backend, or when the Variable is
        set where only the loaders would see it.
    """
    if explicit is not None:
        return _validated(explicit, "argument explicit")
    value = os.environ.get(WAREHOUSE_ENV)
    if value is not None:
        return _validated(value, f"Airflow Variable {WAREHOUSE_VARIABLE!r}")
    if check_variable:
        from airflow.sdk import Variable

        stored = Variable.get(WAREHOUSE_VARIABLE, default=None)
        # one that agrees with the environment's default changes nothing; any other would split the warehouse
        if stored is not None and str(stored).strip().lower() != DEFAULT_WAREHOUSE:
            raise WarehouseConfigError(
                f"Airflow Variable {WAREHOUSE_VARIABLE!r} is set to {stored!r} outside the environment (metadata "
                f"database or secrets backend), where the dbt DAG cannot see it: loads and dbt would use different "
                f"warehouses. Set the environment variable {WAREHOUSE_ENV} instead and delete the Variable"
            )
    return cast(WarehouseBackend, DEFAULT_WAREHOUSE)


def dbt_target() -> WarehouseBackend:
    """The dbt target, at parse time: the switch's environment variable only (DuckDB when unset)."""
    try:
        return warehouse_backend(check_variable=False)
    except WarehouseConfigError as exc:
        raise WarehouseConfigError(f"environment variable {WAREHOUSE_ENV}: {exc}") from exc


def open_warehouse(
    backend: str | None = None,
    *,
    read_only: bool = False,
    duckdb_conn_id: str = DUCKDB_CONN_ID,
    snowflake_conn_id: str = SNOWFLAKE_CONN_ID,
    database: str | None = None,
    landing: LandingBucket | None = None,
    snowflake_setup: SnowflakeSetup | None = None,
) -> Warehouse:
    """
    Open the warehouse the switch names (or ``backend``), behind the seam; close it (or use ``with``) when done.

    Call it when a task runs, never at parse time. DuckDB opens its file (read-only for readers; callers in
    Airflow run in the pool ``duckdb_writer``); Snowflake opens a connection through ``SnowflakeHook``.

    :param backend: ``duckdb`` or ``snowflake``; ``None`` follows :func:`warehouse_backend`.
    :param read_only: DuckDB: open the file read-only.
    :param duckdb_conn_id: Airflow connection of the DuckDB warehouse.
    :param snowflake_conn_id: Airflow connection to Snowflake.
    :param database: Snowflake database of the bronze schema; ``None`` uses the connection's database.
    :param landing: The landing bucket (DuckDB loads read files through it).
    :param snowflake_setup: Names Snowflake's setup SQL is rendered with (the stage URL, roles...).
    """
    chosen = warehouse_backend(backend)
    if chosen == "snowflake":
        from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

        from banking_cdc.warehouse.snowflake import SnowflakeWarehouse

        conn = SnowflakeHook(snowflake_conn_id=snowflake_conn_id).get_conn()
        schema = f"{database}.BRONZE" if database else "BRONZE"
        return SnowflakeWarehouse(conn, schema=schema, setup_names=snowflake_setup)
    from banking_cdc.warehouse.duckdb import DuckDBWarehouse

    return DuckDBWarehouse(duckdb_conn_id, read_only=read_only, landing=landing)


class WarehouseChoice:
    """
    A warehouse to read: the backend (``None``: the switch decides when it is opened) and both warehouses'
    Airflow connections. A cooperative base (it passes other keyword arguments on), so operators, sensors and
    plain readers share it.

    :param warehouse_backend: ``duckdb`` or ``snowflake``; ``None`` follows the warehouse switch at run time.
    :param duckdb_conn_id: Airflow connection of the DuckDB warehouse (``host`` = file path).
    :param snowflake_conn_id: Airflow connection of Snowflake.
    """

    def __init__(
        self,
        *,
        warehouse_backend: str | None = None,
        duckdb_conn_id: str = DUCKDB_CONN_ID,
        snowflake_conn_id: str = SNOWFLAKE_CONN_ID,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self.warehouse_backend = warehouse_backend
        self.duckdb_conn_id = duckdb_conn_id
        self.snowflake_conn_id = snowflake_conn_id

    def resolve_backend(self) -> WarehouseBackend:
        """The backend read: ``warehouse_backend`` if set, else the switch (call it at run time)."""
        return warehouse_backend(self.warehouse_backend)

    def open_warehouse(self, backend: str | None = None) -> Warehouse:
        """
        Open the warehouse read-only; close it (or use ``with``) when done.

        :param backend: The backend already resolved by :meth:`resolve_backend`; ``None`` resolves it.
        """
        return open_warehouse(
            backend or self.warehouse_backend, read_only=True,
            duckdb_conn_id=self.duckdb_conn_id, snowflake_conn_id=self.snowflake_conn_id,
        )  # fmt: skip
