"""Base of the operators that read the warehouse the switch names: reconciliation, monitoring, resync.

The backend and both warehouses' Airflow connections are constructor arguments of every reader, and the
warehouse is opened when the task runs (never at parse time), read-only: on DuckDB the task runs in the
one-slot pool ``duckdb_writer``, because DuckDB allows one process at a time.
"""

from __future__ import annotations

from airflow.sdk import BaseOperator

from banking_cdc.warehouse.switch import WarehouseChoice


class WarehouseReadOperator(WarehouseChoice, BaseOperator):
    """
    Base of the operators (and, mixed in after a sensor base, the sensors) that read the warehouse; the
    arguments ``warehouse_backend``, ``duckdb_conn_id`` and ``snowflake_conn_id`` are those of
    :class:`~banking_cdc.warehouse.switch.WarehouseChoice`, and so are :meth:`resolve_backend` and
    :meth:`open_warehouse`.
    """
