"""Base of the operators that read the warehouse the switch names: reconciliation, monitoring, resync.

The backend and both warehouses' Airflow connections are constructor arguments of every reader, and the
warehouse is opened when the task runs (never at parse time), read-only: on DuckDB the task runs in the
one-slot pool ``duckdb_writer``, because DuckDB allows one process at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from banking_cdc.settings import DUCKDB_CONN_ID, SNOWFLAKE_CONN_ID

if TYPE_CHECKING:
    from banking_cdc.warehouse.base import Warehouse
    from banking_cdc.warehouse.switch import WarehouseBackend


class WarehouseReadOperator(BaseOperator):
    """
    Base of the operators (and, mixed in after a sensor base, the sensors) that read the warehouse.

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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.warehouse_backend = warehouse_backend
        self.duckdb_conn_id = duckdb_conn_id
        self.snowflake_conn_id = snowflake_conn_id

    def resolve_backend(self) -> WarehouseBackend:
        """The backend this run reads: ``warehouse_backend`` if set, else the switch (call it at run time)."""
        from banking_cdc.warehouse.switch import warehouse_backend

        return warehouse_backend(self.warehouse_backend)

    def open_warehouse(self, backend: str | None = None) -> Warehouse:
        """
        Open the warehouse read-only; close it (or use ``with``) when done.

        :param backend: The backend already resolved by :meth:`resolve_backend`; ``None`` resolves it.
        """
        from banking_cdc.warehouse.switch import open_warehouse

        return open_warehouse(
            backend or self.warehouse_backend, read_only=True,
            duckdb_conn_id=self.duckdb_conn_id, snowflake_conn_id=self.snowflake_conn_id,
        )  # fmt: skip
